package session_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/memstore"
)

// recorder is a go-sdk server that records what each of its sessions was
// told, so that a test can see what a restore replayed.
type recorder struct {
	mu      sync.Mutex
	levels  []string
	subs    []string
	inits   int
	release chan struct{}
	started chan struct{}
	srv     *mcp.Server
	opener  *backend.InProcess
}

func newRecorder() *recorder {
	r := &recorder{release: make(chan struct{}), started: make(chan struct{}, 10)}
	r.srv = mcp.NewServer(&mcp.Implementation{Name: "rec", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler: func(ctx context.Context, req *mcp.SubscribeRequest) error {
			r.mu.Lock()
			r.subs = append(r.subs, req.Params.URI)
			r.mu.Unlock()
			return nil
		},
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
		InitializedHandler: func(context.Context, *mcp.InitializedRequest) {
			r.mu.Lock()
			r.inits++
			r.mu.Unlock()
		},
	})
	r.srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "logging/setLevel" {
				r.mu.Lock()
				r.levels = append(r.levels, string(req.GetParams().(*mcp.SetLoggingLevelParams).Level))
				r.mu.Unlock()
			}
			return next(ctx, method, req)
		}
	})
	mcp.AddTool(r.srv, &mcp.Tool{Name: "block", Description: "waits until released"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		r.started <- struct{}{}
		select {
		case <-r.release:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		return &mcp.CallToolResult{}, nil, nil
	})
	r.srv.AddResource(&mcp.Resource{URI: "test://r", Name: "r"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{}, nil
	})
	r.opener = backend.NewInProcess(r.srv)
	return r
}

func request(t *testing.T, id int64, method, params string) *jsonrpc.Request {
	t.Helper()
	rid, err := jsonrpc.MakeID(float64(id))
	if err != nil {
		t.Fatal(err)
	}
	return &jsonrpc.Request{ID: rid, Method: method, Params: json.RawMessage(params)}
}

// wait reads a subscription until its stream's response arrives.
func wait(t *testing.T, sub *session.Sub) *jsonrpc.Response {
	t.Helper()
	defer sub.Close()
	deadline := time.After(10 * time.Second)
	for {
		events, over, _ := sub.Take()
		for _, ev := range events {
			if session.IsMarker(ev.Data) {
				continue
			}
			msg, err := jsonrpc.DecodeMessage(ev.Data)
			if err != nil {
				t.Fatal(err)
			}
			if r, ok := msg.(*jsonrpc.Response); ok {
				return r
			}
		}
		if over {
			t.Fatal("stream ended without a response")
		}
		select {
		case <-sub.Ready():
		case <-deadline:
			t.Fatal("no response within 10s")
		}
	}
}

// eventually polls cond until it holds, or fails the test after 10s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func call(t *testing.T, s *session.Session, id int64, method, params string) *jsonrpc.Response {
	t.Helper()
	sub, err := s.Call(context.Background(), request(t, id, method, params), session.CallOptions{})
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return wait(t, sub)
}

func open(t *testing.T, m *session.Manager) *session.Session {
	t.Helper()
	return openWith(t, m, `{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}`)
}

