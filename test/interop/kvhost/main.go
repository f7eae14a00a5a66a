// kv-host: a go-plugin (HashiCorp go-plugin, Debian's 1.0.1) host for the KV plugin.
//
//	kv-host [-mode ok|wrong-cookie|wrong-version] [-calls N] PLUGIN [ARGS...]
//
// ok:            start the plugin, Put/Get several keys, List (server streaming), Kill.
// wrong-cookie:  launch with a wrong magic cookie value: starting must fail.
// wrong-version: ask for app protocol version 99 only: starting must fail.
//
// Exit status 0 means the mode's expectation held; 1 means it did not (message on stderr).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"

	"plugsockinterop/kvpb"
	"plugsockinterop/shared"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "kv-host: FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	mode := flag.String("mode", "ok", "ok | wrong-cookie | wrong-version")
	calls := flag.Int("calls", 20, "number of Put/Get pairs in mode ok")
	flag.Parse()
	if flag.NArg() < 1 {
		fail("usage: kv-host [-mode M] PLUGIN [ARGS...]")
	}

	hs := shared.Handshake
	switch *mode {
	case "ok":
	case "wrong-cookie":
		hs.MagicCookieValue = "not-the-cookie"
	case "wrong-version":
		hs.ProtocolVersion = 99
	default:
		fail("unknown mode %q", *mode)
	}

	var pluginStderr bytes.Buffer
	logLevel := hclog.Warn
	if os.Getenv("KV_HOST_DEBUG") != "" {
		logLevel = hclog.Trace
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  hs,
		Plugins:          map[string]plugin.Plugin{"kv": &shared.KVPlugin{}},
		Cmd:              exec.Command(flag.Arg(0), flag.Args()[1:]...),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:     20 * time.Second,
		Stderr:           io.MultiWriter(&pluginStderr, os.Stderr),
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "kv-host", Level: logLevel, Output: os.Stderr}),
	})
	defer client.Kill()

	rpc, err := client.Client()
	if *mode != "ok" {
		if err == nil {
			client.Kill()
			fail("mode %s: the plugin started, expected a failure", *mode)
		}
		fmt.Printf("EXPECTED-FAILURE %s: %v\n", *mode, err)
		if *mode == "wrong-cookie" {
			// Give the stderr reader a moment, then check go-plugin's explanation.
			time.Sleep(200 * time.Millisecond)
			if !strings.Contains(pluginStderr.String(), "This binary is a plugin") {
				fail("plugin stderr lacks the magic-cookie explanation: %q", pluginStderr.String())
			}
		}
		if *mode == "wrong-version" && !strings.Contains(err.Error(), "Incompatible API version") {
			fail("unexpected error for wrong-version: %v", err)
		}
		return
	}
	if err != nil {
		fail("starting plugin: %v", err)
	}
	raw, err := rpc.Dispense("kv")
	if err != nil {
		fail("dispense: %v", err)
	}
	if err := rpc.Ping(); err != nil {
		fail("ping (health check): %v", err)
	}
	kv := raw.(kvpb.KVClient)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	for i := 0; i < *calls; i++ {
		key := fmt.Sprintf("k%03d", i)
		val := []byte(fmt.Sprintf("value-%d", i*i))
		if _, err := kv.Put(ctx, &kvpb.PutRequest{Key: key, Value: val}); err != nil {
			fail("put %s: %v", key, err)
		}
		got, err := kv.Get(ctx, &kvpb.GetRequest{Key: key})
		if err != nil {
			fail("get %s: %v", key, err)
		}
		if !got.Found || !bytes.Equal(got.Value, val) {
			fail("get %s: got %q found=%v, want %q", key, got.Value, got.Found, val)
		}
	}
	miss, err := kv.Get(ctx, &kvpb.GetRequest{Key: "missing"})
	if err != nil || miss.Found {
		fail("get missing: %v found=%v", err, miss != nil && miss.Found)
	}
	stream, err := kv.List(ctx, &kvpb.ListRequest{Prefix: "k0"})
	if err != nil {
		fail("list: %v", err)
	}
	n := 0
	prev := ""
	for {
		e, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			fail("list recv: %v", err)
		}
		if e.Key <= prev || !strings.HasPrefix(e.Key, "k0") {
			fail("list: key %q out of order or wrong prefix (prev %q)", e.Key, prev)
		}
		prev = e.Key
		n++
	}
	want := *calls
	if want > 100 {
		want = 100
	}
	if n != want {
		fail("list returned %d entries, want %d", n, want)
	}
	client.Kill()
	if !client.Exited() {
		fail("plugin process still running after Kill")
	}
	fmt.Printf("OK calls=%d streamed=%d\n", *calls, n)
}
