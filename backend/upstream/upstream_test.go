package upstream_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/backend/builtin"
	"github.com/mooring-dev/mooring/backend/upstream"
	"github.com/mooring-dev/mooring/internal/mcptest"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/transport"
)

// server is a real upstream: go-sdk's StreamableHTTPHandler around the
// built-in server plus "whoami" (which incarnation answers), on a loopback
// address that survives a restart. It records what it was sent.
type server struct {
	t     *testing.T
	addr  string
	mu    sync.Mutex
	srv   *http.Server
	mcp   *mcp.Server // the current incarnation's
	gen   int
	seen  []string // "METHOD version auth" of every request
	inits int
	// lost400 answers an unknown session id with 400 and the body of
	// the TypeScript SDK's examples (server-everything), not 404.
	lost400 bool
}

// as400 rewrites go-sdk's 404 for an unknown session into the 400 that
// servers built on the TypeScript SDK's examples answer.
type as400 struct {
	http.ResponseWriter
	rewrote bool
}

func (w *as400) WriteHeader(code int) {
	if code == http.StatusNotFound {
		w.rewrote = true
		w.Header().Set("Content-Type", "application/json")
		w.ResponseWriter.WriteHeader(http.StatusBadRequest)
		_, _ = w.ResponseWriter.Write([]byte(`{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: No valid session ID provided"},"id":null}`))
		return
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *as400) Write(b []byte) (int, error) {
	if w.rewrote {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

func (w *as400) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func startServer(t *testing.T) *server {
	s := &server{t: t, addr: "127.0.0.1:0"}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *server) start() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen++
	gen := string(rune('0' + s.gen))
	mcpSrv := builtin.New()
	mcp.AddTool(mcpSrv, &mcp.Tool{Name: "whoami"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "upstream " + gen}}}, nil, nil
	})
	s.mcp = mcpSrv
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return mcpSrv }, nil)
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		s.t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer sesame" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		var body []byte
		if r.Method == http.MethodPost {
			// All of it: one Read may return only a part.
			body, _ = io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		s.mu.Lock()
		s.seen = append(s.seen, r.Method+" "+r.Header.Get("Mcp-Protocol-Version"))
		if bytes.Contains(body, []byte(`"method":"initialize"`)) {
			s.inits++
		}
		lost400 := s.lost400
		s.mu.Unlock()
		if lost400 {
			w = &as400{ResponseWriter: w}
		}
		h.ServeHTTP(w, r)
	})}
	go s.srv.Serve(ln)
}

func (s *server) stop() {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	srv.Close()
}

func (s *server) restart() {
	s.stop()
	s.start()
}

func (s *server) record() ([]string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...), s.inits
}

type fixture struct {
	mgr *session.Manager
	url string
}

func start(t *testing.T, up *server) *fixture {
	t.Helper()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()}))
	op := upstream.New(upstream.Options{
		Name: "test", URL: "http://" + up.addr, Headers: map[string]string{"Authorization": "Bearer sesame"}, Logger: log,
	})
	st := memstore.New(nil)
	mgr := session.New(st, op, &session.Options{Logger: log})
	srv := httptest.NewServer(transport.New(mgr, &transport.Options{Logger: log}))
	t.Cleanup(func() { srv.Close(); mgr.Close(); st.Close() })
	return &fixture{mgr: mgr, url: srv.URL}
}

// An upstream Streamable HTTP server behind mooring, with go-sdk's client in
// front: tools, progress, sampling and elicitation round trips, resource
// updates (the upstream's GET stream); the configured header and the
// negotiated protocol version on every request after initialize; a DELETE
// when the backend closes.
func TestUpstream_ThroughMooring(t *testing.T) {
	up := startServer(t)
	f := start(t, up)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs := mcptest.Dial(t, ctx, f.url, "2025-06-18")
	if got := mcptest.Text(t, ctx, cs.ClientSession, &mcp.CallToolParams{Name: "whoami"}); got != "upstream 1" {
		t.Errorf("whoami: %q", got)
	}
	mcptest.RoundTrips(t, ctx, cs)

	f.mgr.Close()
	seen, inits := up.record()
	if inits != 1 {
		t.Errorf("%d initializes upstream, want 1", inits)
	}
	for i, r := range seen {
		if i > 0 && r != "GET 2025-06-18" && r != "POST 2025-06-18" && r != "DELETE 2025-06-18" {
			t.Errorf("request %d upstream: %q, want the negotiated version", i, r)
		}
	}
	if !slices.Contains(seen, "GET 2025-06-18") {
		t.Errorf("no GET stream upstream: %q", seen)
	}
	if last := seen[len(seen)-1]; !strings.HasPrefix(last, "DELETE") {
		t.Errorf("last upstream request %q, want the DELETE of Close", last)
	}
}

