// Package shared holds what the interop host and plugin agree on: the handshake
// config and the go-plugin glue for the KV gRPC service.
package shared

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"plugsockinterop/kvpb"
)

// Handshake must match test/goplugin-interop.test.ts and test/fixtures.
var Handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "PLUGSOCK_INTEROP_COOKIE",
	MagicCookieValue: "kv-3b1f9e",
}

// KVPlugin serves (plugin side) or dispenses (host side) the KV service.
type KVPlugin struct {
	plugin.Plugin
	Impl kvpb.KVServer
}

func (p *KVPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	kvpb.RegisterKVServer(s, p.Impl)
	return nil
}

func (p *KVPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return kvpb.NewKVClient(c), nil
}