// openWith is open whose client initializes with params.
func openWith(t *testing.T, m *session.Manager, params string) *session.Session {
	t.Helper()
	s, err := m.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	resp := call(t, s, 1, "initialize", params)
	if resp.Error != nil {
		t.Fatalf("initialize: %v", resp.Error)
	}
	if err := s.Notify(context.Background(), &jsonrpc.Request{Method: "notifications/initialized", Params: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
	return s
}

// A session outlives the manager (the process) that created it: a new
// manager on the same store restores it with its log level and
// subscriptions, without a new initialize from the client.
func TestManager_RestoreReplaysState(t *testing.T) {
	st := memstore.New(nil)
	rec1 := newRecorder()
	m1 := session.New(st, rec1.opener, nil)
	s := open(t, m1)
	if r := call(t, s, 2, "logging/setLevel", `{"level":"warning"}`); r.Error != nil {
		t.Fatal(r.Error)
	}
	if r := call(t, s, 3, "resources/subscribe", `{"uri":"test://r"}`); r.Error != nil {
		t.Fatal(r.Error)
	}
	id := s.ID()
	m1.Close() // the process dies; the store stays

	rec2 := newRecorder()
	m2 := session.New(st, rec2.opener, nil)
	defer m2.Close()
	s2, err := m2.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if got := s2.ProtocolVersion(); got != "2025-06-18" {
		t.Errorf("restored version %q, want 2025-06-18", got)
	}
	rec2.mu.Lock()
	levels, subs, inits := rec2.levels, rec2.subs, rec2.inits
	rec2.mu.Unlock()
	if strings.Join(levels, ",") != "warning" || strings.Join(subs, ",") != "test://r" || inits != 1 {
		t.Errorf("replayed to the new backend: levels %v subs %v initialized %d; want [warning] [test://r] 1", levels, subs, inits)
	}
	// The client goes on where it was.
	if r := call(t, s2, 4, "tools/list", `{}`); r.Error != nil {
		t.Fatalf("tools/list after restore: %v", r.Error)
	}
}

// runningCall calls tool (one that blocks until rec.release) on s as
// request id, and returns the event id of its stream's priming event once
// the call runs in the backend and the stream is primed: what a client
// resumes from.
func runningCall(t *testing.T, s *session.Session, rec *recorder, id int64, tool string) string {
	t.Helper()
	sub, err := s.Call(context.Background(), request(t, id, "tools/call", `{"name":"`+tool+`"}`), session.CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	<-rec.started
	var events []store.Event
	select { // the priming event is logged after the prime delay
	case <-sub.Ready():
		events, _, _ = sub.Take()
	case <-time.After(5 * time.Second):
	}
	if len(events) == 0 || !session.IsMarker(events[0].Data) {
		t.Fatalf("stream not primed: %v", events)
	}
	return events[0].ID.String()
}

// A request in flight when its process died is answered, on its own stream,
// with an error that says it was interrupted.
func TestManager_RestoreInterruptsOrphans(t *testing.T) {
	st := memstore.New(nil)
	rec1 := newRecorder()
	m1 := session.New(st, rec1.opener, nil)
	s := open(t, m1)
	priming := runningCall(t, s, rec1, 9, "block")
	id := s.ID()
	m1.Close()

	m2 := session.New(st, newRecorder().opener, nil)
	defer m2.Close()
	s2, err := m2.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	replay, live, err := s2.Resume(context.Background(), priming)
	if err != nil {
		t.Fatal(err)
	}
	if live != nil {
		t.Error("an interrupted stream stays open after restore")
	}
	if len(replay) != 1 {
		t.Fatalf("replay: %d events, want the interruption error", len(replay))
	}
	msg, err := jsonrpc.DecodeMessage(replay[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	resp, ok := msg.(*jsonrpc.Response)
	if !ok || resp.Error == nil || resp.ID.Raw() != int64(9) {
		t.Fatalf("replayed %s, want an error response to id 9", replay[0].Data)
	}
	var werr *jsonrpc.Error
	if !errors.As(resp.Error, &werr) || werr.Code != session.CodeInterrupted {
		t.Errorf("error %v, want code %d", resp.Error, session.CodeInterrupted)
	}
}

func TestManager_UnknownAndEnded(t *testing.T) {
	st := memstore.New(nil)
	m := session.New(st, newRecorder().opener, nil)
	defer m.Close()
	if _, err := m.Get(context.Background(), "never-was"); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("unknown id: %v, want ErrNotFound", err)
	}
	s := open(t, m)
	if err := m.End(context.Background(), s.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get(context.Background(), s.ID()); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("ended id: %v, want ErrNotFound", err)
	}
	if _, err := st.GetSession(context.Background(), s.ID()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ended session still in the store: %v", err)
	}
}

// slowDelete is a store whose DeleteSession waits until released.
type slowDelete struct {
	store.Store
	entered, release chan struct{}
}

func (d *slowDelete) DeleteSession(ctx context.Context, id string) error {
	d.entered <- struct{}{}
	<-d.release
	return d.Store.DeleteSession(ctx, id)
}

// A session is unknown from the moment End begins: a request that comes
// while its record is still being deleted (a client's GET stream
// reconnecting after End cut it) must not restore it into a new backend.
func TestManager_EndingSessionIsNotRestored(t *testing.T) {
	st := &slowDelete{Store: memstore.New(nil), entered: make(chan struct{}), release: make(chan struct{})}
	defer st.Close()
	m := session.New(st, newRecorder().opener, nil)
	defer m.Close()
	s := open(t, m)
	ended := make(chan error, 1)
	go func() { ended <- m.End(context.Background(), s.ID()) }()
	<-st.entered
	_, err := m.Get(context.Background(), s.ID())
	close(st.release)
	if !errors.Is(err, session.ErrNotFound) {
		t.Errorf("Get while End deletes the record: %v, want ErrNotFound (the session was restored)", err)
	}
	if err := <-ended; err != nil {
		t.Fatalf("End: %v", err)
	}
}

// A session that the store expired answers ErrNotFound even while this
// process still holds it, and from then on.
func TestManager_StoreExpiryEndsLiveSession(t *testing.T) {
	now := time.Now()
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	st := memstore.New(&memstore.Options{Limits: store.Limits{TTL: time.Minute}, Now: clock})
	m := session.New(st, newRecorder().opener, &session.Options{TTL: time.Hour, Now: clock})
	defer m.Close()
	s := open(t, m)
	mu.Lock()
	now = now.Add(2 * time.Minute) // past the store's TTL, not the manager's
	mu.Unlock()
	if _, err := s.Call(context.Background(), request(t, 5, "tools/list", `{}`), session.CallOptions{}); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("call after store expiry: %v, want ErrNotFound", err)
	}
	if _, err := m.Get(context.Background(), s.ID()); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("get after store expiry: %v, want ErrNotFound", err)
	}
}

// An idle session leaves memory but not the store: its next request
// restores it, with no new initialize from the client.
func TestManager_IdleEvictionRestoresOnNextUse(t *testing.T) {
	st := memstore.New(nil)
	var events []string
	var mu sync.Mutex
	m := session.New(st, newRecorder().opener, &session.Options{IdleEvict: time.Second, OnEvent: func(e string) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}})
	defer m.Close()
	s := open(t, m)
	eventually(t, "the idle session to be evicted", func() bool { return m.Len() == 0 })
	s2, err := m.Get(context.Background(), s.ID())
	if err != nil {
		t.Fatalf("after eviction: %v", err)
	}
	if r := call(t, s2, 9, "tools/list", `{}`); r.Error != nil {
		t.Fatal(r.Error)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(events, ",") != "created,restored" {
		t.Errorf("events %v, want created then restored (eviction is not expiry)", events)
	}
}

// An idle session lets go of its per-request tables, and works as before
// on its next request: memory per idle session is a goal of its own.
func TestSession_CompactWhenIdle(t *testing.T) {
	m := session.New(memstore.New(nil), newRecorder().opener, nil)
	defer m.Close()
	s := open(t, m)
	if r := call(t, s, 2, "tools/list", `{}`); r.Error != nil {
		t.Fatal(r.Error)
	}
	if s.Tables() == 0 {
		t.Fatal("no tables after requests: the test would prove nothing")
	}
	s.Compact(time.Now().Add(-time.Hour)) // used since then: kept
	if s.Tables() == 0 {
		t.Fatal("a session used recently was compacted")
	}
	s.Compact(time.Now().Add(time.Hour))
	if n := s.Tables(); n != 0 {
		t.Fatalf("%d tables left on an idle session", n)
	}
	if r := call(t, s, 3, "tools/list", `{"_meta":{"progressToken":"p1"}}`); r.Error != nil {
		t.Fatalf("after compaction: %v", r.Error)
	}
}

// Managers of several servers on one store: a session belongs to the
// server that created it; another server's manager does not know it (and
// does not restore it into its own backend), its own server's does.
func TestManager_SessionBelongsToItsServer(t *testing.T) {
	st := memstore.New(nil)
	a := session.New(st, newRecorder().opener, &session.Options{Server: "a"})
	defer a.Close()
	s := open(t, a)
	b := session.New(st, newRecorder().opener, &session.Options{Server: "b"})
	defer b.Close()
	if _, err := b.Get(context.Background(), s.ID()); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("server b got server a's session: %v, want ErrNotFound", err)
	}
	a2 := session.New(st, newRecorder().opener, &session.Options{Server: "a"})
	defer a2.Close()
	if _, err := a2.Get(context.Background(), s.ID()); err != nil {
		t.Fatalf("server a after a restart: %v", err)
	}
}
