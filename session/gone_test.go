package session_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store/memstore"
)

// mortal wraps an in-process backend with connections that can die the way
// a stdio program or an upstream session does: Send fails with
// backend.ErrGone, and Done closes (when watched is set).
type mortal struct {
	inner   backend.Opener
	watched bool
	// gate, if set, holds Open until it is closed; entered is told first.
	gate    chan struct{}
	entered chan struct{}
	mu      sync.Mutex
	conns   []*mortalConn
}

type mortalConn struct {
	backend.Conn
	mu   sync.Mutex
	dead bool
	done chan struct{}
	once sync.Once
}

type watchedConn struct{ *mortalConn }

func (c watchedConn) Done() <-chan struct{} { return c.done }

func (o *mortal) Open(ctx context.Context, id string, h backend.Handler) (backend.Conn, error) {
	if o.gate != nil {
		o.entered <- struct{}{}
		<-o.gate
	}
	inner, err := o.inner.Open(ctx, id, h)
	if err != nil {
		return nil, err
	}
	c := &mortalConn{Conn: inner, done: make(chan struct{})}
	o.mu.Lock()
	o.conns = append(o.conns, c)
	o.mu.Unlock()
	if o.watched {
		return watchedConn{c}, nil
	}
	return c, nil
}

func (o *mortal) opened() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.conns)
}

// kill ends the latest connection as if its server had gone.
func (o *mortal) kill() {
	o.mu.Lock()
	c := o.conns[len(o.conns)-1]
	o.mu.Unlock()
	c.mu.Lock()
	c.dead = true
	c.mu.Unlock()
	c.end()
}

func (c *mortalConn) end() { c.once.Do(func() { close(c.done) }) }

func (c *mortalConn) Send(ctx context.Context, msg jsonrpc.Message) error {
	c.mu.Lock()
	dead := c.dead
	c.mu.Unlock()
	if dead {
		return fmt.Errorf("test: %w", backend.ErrGone)
	}
	return c.Conn.Send(ctx, msg)
}

func (c *mortalConn) Close() error {
	c.end()
	return c.Conn.Close()
}

// A request that finds its backend gone is sent again to a fresh backend
// connection, restored from the record: the client sees its answer, not the
// failure.
func TestGone_SendRestoresAndRetries(t *testing.T) {
	st := memstore.New(nil)
	rec := newRecorder()
	o := &mortal{inner: rec.opener}
	m := session.New(st, o, nil)
	defer m.Close()
	s := open(t, m)
	if r := call(t, s, 2, "resources/subscribe", `{"uri":"test://r"}`); r.Error != nil {
		t.Fatal(r.Error)
	}
	o.kill()
	r := call(t, s, 3, "tools/list", `{}`)
	if r.Error != nil {
		t.Fatalf("tools/list after the backend died: %v", r.Error)
	}
	if n := o.opened(); n != 2 {
		t.Errorf("%d backend connections opened, want 2 (the first and the restore)", n)
	}
	rec.mu.Lock()
	inits, subs := rec.inits, len(rec.subs)
	rec.mu.Unlock()
	if inits != 2 || subs != 2 {
		t.Errorf("server saw %d initialized and %d subscribes, want 2 and 2 (the replay)", inits, subs)
	}
	// The client's next request finds the restored session in the cache.
	s2, err := m.Get(context.Background(), s.ID())
	if err != nil || s2 == s {
		t.Fatalf("Get after the restore: %v (same session: %v)", err, s2 == s)
	}
	if err := s2.Notify(context.Background(), &jsonrpc.Request{Method: "notifications/roots/list_changed"}); err != nil {
		t.Fatal(err)
	}
	if o.opened() != 2 {
		t.Errorf("a live restored session opened another connection")
	}
}

// A watched connection that ends on its own takes the session out of the
// cache at once; the next Get restores it.
func TestGone_WatchedConnectionEnds(t *testing.T) {
	st := memstore.New(nil)
	rec := newRecorder()
	o := &mortal{inner: rec.opener, watched: true}
	m := session.New(st, o, nil)
	defer m.Close()
	s := open(t, m)
	o.kill()
	eventually(t, "the session to leave the cache after its backend ended", func() bool { return m.Len() == 0 })
	s2, err := m.Get(context.Background(), s.ID())
	if err != nil {
		t.Fatal(err)
	}
	if r := call(t, s2, 2, "tools/list", `{}`); r.Error != nil {
		t.Fatal(r.Error)
	}
	// Closing the manager closes the connection: no warning, no restore.
	m.Close()
	if o.opened() != 2 {
		t.Errorf("%d connections, want 2", o.opened())
	}
}

// A session whose initialize never succeeded has nothing to restore: the
// failure is reported.
func TestGone_UnsavedSessionReportsTheError(t *testing.T) {
	st := memstore.New(nil)
	o := &mortal{inner: newRecorder().opener}
	m := session.New(st, o, nil)
	defer m.Close()
	s, err := m.Create(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	o.kill()
	_, err = s.Call(context.Background(), request(t, 1, "initialize", `{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}`), session.CallOptions{})
	if !errors.Is(err, backend.ErrGone) {
		t.Fatalf("initialize on a dead backend: %v, want ErrGone", err)
	}
}

// A restore that finishes after the manager closed must not hand out a
// session that Close never saw: its backend would stay open for ever.
func TestGone_CloseDuringRestore(t *testing.T) {
	st := memstore.New(nil)
	m1 := session.New(st, newRecorder().opener, nil)
	id := open(t, m1).ID()
	m1.Close()

	o := &mortal{inner: newRecorder().opener, gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	m2 := session.New(st, o, nil)
	got := make(chan error, 1)
	go func() {
		_, err := m2.Get(context.Background(), id)
		got <- err
	}()
	<-o.entered
	m2.Close()
	close(o.gate)
	if err := <-got; !errors.Is(err, session.ErrClosed) {
		t.Fatalf("Get across Close: %v, want ErrClosed", err)
	}
	select {
	case <-o.conns[0].done:
	default:
		t.Error("the restored backend connection was left open")
	}
}
