#!/usr/bin/env bash
# Builds the go-plugin v1.8 interop peers (test/interop/modern/, module mode, dependencies from
# the Go module proxy as pinned by modern/go.mod + go.sum) into test/interop/.build/bin/:
# kv-plugin-v18 (Go plugin), kv-host-v18 (Go host) and tf-host-v18 (a Terraform-like host that
# times provider start-up, for bench/terraform.mjs).
#
# Needs: Go >= the version in modern/go.mod (the machine's /usr/local/go, or GO=...), protoc
# (Debian protobuf-compiler), and the Go module proxy (GOPROXY, default proxy.golang.org) the
# first time; the module cache ($GOMODCACHE) makes later builds offline.
# Idempotent: rebuilds only when a source file is newer than the binaries. Prints the kv
# binary paths on success, then the go-plugin module's directory (its internal/plugin/*.proto are
# what test/goplugin-proto compares plugsock's codecs with), then the tf-host binary.
set -euo pipefail
# Test files run in parallel and may build the same peers at once: one build at a time.
mkdir -p "$(dirname "${BASH_SOURCE[0]}")/.build"
exec 9>"$(dirname "${BASH_SOURCE[0]}")/.build/.lock-v18"
flock 9

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
examples="$(cd "$here/../../examples" && pwd)"
src="$here/modern"
out="$here/.build"
work="$out/modern-src"
bin="$out/bin"

GO="${GO:-}"
if [[ -z "$GO" ]]; then
  for c in "$(command -v go || true)" /usr/local/go/bin/go; do
    if [[ -n "$c" && -x "$c" ]]; then GO="$c"; break; fi
  done
fi
[[ -n "$GO" ]] || { echo "build-modern.sh: no Go toolchain" >&2; exit 2; }
need="$(sed -n 's/^go \([0-9.]*\)$/\1/p' "$src/go.mod")"
have="$("$GO" env GOVERSION | sed 's/^go//')"
if [[ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" != "$need" ]]; then
  echo "build-modern.sh: $GO is go$have; modern/go.mod needs go$need (set GO=/path/to/newer/go)" >&2
  exit 2
fi
command -v protoc >/dev/null || { echo "build-modern.sh: protoc missing (apt-get install protobuf-compiler)" >&2; exit 2; }

newest_src="$(find "$examples/kv.proto" "$examples/broker.proto" "$src" "$here/build-modern.sh" -type f -printf '%T@\n' | sort -n | tail -1)"
export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0
built() {
  echo "$bin/kv-plugin-v18"
  echo "$bin/kv-host-v18"
  (cd "$work" && "$GO" list -m -f '{{.Dir}}' github.com/hashicorp/go-plugin)
  echo "$bin/tf-host-v18"
}
if [[ -x "$bin/kv-plugin-v18" && -x "$bin/kv-host-v18" && -x "$bin/tf-host-v18" && -f "$work/go.mod" ]]; then
  oldest_bin="$(stat -c %Y "$bin/kv-plugin-v18" "$bin/kv-host-v18" "$bin/tf-host-v18" | sort -n | head -1)"
  if (( ${newest_src%.*} < oldest_bin )); then
    built
    exit 0
  fi
fi

export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"
export GOCACHE="${GOCACHE:-$out/gocache}"
mkdir -p "$bin" "$GOCACHE"
rm -rf "$work"
mkdir -p "$work/kvpb" "$work/brokerpb"
cp -r "$src/." "$work/"

cd "$work"
"$GO" build -o "$bin/protoc-gen-go-v2" google.golang.org/protobuf/cmd/protoc-gen-go
"$GO" build -o "$bin/protoc-gen-go-grpc" google.golang.org/grpc/cmd/protoc-gen-go-grpc
protoc --plugin=protoc-gen-go="$bin/protoc-gen-go-v2" --plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" \
  -I "$examples" \
  --go_out=paths=source_relative,Mkv.proto=plugsockinterop/modern/kvpb:"$work/kvpb" \
  --go-grpc_out=paths=source_relative,Mkv.proto=plugsockinterop/modern/kvpb:"$work/kvpb" \
  "$examples/kv.proto"
protoc --plugin=protoc-gen-go="$bin/protoc-gen-go-v2" --plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" \
  -I "$examples" \
  --go_out=paths=source_relative:"$work/brokerpb" --go-grpc_out=paths=source_relative:"$work/brokerpb" \
  "$examples/broker.proto"

"$GO" build -o "$bin/kv-plugin-v18.tmp" ./kvplugin
"$GO" build -o "$bin/kv-host-v18.tmp" ./kvhost
"$GO" build -o "$bin/tf-host-v18.tmp" ./tfhost
mv -f "$bin/tf-host-v18.tmp" "$bin/tf-host-v18"
mv -f "$bin/kv-plugin-v18.tmp" "$bin/kv-plugin-v18"
mv -f "$bin/kv-host-v18.tmp" "$bin/kv-host-v18"
built
