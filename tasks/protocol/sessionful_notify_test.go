package protocol_test

import (
	"context"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/backend/builtin"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/tasks"
	"github.com/mooring-dev/mooring/tasks/protocol"
	"github.com/mooring-dev/mooring/transport"
)

// stuckLog is a memory store whose appends to one session's GET stream
// (where status notifications go) wait for release.
type stuckLog struct {
	*memstore.Store
	session atomic.Pointer[string]
	release chan struct{}
}

func (s *stuckLog) wait(sid, stream string) {
	if p := s.session.Load(); p != nil && *p == sid && stream == session.GetStream {
		<-s.release // not ctx: a store stuck past the send's timeout
	}
}

func (s *stuckLog) Append(ctx context.Context, session, stream string, data []byte) (store.EventID, error) {
	s.wait(session, stream)
	return s.Store.Append(ctx, session, stream, data)
}

func (s *stuckLog) AppendBatch(ctx context.Context, session, stream string, data [][]byte) ([]store.EventID, error) {
	s.wait(session, stream)
	return s.Store.AppendBatch(ctx, session, stream, data)
}

// A session whose log is slow to take a status notification holds up no
// other session's.
func TestSessionful_NotificationsPerSession(t *testing.T) {
	st := &stuckLog{Store: memstore.New(nil), release: make(chan struct{})}
	m := tasks.NewManager(st, &tasks.Options{PollInterval: 50 * time.Millisecond})
	sf, err := protocol.NewSessionful(m, &protocol.SessionfulOptions{Policy: &protocol.Policy{Tools: builtin.TaskSupport()}})
	if err != nil {
		t.Fatal(err)
	}
	mgr := session.New(st, backend.NewInProcess(builtin.New()), &session.Options{Interceptor: sf})
	sf.Attach(mgr)
	ts := httptest.NewServer(transport.New(mgr, &transport.Options{Mode: transport.JSON}))
	released := false
	t.Cleanup(func() {
		if !released {
			close(st.release)
		}
		ts.Close()
		_ = m.Close()
		_ = sf.Close()
		_ = mgr.Close()
	})
	run := func(c *sessionClient) string {
		var created struct{ Task struct{ TaskID string } }
		c.must(t, "tools/call", map[string]any{"name": "slow_compute", "arguments": map[string]any{"seconds": 0, "label": "x"}, "task": map[string]any{}}, &created)
		var res map[string]any
		c.must(t, "tasks/result", map[string]any{"taskId": created.Task.TaskID}, &res)
		return created.Task.TaskID
	}
	a, _ := openSession(t, ts.URL)
	b, _ := openSession(t, ts.URL)
	st.session.Store(&a.id)
	idA := run(a) // its notification waits in the store
	idB := run(b)
	for deadline := time.Now().Add(20 * time.Second); !slices.Contains(statusNotes(t, st, b.id, idB), "completed"); {
		if time.Now().After(deadline) {
			t.Fatalf("session B's notifications: %v, want completed while A's log is stuck", statusNotes(t, st, b.id, idB))
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(st.release)
	released = true
	for deadline := time.Now().Add(20 * time.Second); !slices.Contains(statusNotes(t, st, a.id, idA), "completed"); {
		if time.Now().After(deadline) {
			t.Fatalf("session A's notifications after the release: %v, want completed", statusNotes(t, st, a.id, idA))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
