package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// SIGKILL of mooring while an idempotent call runs (the built-in
// slow_count): after the restart the call is run again on the restored
// session, and the client, resuming its stream, gets the result instead of
// the interruption error.
func TestKill_IdempotentCallCompletes(t *testing.T) {
	args := storeArgs(t, "bolt")
	addr := freeAddr(t)
	p := start(t, addr, args...)
	pl := new(progressLog)
	cs := connect(t, p.url(), pl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	params := &mcp.CallToolParams{Name: "slow_count", Arguments: map[string]any{"count": 30, "interval_ms": 100}}
	params.SetProgressToken("p")
	type result struct {
		res *mcp.CallToolResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := cs.CallTool(ctx, params)
		done <- result{res, err}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for len(pl.snapshot()) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no progress from slow_count")
		}
		time.Sleep(10 * time.Millisecond)
	}
	p.kill()
	start(t, addr, args...)
	r := <-done
	if r.err != nil {
		t.Fatalf("the call cut off by the kill: %v, want its result (slow_count is idempotent)", r.err)
	}
	if r.res.IsError || len(r.res.Content) == 0 || !strings.Contains(r.res.Content[0].(*mcp.TextContent).Text, "counted to 30") {
		t.Fatalf("the call cut off by the kill answered %+v", r.res)
	}
}
