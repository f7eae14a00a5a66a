"""A pyvider-rpcplugin plugin serving the KV service of plugsock's examples/kv.proto, for the
interop tests and bench (a Node host launches it with startPlugin).

The magic cookie comes from PLUGIN_MAGIC_COOKIE_KEY / PLUGIN_MAGIC_COOKIE_VALUE (pyvider's
configuration), defaulting here to the interop cookie. KV_PB_DIR names the generated kv_pb2.
"""
import asyncio
import os
import sys

os.environ.setdefault("PLUGIN_MAGIC_COOKIE_KEY", "PLUGSOCK_INTEROP_COOKIE")
os.environ.setdefault("PLUGIN_MAGIC_COOKIE_VALUE", "kv-3b1f9e")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("PROVIDE_LOG_LEVEL", "WARNING")

sys.path.insert(0, os.environ["KV_PB_DIR"])
import kv_pb2  # noqa: E402
import kv_pb2_grpc  # noqa: E402
from pyvider.rpcplugin import plugin_server  # noqa: E402
from pyvider.rpcplugin.protocol.base import RPCPluginProtocol  # noqa: E402


class KV(kv_pb2_grpc.KVServicer):
    def __init__(self) -> None:
        self.m: dict[str, bytes] = {}

    async def Get(self, request, context):
        v = self.m.get(request.key)
        return kv_pb2.GetResponse(value=v or b"", found=v is not None)

    async def Put(self, request, context):
        self.m[request.key] = bytes(request.value)
        return kv_pb2.PutResponse()

    async def List(self, request, context):
        for k in sorted(k for k in self.m if k.startswith(request.prefix)):
            yield kv_pb2.Entry(key=k, value=self.m[k])


class KVProtocol(RPCPluginProtocol):
    service_name = "kv.KV"
    supported_protocol_versions = [1]

    async def get_grpc_descriptors(self):
        return (kv_pb2.DESCRIPTOR, self.service_name)

    async def add_to_server(self, server, handler) -> None:
        kv_pb2_grpc.add_KVServicer_to_server(handler, server)

    def get_method_type(self, method_name: str) -> str:
        return "unary_stream" if method_name.endswith("List") else "unary_unary"


async def main() -> None:
    server = plugin_server(protocol=KVProtocol(), handler=KV())
    await server.serve()


if __name__ == "__main__":
    asyncio.run(main())
