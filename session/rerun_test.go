package session_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store/memstore"
)

// withIdempotent adds "block_idem" to r: "block", annotated idempotent.
func withIdempotent(r *recorder) *recorder {
	mcp.AddTool(r.srv, &mcp.Tool{Name: "block_idem", Description: "waits until released", Annotations: &mcp.ToolAnnotations{IdempotentHint: true}},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			r.started <- struct{}{}
			select {
			case <-r.release:
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
		})
	return r
}

// A call that a crash cut off is sent again to the restored session's new
// backend when it is safe to repeat: its tool is annotated idempotent, or
// the configuration lists it. The client that resumes the call's stream
// gets its result, not the interruption error.
func TestRestore_RerunsSafeCalls(t *testing.T) {
	for _, tc := range []struct {
		name, tool string
		retryable  []string
	}{
		{"annotated idempotent", "block_idem", nil},
		{"configured retryable", "block", []string{"bl*"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := memstore.New(nil)
			rec1 := withIdempotent(newRecorder())
			opts := &session.Options{RetryableTools: tc.retryable}
			m1 := session.New(st, rec1.opener, opts)
			s := open(t, m1)
			priming := runningCall(t, s, rec1, 9, tc.tool)
			id := s.ID()
			m1.Close() // the process dies with the call running

			rec2 := withIdempotent(newRecorder())
			close(rec2.release) // the new backend answers at once
			m2 := session.New(st, rec2.opener, opts)
			defer m2.Close()
			s2, err := m2.Get(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			replay, live, err := s2.Resume(context.Background(), priming)
			if err != nil {
				t.Fatal(err)
			}
			var resp *jsonrpc.Response
			for _, ev := range replay {
				if msg, err := jsonrpc.DecodeMessage(ev.Data); err == nil {
					resp, _ = msg.(*jsonrpc.Response)
				}
			}
			if resp == nil && live != nil {
				resp = wait(t, live)
			}
			if resp == nil {
				t.Fatal("no response on the resumed stream")
			}
			if resp.Error != nil || resp.ID.Raw() != int64(9) {
				t.Fatalf("resumed stream answered %v (id %v), want the result of the call run again", resp.Error, resp.ID.Raw())
			}
			select {
			case <-rec2.started:
			default:
				t.Error("the new backend never ran the call")
			}
		})
	}
}

// A manager that has seen no tools/list (clients call without listing)
// asks a live session's backend whether a tool is idempotent before it
// tells a replica that forwards a lost call whether to send it again.
func TestManager_SafeToRepeatAsksTheBackend(t *testing.T) {
	m := session.New(memstore.New(nil), withIdempotent(newRecorder()).opener, nil)
	defer m.Close()
	ctx := context.Background()
	open(t, m)
	if !m.SafeToRepeat(ctx, request(t, 2, "tools/call", `{"name":"block_idem"}`)) {
		t.Error("an idempotent tool, never listed by a client, is not safe to repeat")
	}
	if m.SafeToRepeat(ctx, request(t, 3, "tools/call", `{"name":"block"}`)) {
		t.Error("a tool not annotated idempotent is safe to repeat")
	}
	// Known from then on, without asking again.
	if !m.SafeToRepeat(ctx, request(t, 4, "tools/call", `{"name":"block_idem","arguments":{}}`)) {
		t.Error("an idempotent tool, once learnt, is not safe to repeat")
	}
}

// A replica with no session live (just restarted, only forwarding) still
// learns which tools are idempotent, from a backend connection of its own:
// a call of an idempotent tool lost with its owner is sent again, not
// answered as interrupted (TestChaos_KillOwners met this).
func TestManager_SafeToRepeatProbesWithoutALiveSession(t *testing.T) {
	m := session.New(memstore.New(nil), withIdempotent(newRecorder()).opener, nil)
	defer m.Close()
	ctx := context.Background()
	if !m.SafeToRepeat(ctx, request(t, 1, "tools/call", `{"name":"block_idem"}`)) {
		t.Error("an idempotent tool is not safe to repeat on a manager with no session live")
	}
	if m.SafeToRepeat(ctx, request(t, 2, "tools/call", `{"name":"block"}`)) {
		t.Error("a tool not annotated idempotent is safe to repeat")
	}
}

// slowOpener counts the backend connections opened, each of which takes a
// while (a stdio server's process starting).
type slowOpener struct {
	backend.Opener
	opened atomic.Int32
}

func (o *slowOpener) Open(ctx context.Context, id string, h backend.Handler) (backend.Conn, error) {
	o.opened.Add(1)
	time.Sleep(300 * time.Millisecond)
	return o.Opener.Open(ctx, id, h)
}

// Calls lost together (an owner died with many of them in flight) ask
// the backend about its tools once, not once each: a replica with no
// session live opens one probe connection, and the other calls wait for
// what it learns.
func TestManager_SafeToRepeatProbesOnceForConcurrentCalls(t *testing.T) {
	o := &slowOpener{Opener: withIdempotent(newRecorder()).opener}
	m := session.New(memstore.New(nil), o, nil)
	defer m.Close()
	const calls = 8
	var wg sync.WaitGroup
	var safe atomic.Int32
	for i := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if m.SafeToRepeat(context.Background(), request(t, int64(i), "tools/call", `{"name":"block_idem"}`)) {
				safe.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := safe.Load(); n != calls {
		t.Errorf("%d of %d calls of an idempotent tool safe to repeat", n, calls)
	}
	if n := o.opened.Load(); n != 1 {
		t.Errorf("%d backend connections opened to learn the tools, want 1", n)
	}
}