// The upstream restarts under a live session and forgets it: the next
// request opens a fresh upstream session, initialized with the client's
// initialize, and the client goes on with its session id and no error.
// Also with an upstream that answers 400, not 404, for the session it lost
// (as server-everything does): the first request after its restart used
// to fail with 500 "Bad Request".
func TestUpstream_RestartIsTransparent(t *testing.T) {
	for _, tc := range []struct {
		name    string
		lost400 bool
	}{{"404", false}, {"400", true}} {
		t.Run(tc.name, func(t *testing.T) {
			up := startServer(t)
			up.mu.Lock()
			up.lost400 = tc.lost400
			up.mu.Unlock()
			f := start(t, up)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cs := mcptest.Dial(t, ctx, f.url, "").ClientSession
			if got := mcptest.Text(t, ctx, cs, &mcp.CallToolParams{Name: "whoami"}); got != "upstream 1" {
				t.Fatalf("whoami: %q", got)
			}
			up.restart()
			if got := mcptest.Text(t, ctx, cs, &mcp.CallToolParams{Name: "whoami"}); got != "upstream 2" {
				t.Fatalf("whoami after the upstream restarted: %q", got)
			}
			if _, err := cs.ListTools(ctx, nil); err != nil {
				t.Fatalf("tools/list after the upstream restarted: %v", err)
			}
			if _, inits := up.record(); inits != 2 {
				t.Errorf("%d initializes upstream, want 2 (the client's and its replay)", inits)
			}
		})
	}
}

// sessions counts the upstream sessions that the server holds.
func (s *server) sessions() int {
	s.mu.Lock()
	srv := s.mcp
	s.mu.Unlock()
	n := 0
	for range srv.Sessions() {
		n++
	}
	return n
}

// cuttable is a RoundTripper that stops reaching anything once cut: the
// network of a process that was killed.
type cuttable struct {
	base http.RoundTripper
	cut  atomic.Bool
}

func (c *cuttable) RoundTrip(req *http.Request) (*http.Response, error) {
	if c.cut.Load() {
		return nil, errors.New("test: this process is dead")
	}
	return c.base.RoundTrip(req)
}

// mooring killed (SIGKILL) under a live session: its upstream session is
// never ended by it. The restore in the next process opens a new upstream
// session and ends the old one, whose id the session record kept, so that
// sessions do not pile up on an upstream that never expires them.
func TestUpstream_RestoreEndsOrphanedSession(t *testing.T) {
	up := startServer(t)
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: logLevel()}))
	st := memstore.New(nil)
	defer st.Close()
	net1 := &cuttable{base: http.DefaultTransport.(*http.Transport).Clone()}
	mgr1 := session.New(st, upstream.New(upstream.Options{
		URL: "http://" + up.addr, Headers: map[string]string{"Authorization": "Bearer sesame"}, Logger: log, Transport: net1,
	}), &session.Options{Logger: log})
	srv1 := httptest.NewServer(transport.New(mgr1, &transport.Options{Logger: log}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs := mcptest.Dial(t, ctx, srv1.URL, "").ClientSession
	mcptest.Text(t, ctx, cs, &mcp.CallToolParams{Name: "whoami"})
	if n := up.sessions(); n != 1 {
		t.Fatalf("%d upstream sessions, want 1", n)
	}
	// The process dies: nothing of it reaches the upstream any more (its
	// Close cannot send the DELETE that a clean shutdown would).
	net1.cut.Store(true)
	mgr1.Close() // ends the client's streams, so that srv1 can close
	srv1.CloseClientConnections()
	srv1.Close()

	// The next process, on the same store.
	mgr2 := session.New(st, upstream.New(upstream.Options{
		URL: "http://" + up.addr, Headers: map[string]string{"Authorization": "Bearer sesame"}, Logger: log,
	}), &session.Options{Logger: log})
	defer mgr2.Close()
	s, err := mgr2.Get(ctx, cs.ID())
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for up.sessions() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d upstream sessions after the restore, want 1: the orphaned one was not ended", up.sessions())
		}
		time.Sleep(10 * time.Millisecond)
	}
	rec := s.Record()
	if rec.RemoteSession == "" {
		t.Errorf("the record does not keep the new upstream session's id")
	}
}

// An upstream that is down: a request fails with an error that says so, and
// the session works again once the upstream is back.
func TestUpstream_DownThenBack(t *testing.T) {
	up := startServer(t)
	f := start(t, up)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs := mcptest.Dial(t, ctx, f.url, "").ClientSession
	up.stop()
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"}); err == nil {
		t.Fatal("a call to a stopped upstream succeeded")
	}
	up.start()
	var got string
	for range 20 { // the client may need a moment to let go of the failure
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
		if err == nil && len(res.Content) > 0 {
			got = res.Content[0].(*mcp.TextContent).Text
			break
		}
		if errors.Is(err, mcp.ErrConnectionClosed) {
			t.Fatalf("the client's session broke: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if got != "upstream 2" {
		t.Fatalf("whoami after the upstream came back: %q", got)
	}
}

func logLevel() slog.Level {
	if os.Getenv("MOORING_TEST_DEBUG") != "" {
		return slog.LevelDebug
	}
	return slog.LevelWarn
}
