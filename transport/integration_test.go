package transport_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/transport"
)

// testServer is a small go-sdk server with the behaviours the transport must
// carry: plain results, progress and logging during a call, sampling.
func testServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "test", Version: "1"}, nil)
	type echoArgs struct {
		Text string `json:"text"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "echoes text"}, func(ctx context.Context, req *mcp.CallToolRequest, a echoArgs) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
	})
	type countArgs struct {
		N       int `json:"n"`
		DelayMS int `json:"delay_ms,omitempty"`
	}
	mcp.AddTool(s, &mcp.Tool{Name: "count", Description: "progress n times"}, func(ctx context.Context, req *mcp.CallToolRequest, a countArgs) (*mcp.CallToolResult, any, error) {
		for i := 1; i <= a.N; i++ {
			time.Sleep(time.Duration(a.DelayMS) * time.Millisecond)
			if tok := req.Params.GetProgressToken(); tok != nil {
				if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: float64(i), Total: float64(a.N)}); err != nil {
					return nil, nil, err
				}
			}
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprint(a.N)}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "ask", Description: "samples the client"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 10, Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "hi"}}}})
		if err != nil {
			return nil, nil, err
		}
		return &mcp.CallToolResult{Content: []mcp.Content{res.Content}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "headers", Description: "tells the request's headers"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		h := req.Extra.Header
		text := "X-Tenant=" + h.Get("X-Tenant") + " Mooring-Stream=" + h.Get("Mooring-Stream")
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, nil, nil
	})
	return s
}

type env struct {
	url string
	mgr *session.Manager
}

func newEnv(t *testing.T, opts *transport.Options) *env {
	t.Helper()
	return newEnvWith(t, opts, nil)
}

// newEnvWith is newEnv whose session manager has the options sopts.
func newEnvWith(t *testing.T, opts *transport.Options, sopts *session.Options) *env {
	t.Helper()
	st := memstore.New(nil)
	mgr := session.New(st, backend.NewInProcess(testServer()), sopts)
	srv := httptest.NewServer(transport.New(mgr, opts))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		mgr.Close()
		st.Close()
	})
	return &env{url: srv.URL, mgr: mgr}
}

func connect(t *testing.T, url string, copts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, copts)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func text(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	if res.IsError {
		t.Fatalf("tool error: %v", res.Content)
	}
	if len(res.Content) != 1 {
		t.Fatalf("content: got %d items, want 1", len(res.Content))
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("content: got %T, want text", res.Content[0])
	}
	return tc.Text
}

func TestGoSDKClient_ToolCall(t *testing.T) {
	for _, mode := range []transport.ResponseMode{transport.SSE, transport.JSON} {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t, &transport.Options{Mode: mode})
			cs := connect(t, e.url, nil)
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "hello"}})
			if err != nil {
				t.Fatal(err)
			}
			if got := text(t, res); got != "hello" {
				t.Errorf("echo: got %q, want hello", got)
			}
			if cs.InitializeResult().ProtocolVersion == "" {
				t.Error("no negotiated protocol version")
			}
		})
	}
}

func TestGoSDKClient_Progress(t *testing.T) {
	e := newEnv(t, nil)
	var mu sync.Mutex
	var got []float64
	cs := connect(t, e.url, &mcp.ClientOptions{ProgressNotificationHandler: func(ctx context.Context, req *mcp.ProgressNotificationClientRequest) {
		mu.Lock()
		got = append(got, req.Params.Progress)
		mu.Unlock()
	}})
	params := &mcp.CallToolParams{Name: "count", Arguments: map[string]any{"n": 5}}
	params.SetProgressToken("tok-1")
	res, err := cs.CallTool(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	text(t, res)
	// The client hands notifications to its handler asynchronously.
	waitFor(t, &mu, func() bool { return len(got) >= 5 })
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got) != "[1 2 3 4 5]" {
		t.Errorf("progress: got %v, want [1 2 3 4 5]", got)
	}
}

func TestGoSDKClient_Sampling(t *testing.T) {
	e := newEnv(t, nil)
	cs := connect(t, e.url, &mcp.ClientOptions{CreateMessageHandler: func(ctx context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
		return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: "sampled"}}, nil
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "ask"})
	if err != nil {
		t.Fatal(err)
	}
	if got := text(t, res); got != "sampled" {
		t.Errorf("got %q, want sampled", got)
	}
}

// waitFor polls cond, under mu, for up to 10s.
func waitFor(t *testing.T, mu *sync.Mutex, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		ok := cond()
		mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			return // the caller's assertion reports what arrived
		}
		time.Sleep(5 * time.Millisecond)
	}
}
