#!/usr/bin/env bash
# Cross-compiles the linux-arm64 N-API prebuild: prebuilds/linux-arm64/plugsock.glibc.node (glibc
# only: the tag keeps node-gyp-build from loading it on musl).
# Needs Debian's g++-aarch64-linux-gnu (apt-get install -y g++-aarch64-linux-gnu) and the
# Node headers in /usr/include/node (node-gyp must never download them).
# Builds in a scratch copy of the sources, so the repo's own build/ (x64, which the tests
# load) is never touched. The result cannot be run on this x64 machine; test/compat-arm64.test.ts
# checks that it is an aarch64 ELF exporting napi_register_module_v1, built from these sources.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
triple=aarch64-linux-gnu
for tool in gcc g++ strip; do
  command -v "$triple-$tool" >/dev/null || { echo "prebuild-arm64.sh: $triple-$tool missing (apt-get install -y g++-$triple)" >&2; exit 1; }
done
nodedir=${npm_config_nodedir:-/usr}
[ -f "$nodedir/include/node/node_api.h" ] || { echo "prebuild-arm64.sh: no Node headers in $nodedir/include/node" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/plugsock-arm64-XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/scripts"
cp -r "$repo/package.json" "$repo/binding.gyp" "$repo/native" "$work/"
cp "$repo/scripts/source-hash.js" "$work/scripts/"
ln -s "$repo/node_modules" "$work/node_modules"

export npm_config_nodedir=$nodedir
export CC=$triple-gcc CXX=$triple-g++ LINK=$triple-g++ AR=$triple-ar
export CC_host=gcc CXX_host=g++
cd "$work"
"$repo/node_modules/.bin/prebuildify" --napi --strip --tag-libc --arch arm64 --strip-bin "$triple-strip"

out=$repo/prebuilds/linux-arm64
mkdir -p "$out"
built=$(ls "$work"/prebuilds/linux-arm64/*.node)
cp "$built" "$out/plugsock.glibc.node"
echo "prebuild-arm64.sh: wrote $out/plugsock.glibc.node ($(stat -c %s "$out/plugsock.glibc.node") bytes)" >&2
readelf -h "$out/plugsock.glibc.node" | grep -E 'Class|Machine' >&2
