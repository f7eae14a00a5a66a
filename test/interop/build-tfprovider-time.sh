#!/usr/bin/env bash
# Builds the real terraform-provider-time (HashiCorp's, v0.14.2: terraform-plugin-framework,
# tfplugin5) from the Go module proxy into test/interop/.build/bin/terraform-provider-time, for
# test/interop/terraform-provider-time.test.ts to drive over plugsock's startPlugin.
#
# Needs: Go >= the version the provider's go.mod names (1.26.8; the machine's go, or GO=...), and
# the Go module proxy (GOPROXY, default proxy.golang.org) the first time; the module cache makes
# later builds offline. Idempotent: does nothing when the binary there is already v0.14.2.
# Prints the binary's path.
set -euo pipefail
# Test files run in parallel and may build at once: one build at a time.
mkdir -p "$(dirname "${BASH_SOURCE[0]}")/.build"
exec 9>"$(dirname "${BASH_SOURCE[0]}")/.build/.lock-tfprovider-time"
flock 9

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$here/.build"
bin="$out/bin"
module=github.com/hashicorp/terraform-provider-time
version=v0.14.2
exe="$bin/terraform-provider-time"

GO="${GO:-}"
if [[ -z "$GO" ]]; then
  for c in "$(command -v go || true)" /usr/local/go/bin/go; do
    if [[ -n "$c" && -x "$c" ]]; then GO="$c"; break; fi
  done
fi
[[ -n "$GO" ]] || { echo "build-tfprovider-time.sh: no Go toolchain" >&2; exit 2; }

# Already built at this version? (go version -m reads the module versions linked into a binary.)
if [[ -x "$exe" ]] && "$GO" version -m "$exe" 2>/dev/null | grep -Eq "^\s+mod\s+$module\s+$version\s"; then
  echo "$exe"
  exit 0
fi

export GOTOOLCHAIN=local GOFLAGS="-buildvcs=false" CGO_ENABLED=0
export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"
export GOCACHE="${GOCACHE:-$out/gocache}"
mkdir -p "$bin" "$GOCACHE"
# Into a directory of its own first, so a failed build never leaves a half-written binary at $exe.
tmp="$(mktemp -d "$out/.tfprovider-time.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
GOBIN="$tmp" "$GO" install "$module@$version"
mv -f "$tmp/terraform-provider-time" "$exe"
echo "$exe"
