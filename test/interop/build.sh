#!/usr/bin/env bash
# Builds the go-plugin interop peers (HashiCorp go-plugin from Debian's packages, GOPATH mode,
# offline) into test/interop/.build/bin/: kv-plugin (Go plugin) and kv-host (Go host).
#
# Needs: golang-go golang-github-hashicorp-go-plugin-dev golang-google-grpc-dev
#        golang-goprotobuf-dev protobuf-compiler
# Idempotent: rebuilds only when a source file is newer than the binaries. Prints the two
# binary paths on success. GO=/path/to/go overrides the Go toolchain (default: Debian's).
set -euo pipefail
# Test files run in parallel and may build the same peers at once: one build at a time.
mkdir -p "$(dirname "${BASH_SOURCE[0]}")/.build"
exec 9>"$(dirname "${BASH_SOURCE[0]}")/.build/.lock-v101"
flock 9

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
examples="$(cd "$here/../../examples" && pwd)"
out="$here/.build"
gopath="$out/gopath"
pkg="$gopath/src/plugsockinterop"
bin="$out/bin"

GO="${GO:-}"
if [[ -z "$GO" ]]; then
  for c in /usr/lib/go/bin/go "$(command -v go || true)"; do
    if [[ -n "$c" && -x "$c" ]]; then GO="$c"; break; fi
  done
fi
[[ -n "$GO" ]] || { echo "build.sh: no Go toolchain (apt-get install golang-go)" >&2; exit 2; }
command -v protoc >/dev/null || { echo "build.sh: protoc missing (apt-get install protobuf-compiler)" >&2; exit 2; }
for d in github.com/hashicorp/go-plugin google.golang.org/grpc github.com/golang/protobuf/protoc-gen-go; do
  [[ -d /usr/share/gocode/src/$d ]] || { echo "build.sh: /usr/share/gocode/src/$d missing (Debian golang-*-dev packages)" >&2; exit 2; }
done

# Up to date?
newest_src="$(find "$examples/kv.proto" "$here/shared" "$here/kvplugin" "$here/kvhost" "$here/build.sh" -type f -printf '%T@\n' | sort -n | tail -1)"
if [[ -x "$bin/kv-plugin" && -x "$bin/kv-host" ]]; then
  oldest_bin="$(stat -c %Y "$bin/kv-plugin" "$bin/kv-host" | sort -n | head -1)"
  if (( ${newest_src%.*} < oldest_bin )); then
    echo "$bin/kv-plugin"; echo "$bin/kv-host"; exit 0
  fi
fi

export GO111MODULE=off GOPATH="$gopath:/usr/share/gocode" GOFLAGS= CGO_ENABLED=0
export GOCACHE="$out/gocache"
mkdir -p "$pkg" "$bin" "$GOCACHE"
rm -rf "$pkg"/{kvpb,shared,kvplugin,kvhost}
mkdir -p "$pkg/kvpb"
cp -r "$here/shared" "$here/kvplugin" "$here/kvhost" "$pkg/"

# protoc-gen-go from Debian's golang-goprotobuf-dev sources (the package ships no binary).
if [[ ! -x "$bin/protoc-gen-go" ]]; then
  "$GO" build -o "$bin/protoc-gen-go" github.com/golang/protobuf/protoc-gen-go
fi
protoc --plugin=protoc-gen-go="$bin/protoc-gen-go" -I "$examples" \
  --go_out=plugins=grpc,paths=source_relative:"$pkg/kvpb" "$examples/kv.proto"

"$GO" build -o "$bin/kv-plugin.tmp" plugsockinterop/kvplugin
"$GO" build -o "$bin/kv-host.tmp" plugsockinterop/kvhost
mv -f "$bin/kv-plugin.tmp" "$bin/kv-plugin"
mv -f "$bin/kv-host.tmp" "$bin/kv-host"
echo "$bin/kv-plugin"
echo "$bin/kv-host"
