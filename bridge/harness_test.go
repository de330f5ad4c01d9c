package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/internal/stdiotest"
)

type msg = stdiotest.Msg

// client drives a bridge over its stdio with JSON-RPC lines.
type client struct {
	*stdiotest.Client
	t *testing.T
}

// startBridge runs a bridge to url in this process; it ends with the test.
func startBridge(t *testing.T, url string, opts *Options) *client {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	c := &client{Client: stdiotest.New(t, "the bridge", inW, outR), t: t}
	done := make(chan error, 1)
	go func() {
		done <- New(url, opts).Run(context.Background(), inR, outW)
		outW.Close()
	}()
	t.Cleanup(func() {
		inW.Close()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("the bridge did not end after stdin closed")
		}
		<-c.Done()
	})
	return c
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func callTool(id int, name string, args map[string]any, progress string) map[string]any {
	p := map[string]any{"name": name, "arguments": args}
	if progress != "" {
		p["_meta"] = map[string]any{"progressToken": progress}
	}
	return map[string]any{"id": id, "method": "tools/call", "params": p}
}

// sdkServer is go-sdk's own Streamable HTTP handler on a fixed loopback
// address: it keeps sessions in memory only, so a restart loses them.
type sdkServer struct {
	t    testing.TB
	addr string
	srv  *http.Server

	stateless   bool // serve 2026-07-28 only, statelessly
	noSubscribe bool // the next serve offers no resource subscriptions
	noEvents    bool // no event store: streams carry no ids and cannot be resumed

	mu         sync.Mutex
	subscribed []string
	headers    []http.Header // of every request
	started    chan string   // names of tool calls as they start
	cancelled  chan string   // names of tool calls whose context ended early
}

func newSDKServer(t testing.TB) *sdkServer { return newServer(t, false) }

func newServer(t testing.TB, stateless bool) *sdkServer {
	s := &sdkServer{t: t, stateless: stateless, started: make(chan string, 16), cancelled: make(chan string, 16)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.serve(ln)
	t.Cleanup(s.stop)
	return s
}

func (s *sdkServer) url() string { return "http://" + s.addr + "/mcp" }

// serve starts a fresh server (no sessions, no subscriptions) on ln.
func (s *sdkServer) serve(ln net.Listener) {
	s.mu.Lock()
	s.subscribed = nil
	s.mu.Unlock()
	opts := &mcp.ServerOptions{
		SubscribeHandler: func(_ context.Context, req *mcp.SubscribeRequest) error {
			s.mu.Lock()
			s.subscribed = append(s.subscribed, req.Params.URI)
			s.mu.Unlock()
			return nil
		},
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	}
	if s.noSubscribe {
		opts = nil
	}
	server := mcp.NewServer(&mcp.Implementation{Name: "sdk", Version: "1"}, opts)
	// count sends progress every interval_ms and answers "counted N";
	// count_ro does the same and says that it is read-only.
	type countArgs struct {
		N          int `json:"n"`
		IntervalMS int `json:"interval_ms"`
	}
	count := func(name string) mcp.ToolHandlerFor[countArgs, any] {
		return func(ctx context.Context, req *mcp.CallToolRequest, in countArgs) (*mcp.CallToolResult, any, error) {
			select {
			case s.started <- name:
			default: // nobody watches (a benchmark)
			}
			for i := 1; i <= in.N; i++ {
				select {
				case <-ctx.Done():
					s.cancelled <- name
					return nil, nil, ctx.Err()
				case <-time.After(time.Duration(in.IntervalMS) * time.Millisecond):
				}
				if tok := req.Params.GetProgressToken(); tok != nil {
					_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: float64(i)})
				}
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: fmt.Sprintf("counted %d", in.N)}}}, nil, nil
		}
	}
	mcp.AddTool(server, &mcp.Tool{Name: "count", Description: "counts slowly"}, count("count"))
	mcp.AddTool(server, &mcp.Tool{Name: "count_ro", Description: "counts slowly, changing nothing",
		Annotations: &mcp.ToolAnnotations{ReadOnlyHint: true}}, count("count_ro"))
	// where answers its arguments that its schema mirrors into headers
	// (2026-07-28 x-mcp-header; go-sdk checks the headers against them).
	server.AddTool(&mcp.Tool{Name: "where", Description: "says where", InputSchema: json.RawMessage(`{"type":"object",
		"properties":{"region":{"type":"string","x-mcp-header":"Region"},
		"opts":{"type":"object","properties":{"zone":{"type":"integer","x-mcp-header":"Zone"}}}}}`)},
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(req.Params.Arguments)}}}, nil
		})
	// ask asks the client's model (a server-to-client request).
	mcp.AddTool(server, &mcp.Tool{Name: "ask", Description: "asks the client"},
		func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
			res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 10,
				Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "hi"}}}})
			if err != nil {
				return nil, nil, err
			}
			return &mcp.CallToolResult{Content: []mcp.Content{res.Content}}, nil, nil
		})
	server.AddResource(&mcp.Resource{URI: "test://r", Name: "r"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: "test://r", Text: "r"}}}, nil
	})
	hopts := &mcp.StreamableHTTPOptions{EventStore: mcp.NewMemoryEventStore(nil)}
	switch {
	case s.noEvents:
		hopts = &mcp.StreamableHTTPOptions{}
	case s.stateless:
		hopts = &mcp.StreamableHTTPOptions{Stateless: true, PropagateRequestCancellation: true}
	}
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, hopts)
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.headers = append(s.headers, r.Header.Clone())
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})}
	go s.srv.Serve(ln)
}

func (s *sdkServer) stop() { s.srv.Close() }

// restart stops the server, abruptly, and starts a fresh one on the same
// address: every session is gone.
func (s *sdkServer) restart() {
	s.stop()
	var ln net.Listener
	var err error
	for i := 0; i < 100; i++ {
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		s.t.Fatal(err)
	}
	s.serve(ln)
}

func (s *sdkServer) subscriptions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.subscribed...)
}

// waitStarted returns the name of the next tool call that starts.
func (s *sdkServer) waitStarted() string {
	s.t.Helper()
	select {
	case name := <-s.started:
		return name
	case <-time.After(20 * time.Second):
		s.t.Fatal("no tool call started within 20s")
		return ""
	}
}
