package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// SIGTERM lets a call in flight finish: its client gets the result, not a
// stream cut off with a retry hint towards a server that is gone; new
// connections are refused from the start of the drain.
func TestServe_DrainLetsCallsFinish(t *testing.T) {
	s := startServer(t, "--store", "bolt", "--data-dir", t.TempDir(), "--drain-grace", "30s")
	progress := make(chan float64, 16)
	c := mcp.NewClient(&mcp.Implementation{Name: "drain-test", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			progress <- req.Params.Progress
		},
	})
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: s.url() + "/mcp"}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()

	type outcome struct {
		res *mcp.CallToolResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		p := &mcp.CallToolParams{Name: "slow_count", Arguments: map[string]any{"count": 4, "interval_ms": 250}}
		p.SetProgressToken("drain")
		res, err := cs.CallTool(ctx, p)
		done <- outcome{res, err}
	}()
	select {
	case <-progress: // the call runs
	case <-time.After(20 * time.Second):
		t.Fatal("no progress from the call")
	}
	stopped := make(chan struct{})
	go func() { s.stop(t); close(stopped) }()

	// The listener closes at once.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the draining server still accepts connections")
		}
		time.Sleep(10 * time.Millisecond)
	}
	o := <-done
	<-stopped
	if o.err != nil || o.res.IsError || !strings.Contains(o.res.Content[0].(*mcp.TextContent).Text, "counted to 4") {
		t.Fatalf("the call in flight at SIGTERM: %v %+v; want its result", o.err, o.res)
	}
}
