// kv-plugin (modern): a go-plugin v1.8 (module mode) gRPC plugin serving KV and Adder.
//
// After the handshake, go-plugin replaces os.Stdout/os.Stderr with pipes carried to the host by
// plugin.GRPCStdio: every Put prints "kv-plugin(go): put KEY" on stdout and
// "kv-plugin(go): put-err KEY" on stderr, which a host sees as stdio data.
//
// KV_PLUGIN_MODE: "" serve | "garbage" | "exit" | "hang" (see the 1.0.1 plugin).
// KV_PLUGIN_VERSION overrides the app protocol version (default 1).
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-plugin"

	"plugsockinterop/modern/brokerpb"
	"plugsockinterop/modern/kvpb"
	"plugsockinterop/modern/shared"
)

type store struct {
	kvpb.UnimplementedKVServer
	mu sync.Mutex
	m  map[string][]byte
}

func (s *store) Get(_ context.Context, r *kvpb.GetRequest) (*kvpb.GetResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[r.Key]
	return &kvpb.GetResponse{Value: v, Found: ok}, nil
}

func (s *store) Put(_ context.Context, r *kvpb.PutRequest) (*kvpb.PutResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[r.Key] = append([]byte(nil), r.Value...)
	if os.Getenv("KV_PLUGIN_QUIET") == "" {
		fmt.Printf("kv-plugin(go): put %s\n", r.Key)
		fmt.Fprintf(os.Stderr, "kv-plugin(go): put-err %s\n", r.Key)
	}
	return &kvpb.PutResponse{}, nil
}

func (s *store) List(r *kvpb.ListRequest, stream kvpb.KV_ListServer) error {
	s.mu.Lock()
	var keys []string
	for k := range s.m {
		if strings.HasPrefix(k, r.Prefix) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	entries := make([]*kvpb.Entry, 0, len(keys))
	for _, k := range keys {
		entries = append(entries, &kvpb.Entry{Key: k, Value: s.m[k]})
	}
	s.mu.Unlock()
	for _, e := range entries {
		if err := stream.Send(e); err != nil {
			return err
		}
	}
	return nil
}

type adder struct {
	brokerpb.UnimplementedAdderServer
	broker *plugin.GRPCBroker
}

func (a *adder) Add(ctx context.Context, r *brokerpb.AddRequest) (*brokerpb.AddResponse, error) {
	said := ""
	if r.BrokerId != 0 {
		conn, err := a.broker.Dial(r.BrokerId)
		if err != nil {
			return nil, fmt.Errorf("broker dial %d: %w", r.BrokerId, err)
		}
		defer conn.Close()
		rep, err := brokerpb.NewCallbackClient(conn).Note(ctx, &brokerpb.NoteRequest{Text: fmt.Sprintf("go plugin adds %d+%d", r.A, r.B)})
		if err != nil {
			return nil, fmt.Errorf("callback: %w", err)
		}
		said = rep.Reply
	}
	return &brokerpb.AddResponse{Sum: r.A + r.B, CallbackSaid: said}, nil
}

func main() {
	switch os.Getenv("KV_PLUGIN_MODE") {
	case "garbage":
		fmt.Println("hello from a plugin that does not speak go-plugin")
		time.Sleep(time.Hour)
	case "exit":
		fmt.Fprintln(os.Stderr, "kv-plugin: cannot open the database: disk on fire")
		os.Exit(3)
	case "hang":
		time.Sleep(time.Hour)
	}
	hs := shared.Handshake
	if v := os.Getenv("KV_PLUGIN_VERSION"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bad KV_PLUGIN_VERSION:", err)
			os.Exit(2)
		}
		hs.ProtocolVersion = uint(n)
	}
	fmt.Fprintln(os.Stderr, "kv-plugin(go v1.8): starting")
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: hs,
		Plugins: map[string]plugin.Plugin{
			"kv":    &shared.KVPlugin{Impl: &store{m: map[string][]byte{}}},
			"adder": &shared.AdderPlugin{Impl: func(b *plugin.GRPCBroker) brokerpb.AdderServer { return &adder{broker: b} }},
		},
		GRPCServer: plugin.DefaultGRPCServer,
	})
}
