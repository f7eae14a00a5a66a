// Package shared holds what the modern (go-plugin v1.8, module mode) interop host and plugin
// agree on: the handshake config and the go-plugin glue for the KV and Adder services.
package shared

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"plugsockinterop/modern/brokerpb"
	"plugsockinterop/modern/kvpb"
)

// Handshake must match test/goplugin-*.test.ts and examples/kv-plugin.mjs.
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

// AdderPlugin: Adder.Add calls back into the host's Callback service through the broker.
type AdderPlugin struct {
	plugin.Plugin
	// Impl is built with the plugin's broker (plugin side).
	Impl func(b *plugin.GRPCBroker) brokerpb.AdderServer
}

func (p *AdderPlugin) GRPCServer(b *plugin.GRPCBroker, s *grpc.Server) error {
	brokerpb.RegisterAdderServer(s, p.Impl(b))
	return nil
}

// AdderClient is what the host dispenses: the client plus the broker to serve callbacks on.
type AdderClient struct {
	Adder  brokerpb.AdderClient
	Broker *plugin.GRPCBroker
}

func (p *AdderPlugin) GRPCClient(_ context.Context, b *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return &AdderClient{Adder: brokerpb.NewAdderClient(c), Broker: b}, nil
}
