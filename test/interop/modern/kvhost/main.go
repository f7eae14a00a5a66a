// kv-host (modern): a go-plugin v1.8 (module mode) host for the KV and Adder plugins.
//
//	kv-host [flags] PLUGIN [ARGS...]
//
//	-mode ok|wrong-cookie|wrong-version|expect-start-error
//	-calls N            Put/Get pairs, then a List stream (mode ok)
//	-automtls           ClientConfig.AutoMTLS (as Terraform sets it)
//	-multiplex          ClientConfig.GRPCBrokerMultiplex (PLUGIN_MULTIPLEX_GRPC)
//	-group G            UnixSocketConfig.Group (PLUGIN_UNIX_SOCKET_GROUP)
//	-broker             call Adder.Add with a brokered Callback service the plugin must dial
//	-expect-stdout S    wait until the plugin's GRPCStdio stdout (SyncStdout) contains S
//	-expect-stderr S    wait until the plugin's GRPCStdio stderr (SyncStderr) or its stderr pipe contains S
//	-bench N            after the checks, N unary Get calls; prints "BENCH startup_ms=.. calls_per_sec=.."
//
// Prints "SOCKET <path> mode=<octal> gid=<n>" once connected and "OK ..." at the end.
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
	"sync"
	"syscall"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"plugsockinterop/modern/brokerpb"
	"plugsockinterop/modern/kvpb"
	"plugsockinterop/modern/shared"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "kv-host: FAIL: "+format+"\n", args...)
	// go-plugin forwards the plugin's stderr lines from a goroutine: give the ones that explain
	// the failure a moment to be logged before os.Exit drops them.
	time.Sleep(300 * time.Millisecond)
	os.Exit(1)
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(what string, get func() string, want string) {
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(get(), want) {
		if time.Now().After(deadline) {
			fail("%s never contained %q; got %q", what, want, get())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type callback struct {
	brokerpb.UnimplementedCallbackServer
	got chan string
}

func (c *callback) Note(_ context.Context, r *brokerpb.NoteRequest) (*brokerpb.NoteResponse, error) {
	c.got <- r.Text
	return &brokerpb.NoteResponse{Reply: "host heard: " + r.Text}, nil
}

func main() {
	mode := flag.String("mode", "ok", "ok | wrong-cookie | wrong-version | expect-start-error")
	calls := flag.Int("calls", 20, "number of Put/Get pairs in mode ok")
	autoMTLS := flag.Bool("automtls", false, "AutoMTLS")
	multiplex := flag.Bool("multiplex", false, "GRPCBrokerMultiplex")
	group := flag.String("group", "", "UnixSocketConfig.Group")
	useBroker := flag.Bool("broker", false, "exercise the broker")
	expectStdout := flag.String("expect-stdout", "", "text the plugin's stdio stdout must contain")
	expectStderr := flag.String("expect-stderr", "", "text the plugin's stderr must contain")
	bench := flag.Int("bench", 0, "unary calls to time")
	flag.Parse()
	if flag.NArg() < 1 {
		fail("usage: kv-host [flags] PLUGIN [ARGS...]")
	}

	hs := shared.Handshake
	switch *mode {
	case "ok", "expect-start-error":
	case "wrong-cookie":
		hs.MagicCookieValue = "not-the-cookie"
	case "wrong-version":
		hs.ProtocolVersion = 99
	default:
		fail("unknown mode %q", *mode)
	}

	var pipeStderr, syncStdout, syncStderr syncBuf
	logLevel := hclog.Warn
	if os.Getenv("KV_HOST_DEBUG") != "" {
		logLevel = hclog.Trace
	}
	cfg := &plugin.ClientConfig{
		HandshakeConfig: hs,
		Plugins: map[string]plugin.Plugin{
			"kv":    &shared.KVPlugin{},
			"adder": &shared.AdderPlugin{},
		},
		Cmd:                 exec.Command(flag.Arg(0), flag.Args()[1:]...),
		AllowedProtocols:    []plugin.Protocol{plugin.ProtocolGRPC},
		StartTimeout:        20 * time.Second,
		Stderr:              io.MultiWriter(&pipeStderr, os.Stderr),
		SyncStdout:          &syncStdout,
		SyncStderr:          &syncStderr,
		AutoMTLS:            *autoMTLS,
		GRPCBrokerMultiplex: *multiplex,
		Logger:              hclog.New(&hclog.LoggerOptions{Name: "kv-host", Level: logLevel, Output: os.Stderr}),
	}
	if *group != "" {
		cfg.UnixSocketConfig = &plugin.UnixSocketConfig{Group: *group}
	}
	t0 := time.Now()
	client := plugin.NewClient(cfg)
	defer client.Kill()

	rpc, err := client.Client()
	if *mode != "ok" {
		if err == nil {
			client.Kill()
			fail("mode %s: the plugin started, expected a failure", *mode)
		}
		fmt.Printf("EXPECTED-FAILURE %s: %v\n", *mode, err)
		if *mode == "wrong-cookie" {
			time.Sleep(200 * time.Millisecond)
			if !strings.Contains(pipeStderr.String(), "This binary is a plugin") {
				fail("plugin stderr lacks the magic-cookie explanation: %q", pipeStderr.String())
			}
		}
		if *mode == "wrong-version" && !strings.Contains(strings.ToLower(err.Error()), "incompatible api version") {
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
	kv := raw.(kvpb.KVClient)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := kv.Get(ctx, &kvpb.GetRequest{Key: "first"}); err != nil {
		fail("first call: %v", err)
	}
	startup := time.Since(t0)
	if err := rpc.Ping(); err != nil {
		fail("ping (health check): %v", err)
	}
	if rc := client.ReattachConfig(); rc != nil && rc.Addr != nil && rc.Addr.Network() == "unix" {
		var st syscall.Stat_t
		if err := syscall.Stat(rc.Addr.String(), &st); err != nil {
			fail("stat socket: %v", err)
		}
		fmt.Printf("SOCKET %s mode=%o gid=%d tls=%v\n", rc.Addr.String(), st.Mode&0o777, st.Gid, *autoMTLS)
	}

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
	stream, err := kv.List(ctx, &kvpb.ListRequest{Prefix: "k0"})
	if err != nil {
		fail("list: %v", err)
	}
	n := 0
	for {
		_, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			fail("list recv: %v", err)
		}
		n++
	}
	if want := min(*calls, 100); n != want {
		fail("list returned %d entries, want %d", n, want)
	}

	brokered := ""
	if *useBroker {
		rawAdder, err := rpc.Dispense("adder")
		if err != nil {
			fail("dispense adder: %v", err)
		}
		ac := rawAdder.(*shared.AdderClient)
		cb := &callback{got: make(chan string, 1)}
		id := ac.Broker.NextId()
		go ac.Broker.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
			s := grpc.NewServer(opts...)
			brokerpb.RegisterCallbackServer(s, cb)
			return s
		})
		res, err := ac.Adder.Add(ctx, &brokerpb.AddRequest{A: 40, B: 2, BrokerId: id})
		if err != nil {
			fail("Adder.Add with broker id %d: %v", id, err)
		}
		select {
		case note := <-cb.got:
			brokered = note
		case <-time.After(5 * time.Second):
			fail("the plugin never called back through the broker")
		}
		if res.Sum != 42 || !strings.HasPrefix(res.CallbackSaid, "host heard: ") {
			fail("Adder.Add: sum=%d callback_said=%q", res.Sum, res.CallbackSaid)
		}
	}

	if *expectStdout != "" {
		waitFor("plugin stdout via GRPCStdio", syncStdout.String, *expectStdout)
	}
	if *expectStderr != "" {
		waitFor("plugin stderr (GRPCStdio or pipe)", func() string { return syncStderr.String() + pipeStderr.String() }, *expectStderr)
	}

	if *bench > 0 {
		t1 := time.Now()
		for i := 0; i < *bench; i++ {
			if _, err := kv.Get(ctx, &kvpb.GetRequest{Key: "k000"}); err != nil {
				fail("bench get: %v", err)
			}
		}
		el := time.Since(t1)
		fmt.Printf("BENCH startup_ms=%.3f calls_per_sec=%.1f\n", float64(startup.Microseconds())/1000, float64(*bench)/el.Seconds())
	}

	client.Kill()
	if !client.Exited() {
		fail("plugin process still running after Kill")
	}
	fmt.Printf("OK calls=%d streamed=%d brokered=%q stdout_bytes=%d stderr_bytes=%d\n", *calls, n, brokered, len(syncStdout.String()), len(syncStderr.String()))
	if os.Getenv("KV_HOST_SHOW_STDIO") != "" {
		fmt.Printf("STDIO-OUT %q\nSTDIO-ERR %q\n", syncStdout.String(), syncStderr.String())
	}
}
