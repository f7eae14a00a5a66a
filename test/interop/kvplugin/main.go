// kv-plugin: a go-plugin (HashiCorp go-plugin, Debian's 1.0.1) gRPC plugin serving KV.
//
// KV_PLUGIN_MODE selects misbehaviour for negative tests:
//   ""         serve normally
//   "garbage"  print a non-handshake line on stdout, then wait
//   "exit"     print to stderr and exit 3 before any handshake
//   "hang"     print nothing and wait
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

	"plugsockinterop/kvpb"
	"plugsockinterop/shared"
)

type store struct {
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
	fmt.Fprintln(os.Stderr, "kv-plugin: starting")
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: hs,
		Plugins: map[string]plugin.Plugin{
			"kv": &shared.KVPlugin{Impl: &store{m: map[string][]byte{}}},
		},
		GRPCServer: plugin.DefaultGRPCServer,
	})
}
