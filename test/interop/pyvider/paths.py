"""Side-by-side probe of pyvider-rpcplugin's Unix endpoint handling (used by
test/pyvider-paths.test.ts). Reads a JSON request on stdin, prints one JSON line.

  {"normalize": ["unix:/tmp/a", ...]}          -> {"normalize": [{"out": "/tmp/a"} | {"error": "..."}]}
  {"scenario": NAME, "dir": "/abs/dir"}        -> {"outcome": ..., "after": ...}

Scenarios (the Node side runs the same ones with plugsock's UnixSocketTransport):
  fresh         listen on a new path
  regular-file  a regular file is at the path
  stale         a socket file nobody listens on is at the path
  live          another server listens on the path
  missing-dir   the path's directory does not exist
  close-replaced  after listen, another server replaces the socket; then close()
  mode          the socket file's mode after listen (umask 022)
  connect-missing connect to a path that does not exist (time taken)
"""
import asyncio
import json
import os
import socket
import sys
import time

os.environ.setdefault("LOG_LEVEL", "CRITICAL")
os.environ.setdefault("PROVIDE_LOG_LEVEL", "CRITICAL")
from pyvider.rpcplugin.transport import UnixSocketTransport  # noqa: E402
from pyvider.rpcplugin.transport.unix import normalize_unix_path  # noqa: E402


def state(path: str) -> str:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "absent"
    import stat as s

    if s.S_ISSOCK(st.st_mode):
        return "socket"
    if s.S_ISREG(st.st_mode):
        return "file"
    return "other"


def other_server(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(8)
    return s


async def scenario(name: str, d: str) -> dict:
    os.umask(0o022)
    path = os.path.join(d, "p.sock")
    t = UnixSocketTransport(path=path)
    keep = []
    if name == "regular-file":
        open(path, "w").write("precious")
    elif name == "stale":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.close()
    elif name == "live":
        keep.append(other_server(path))
    elif name == "missing-dir":
        path = os.path.join(d, "sub", "dir", "p.sock")
        t = UnixSocketTransport(path=path)
    if name == "connect-missing":
        t0 = time.monotonic()
        try:
            await t.connect(path)
            return {"outcome": "ok"}
        except Exception as e:  # noqa: BLE001
            return {"outcome": "error", "seconds": round(time.monotonic() - t0, 1), "error": type(e).__name__}
    try:
        await t.listen()
    except Exception as e:  # noqa: BLE001
        return {"outcome": "error", "error": f"{type(e).__name__}: {e}"[:200], "after": state(path)}
    result = {"outcome": "ok", "after": state(path)}
    if name == "mode":
        result["mode"] = oct(os.stat(path).st_mode & 0o777)
    if name == "close-replaced":
        os.unlink(path)
        keep.append(other_server(path))
        await t.close()
        result["after_close"] = state(path)
        return result
    await t.close()
    for k in keep:
        k.close()
    return result


def main() -> None:
    req = json.loads(sys.stdin.read())
    if "normalize" in req:
        out = []
        for p in req["normalize"]:
            try:
                out.append({"out": normalize_unix_path(p)})
            except Exception as e:  # noqa: BLE001
                out.append({"error": type(e).__name__})
        print(json.dumps({"normalize": out}))
    else:
        print(json.dumps(asyncio.run(scenario(req["scenario"], req["dir"]))))


if __name__ == "__main__":
    main()
