#!/usr/bin/env bash
# Installs pyvider-rpcplugin (PyPI) into a venv at test/interop/.build/pyvenv and generates the
# Python KV stubs (test/interop/.build/pypb). Idempotent: reinstalls only when
# pyvider/requirements.txt or this script changed. Prints the venv's python and the stub dir.
#
# Needs: python3 (>= 3.11) with venv, and PyPI (pip's default index) the first time.
set -euo pipefail
# Test files run in parallel and may build the same peers at once: one build at a time.
mkdir -p "$(dirname "${BASH_SOURCE[0]}")/.build"
exec 9>"$(dirname "${BASH_SOURCE[0]}")/.build/.lock-pyvider"
flock 9
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
examples="$(cd "$here/../../examples" && pwd)"
out="$here/.build"
venv="$out/pyvenv"
pb="$out/pypb"
stamp="$venv/.plugsock-stamp"
PYTHON="${PYTHON:-python3}"
command -v "$PYTHON" >/dev/null || { echo "build-pyvider.sh: $PYTHON not found" >&2; exit 2; }

want="$(cat "$here/pyvider/requirements.txt" "$here/build-pyvider.sh" | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
  rm -rf "$venv"
  "$PYTHON" -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/pyvider/requirements.txt" >&2
  echo "$want" > "$stamp"
fi
if [[ ! -f "$pb/kv_pb2_grpc.py" || "$examples/kv.proto" -nt "$pb/kv_pb2_grpc.py" ]]; then
  mkdir -p "$pb"
  "$venv/bin/python" -m grpc_tools.protoc -I "$examples" --python_out="$pb" --grpc_python_out="$pb" "$examples/kv.proto"
fi
echo "$venv/bin/python"
echo "$pb"
