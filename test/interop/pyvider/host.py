"""A pyvider-rpcplugin host: launches a go-plugin compatible plugin (e.g. plugsock's
examples/kv-plugin.mjs) and calls its KV service.

    host.py [--calls N] [--bench N] PLUGIN [ARGS...]

Environment (read by pyvider): PLUGIN_MAGIC_COOKIE_KEY / PLUGIN_MAGIC_COOKIE_VALUE (set below to
the interop cookie unless given), PLUGIN_AUTO_MTLS (pyvider's default: true).
Prints "OK calls=N" (and "BENCH startup_ms=.. calls_per_sec=.."); exit 1 with "FAIL: ..." otherwise.
"""
import asyncio
import os
import sys
import time

os.environ.setdefault("PLUGIN_MAGIC_COOKIE_KEY", "PLUGSOCK_INTEROP_COOKIE")
os.environ.setdefault("PLUGIN_MAGIC_COOKIE_VALUE", "kv-3b1f9e")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("PROVIDE_LOG_LEVEL", "WARNING")

sys.path.insert(0, os.environ["KV_PB_DIR"])  # generated kv_pb2 / kv_pb2_grpc
import kv_pb2  # noqa: E402
import kv_pb2_grpc  # noqa: E402
from pyvider.rpcplugin import plugin_client  # noqa: E402


async def main() -> int:
    args = sys.argv[1:]
    calls, bench = 20, 0
    while args and args[0].startswith("--"):
        flag, value = args[0], int(args[1])
        args = args[2:]
        if flag == "--calls":
            calls = value
        elif flag == "--bench":
            bench = value
    t0 = time.perf_counter()
    client = plugin_client(command=args)
    try:
        await client.start()
        stub = kv_pb2_grpc.KVStub(client.grpc_channel)
        await stub.Get(kv_pb2.GetRequest(key="first"))
        startup = time.perf_counter() - t0
        for i in range(calls):
            key = f"k{i:03d}"
            await stub.Put(kv_pb2.PutRequest(key=key, value=f"v{i}".encode()))
            got = await stub.Get(kv_pb2.GetRequest(key=key))
            if not got.found or got.value != f"v{i}".encode():
                print(f"FAIL: get {key}: {got}", file=sys.stderr)
                return 1
        n = 0
        async for entry in stub.List(kv_pb2.ListRequest(prefix="k0")):
            n += 1
        if n != min(calls, 100):
            print(f"FAIL: list returned {n}", file=sys.stderr)
            return 1
        if bench:
            t1 = time.perf_counter()
            for _ in range(bench):
                await stub.Get(kv_pb2.GetRequest(key="k000"))
            el = time.perf_counter() - t1
            print(f"BENCH startup_ms={startup * 1000:.3f} calls_per_sec={bench / el:.1f}")
        print(f"OK calls={calls} streamed={n} tls={client._server_cert is not None}")
        return 0
    finally:
        try:
            await client.shutdown_plugin()
        except Exception as e:  # noqa: BLE001
            print(f"shutdown: {e}", file=sys.stderr)
        await client.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
