#!/usr/bin/env bash
# Builds cty-interop (test/interop/cty/: go-cty's own msgpack and JSON codecs, the version
# cty/go.mod + go.sum pin) into test/interop/.build/bin/, for test/terraform-values.test.ts to
# compare plugsock's cty codec with byte for byte.
#
# Needs: Go >= the version in cty/go.mod (the machine's go, or GO=...), and the Go module proxy
# (GOPROXY, default proxy.golang.org) the first time; the module cache makes later builds offline.
# Idempotent: rebuilds only when a source file is newer than the binary. Prints the binary's path.
set -euo pipefail
# Test files run in parallel and may build at once: one build at a time.
mkdir -p "$(dirname "${BASH_SOURCE[0]}")/.build"
exec 9>"$(dirname "${BASH_SOURCE[0]}")/.build/.lock-cty"
flock 9

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/cty"
out="$here/.build"
bin="$out/bin"
exe="$bin/cty-interop"

GO="${GO:-}"
if [[ -z "$GO" ]]; then
  for c in "$(command -v go || true)" /usr/local/go/bin/go; do
    if [[ -n "$c" && -x "$c" ]]; then GO="$c"; break; fi
  done
fi
[[ -n "$GO" ]] || { echo "build-cty.sh: no Go toolchain" >&2; exit 2; }
need="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$src/go.mod")"
have="$("$GO" env GOVERSION | sed 's/^go//')"
if [[ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" != "$need" ]]; then
  echo "build-cty.sh: $GO is go$have; cty/go.mod needs go$need (set GO=/path/to/newer/go)" >&2
  exit 2
fi

newest_src="$(find "$src" "$here/build-cty.sh" -type f -printf '%T@\n' | sort -n | tail -1)"
if [[ -x "$exe" ]] && (( ${newest_src%.*} < $(stat -c %Y "$exe") )); then
  echo "$exe"
  exit 0
fi

export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0
export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"
export GOCACHE="${GOCACHE:-$out/gocache}"
mkdir -p "$bin" "$GOCACHE"
cd "$src"
"$GO" build -o "$exe.tmp" .
mv -f "$exe.tmp" "$exe"
echo "$exe"
