// tf-host: launches a Terraform provider as Terraform 1.x does (go-plugin v1.8 client,
// Terraform's magic cookie, protocol versions 5 and 6 offered, AutoMTLS) and times its start-up:
// from just before the launch to the first answered GetProviderSchema (GetSchema on protocol 5).
// Beside each launch it times a bare `node -e` from spawn to its first output byte, so the two
// lists are paired repetition by repetition.
//
//	tf-host [-reps N] [-node PATH] [-no-bare] PROVIDER [ARGS...]
//
// Prints one JSON line: {"protocol":6,"schemaBytes":N,"provider":[ms...],"bare":[ms...]}.
// Messages travel as raw bytes (the request is empty): no tfplugin stubs are compiled in.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
)

// rawCodec passes *[]byte through untouched.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}
func (rawCodec) Name() string { return "raw" }

var _ encoding.Codec = rawCodec{}

// provider is the go-plugin side of Terraform's "provider" plugin: the client is the connection.
type provider struct{ plugin.Plugin }

func (provider) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }
func (provider) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return c, nil
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tf-host: FAIL: "+format+"\n", args...)
	os.Exit(1)
}

func launch(cmd []string) (ms float64, protocol int, schemaBytes int) {
	t0 := time.Now()
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			MagicCookieKey:   "TF_PLUGIN_MAGIC_COOKIE",
			MagicCookieValue: "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
		},
		VersionedPlugins: map[int]plugin.PluginSet{5: {"provider": provider{}}, 6: {"provider": provider{}}},
		Cmd:              exec.Command(cmd[0], cmd[1:]...),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		Managed:          false,
		Logger:           hclog.New(&hclog.LoggerOptions{Level: hclog.Error, Output: os.Stderr}),
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		fail("start: %v", err)
	}
	raw, err := rpc.Dispense("provider")
	if err != nil {
		fail("dispense: %v", err)
	}
	conn := raw.(*grpc.ClientConn)
	protocol = client.NegotiatedVersion()
	method := "/tfplugin6.Provider/GetProviderSchema"
	if protocol == 5 {
		method = "/tfplugin5.Provider/GetSchema"
	}
	req, resp := []byte{}, []byte{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := conn.Invoke(ctx, method, &req, &resp, grpc.ForceCodec(rawCodec{})); err != nil {
		fail("%s: %v", method, err)
	}
	ms = float64(time.Since(t0).Microseconds()) / 1000
	return ms, protocol, len(resp)
}

func bare(node string) float64 {
	t0 := time.Now()
	c := exec.Command(node, "-e", "process.stdout.write('x')")
	out, err := c.StdoutPipe()
	if err != nil {
		fail("node -e: %v", err)
	}
	if err := c.Start(); err != nil {
		fail("node -e: %v", err)
	}
	b := make([]byte, 1)
	if _, err := io.ReadFull(out, b); err != nil {
		fail("node -e: %v", err)
	}
	ms := float64(time.Since(t0).Microseconds()) / 1000
	_ = c.Wait()
	return ms
}

func main() {
	reps := flag.Int("reps", 5, "repetitions")
	node := flag.String("node", "node", "node binary for the bare node -e")
	noBare := flag.Bool("no-bare", false, "skip the bare node -e")
	flag.Parse()
	if flag.NArg() < 1 {
		fail("usage: tf-host [-reps N] PROVIDER [ARGS...]")
	}
	res := struct {
		Protocol    int       `json:"protocol"`
		SchemaBytes int       `json:"schemaBytes"`
		Provider    []float64 `json:"provider"`
		Bare        []float64 `json:"bare"`
	}{Provider: []float64{}, Bare: []float64{}}
	for i := 0; i < *reps; i++ {
		// Alternate which goes first, so neither always runs right after the other's exit.
		if !*noBare && i%2 == 1 {
			res.Bare = append(res.Bare, bare(*node))
		}
		ms, p, n := launch(flag.Args())
		res.Provider, res.Protocol, res.SchemaBytes = append(res.Provider, ms), p, n
		if !*noBare && i%2 == 0 {
			res.Bare = append(res.Bare, bare(*node))
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(res); err != nil {
		fail("%v", err)
	}
}
