package session_test

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/backend"

	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/memstore"
)

// chatty is a server that greets: a log message when a client subscribes,
// as servers do that report what they watch.
func chatty() *recorder {
	r := newRecorder()
	r.srv = mcp.NewServer(&mcp.Implementation{Name: "chatty", Version: "1"}, &mcp.ServerOptions{
		SubscribeHandler: func(ctx context.Context, req *mcp.SubscribeRequest) error {
			return req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: "watching " + req.Params.URI})
		},
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	r.srv.AddResource(&mcp.Resource{URI: "test://r", Name: "r"}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{}, nil
	})
	r.opener = backend.NewInProcess(r.srv)
	return r
}

// logMessages counts the log notifications in the session's event log.
func logMessages(t *testing.T, st store.Store, id string) int {
	t.Helper()
	evs, err := st.Log(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, ev := range evs {
		if bytes.Contains(ev.Data, []byte(`"notifications/message"`)) {
			n++
		}
	}
	return n
}

// A restore replays initialize, setLevel and subscribe to a fresh backend;
// what that backend says in answer (here a log message per subscribe) is
// not the client's: it never reaches the event log, so no stream shows it.
func TestRestore_ReplayIsSilent(t *testing.T) {
	st := memstore.New(nil)
	m1 := session.New(st, chatty().opener, nil)
	s := open(t, m1)
	if r := call(t, s, 2, "logging/setLevel", `{"level":"info"}`); r.Error != nil {
		t.Fatal(r.Error)
	}
	if r := call(t, s, 3, "resources/subscribe", `{"uri":"test://r"}`); r.Error != nil {
		t.Fatal(r.Error)
	}
	id := s.ID()
	if n := logMessages(t, st, id); n != 1 {
		t.Fatalf("%d log messages logged for the client's own subscribe, want 1", n)
	}
	m1.Close()

	m2 := session.New(st, chatty().opener, nil)
	defer m2.Close()
	s2, err := m2.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if r := call(t, s2, 4, "resources/list", `{}`); r.Error != nil {
		t.Fatal(r.Error)
	}
	if n := logMessages(t, st, id); n != 1 {
		t.Errorf("%d log messages in the session's log after the restore, want 1: the replay's reached the client", n)
	}
}

// lateGreeter wraps a backend whose reaction to notifications/initialized
// (a log message, as servers send that announce themselves once the client
// is ready) comes out just before its answer to the next message it gets:
// a server that handles its messages in order. A notification has no answer
// to wait for, so what it causes arrives after mooring sent it.
type lateGreeter struct{ inner backend.Opener }

func (o lateGreeter) Open(ctx context.Context, id string, h backend.Handler) (backend.Conn, error) {
	c, err := o.inner.Open(ctx, id, h)
	if err != nil {
		return nil, err
	}
	return &lateGreeterConn{Conn: c, h: h}, nil
}

type lateGreeterConn struct {
	backend.Conn
	h     backend.Handler
	mu    sync.Mutex
	greet bool // notifications/initialized came; the greeting is due
}

func (c *lateGreeterConn) Send(ctx context.Context, msg jsonrpc.Message) error {
	c.mu.Lock()
	greet := c.greet
	req, ok := msg.(*jsonrpc.Request)
	c.greet = ok && req.Method == "notifications/initialized"
	c.mu.Unlock()
	if greet {
		hello := &jsonrpc.Request{Method: "notifications/message", Params: json.RawMessage(`{"level":"info","data":"ready"}`)}
		if err := c.h(ctx, hello); err != nil {
			return err
		}
	}
	return c.Conn.Send(ctx, msg)
}

// What the fresh backend says in answer to the replayed
// notifications/initialized (it has no answer of its own) is dropped too:
// the restore ends with a round trip that it arrives before.
func TestRestore_ReplayIsSilentAfterInitialized(t *testing.T) {
	st := memstore.New(nil)
	m1 := session.New(st, chatty().opener, nil)
	s := open(t, m1)
	id := s.ID()
	m1.Close()

	m2 := session.New(st, lateGreeter{chatty().opener}, nil)
	defer m2.Close()
	s2, err := m2.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	if r := call(t, s2, 2, "resources/list", `{}`); r.Error != nil {
		t.Fatal(r.Error)
	}
	if n := logMessages(t, st, id); n != 0 {
		t.Errorf("%d log messages in the session's log after the restore, want 0: the backend's greeting to the replayed notifications/initialized reached the client", n)
	}
}
