package protocol_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/backend/builtin"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/tasks"
	"github.com/mooring-dev/mooring/tasks/protocol"
)

// A tasks/result that waits when its session closes here (a drain's grace
// ran out, or the process shuts down) is answered with the retryable
// interruption error (-32000), in the session's log: the client resumes
// its stream on the next replica, which restores the session, and reads
// it there; the task is still there to ask for.
func TestSessionful_TasksResultInterruptedBySessionClose(t *testing.T) {
	for _, how := range []string{"drain", "close"} {
		t.Run(how, func(t *testing.T) {
			st := memstore.New(nil)
			m := tasks.NewManager(st, &tasks.Options{PollInterval: 50 * time.Millisecond})
			defer m.Close()
			sf, mgr := inProcess(t, st, m, &protocol.Policy{Tools: builtin.TaskSupport()})
			defer sf.Close()
			defer mgr.Close()
			ctx := context.Background()
			s, err := mgr.Create(ctx)
			if err != nil {
				t.Fatal(err)
			}
			initialize(t, s)
			// The task runs elsewhere (another process on the same
			// store), so that only the wait is cut off here.
			other := tasks.NewManager(st, &tasks.Options{PollInterval: 50 * time.Millisecond, ReplicaID: "other"})
			defer other.Close()
			task, err := other.Create(ctx, &tasks.Task{Scope: protocol.SessionScope(s.ID()), Tool: "remote"}, func(ctx context.Context, _ *tasks.Task) ([]byte, error) {
				<-ctx.Done()
				return nil, ctx.Err()
			})
			if err != nil {
				t.Fatal(err)
			}
			id := task.ID
			waiting := send(t, s, 3, "tasks/result", `{"taskId":"`+id+`"}`)
			defer waiting.Close()

			switch how {
			case "drain":
				over, cancel := context.WithCancel(ctx)
				cancel() // no grace: the running tasks/result is cut off
				mgr.Drain(over, time.Second)
			case "close":
				_ = mgr.Close()
			}

			// The next replica restores the session (the client's resume
			// of the stream reaches it there) and serves the log.
			m2 := tasks.NewManager(st, &tasks.Options{PollInterval: 50 * time.Millisecond})
			defer m2.Close()
			sf2, next := inProcess(t, st, m2, &protocol.Policy{Tools: builtin.TaskSupport()})
			defer sf2.Close()
			defer next.Close()
			if _, err := next.Get(ctx, s.ID()); err != nil {
				t.Fatalf("restore on the next replica: %v", err)
			}
			var got *jsonrpc.Response
			rid3, _ := jsonrpc.MakeID(float64(3))
			events, err := st.Log(ctx, s.ID())
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range events {
				if msg, err := jsonrpc.DecodeMessage(ev.Data); err == nil {
					if resp, ok := msg.(*jsonrpc.Response); ok && resp.ID == rid3 {
						got = resp
					}
				}
			}
			if got == nil {
				t.Fatal("no answer to tasks/result in the session's log")
			}
			re, _ := got.Error.(*jsonrpc.Error)
			if re == nil || re.Code != session.CodeInterrupted || !strings.Contains(re.Message, "retry") {
				t.Fatalf("tasks/result answered %+v, want the retryable interruption error %d", got, session.CodeInterrupted)
			}
			// Retried on the next replica, tasks/result answers from the
			// store: the task's outcome.
			s2, err := next.Get(ctx, s.ID())
			if err != nil {
				t.Fatal(err)
			}
			rid, _ := jsonrpc.MakeID(float64(4))
			sub, err := s2.Call(ctx, &jsonrpc.Request{ID: rid, Method: "tasks/get", Params: json.RawMessage(`{"taskId":"` + id + `"}`)}, session.CallOptions{})
			if err != nil {
				t.Fatal(err)
			}
			r := answer(t, sub)
			if r == nil || r.Error != nil || !strings.Contains(string(r.Result), id) {
				t.Errorf("tasks/get of the task on the next replica: %+v", r)
			}
		})
	}
}

// inProcess serves sessions on st from the built-in server in this
// process, with the tasks of m under policy. The caller closes both, the
// session Manager first.
func inProcess(t *testing.T, st store.Store, m *tasks.Manager, policy *protocol.Policy) (*protocol.Sessionful, *session.Manager) {
	t.Helper()
	sf, err := protocol.NewSessionful(m, &protocol.SessionfulOptions{Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	mgr := session.New(st, backend.NewInProcess(builtin.New()), &session.Options{Interceptor: sf})
	sf.Attach(mgr)
	return sf, mgr
}

// send sends request id of method to s; answer reads its response.
func send(t *testing.T, s *session.Session, id float64, method, params string) *session.Sub {
	t.Helper()
	rid, _ := jsonrpc.MakeID(id)
	sub, err := s.Call(context.Background(), &jsonrpc.Request{ID: rid, Method: method, Params: json.RawMessage(params)}, session.CallOptions{})
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return sub
}

// initialize opens s at revision 2025-11-25 (request id 1).
func initialize(t *testing.T, s *session.Session) {
	t.Helper()
	if r := answer(t, send(t, s, 1, "initialize", `{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}`)); r == nil || r.Error != nil {
		t.Fatalf("initialize: %+v", r)
	}
}

// answer reads a subscription until its response arrives.
func answer(t *testing.T, sub *session.Sub) *jsonrpc.Response {
	t.Helper()
	defer sub.Close()
	deadline := time.After(30 * time.Second)
	for {
		events, over, _ := sub.Take()
		for _, ev := range events {
			if session.IsMarker(ev.Data) {
				continue
			}
			if msg, err := jsonrpc.DecodeMessage(ev.Data); err == nil {
				if r, ok := msg.(*jsonrpc.Response); ok {
					return r
				}
			}
		}
		if over {
			return nil
		}
		select {
		case <-sub.Ready():
		case <-deadline:
			t.Fatal("no response within 30s")
		}
	}
}

// A task still running on a session that a drain hands over when its
// grace is over is left to the next process (its runner lease given up
// at the Manager's Close), not failed here because its session closed: a
// retryable one runs again there.
func TestSessionful_DrainLeavesRunningTaskToNextProcess(t *testing.T) {
	st := memstore.New(nil)
	m := tasks.NewManager(st, &tasks.Options{PollInterval: 50 * time.Millisecond})
	policy := &protocol.Policy{Tools: builtin.TaskSupport(), Retryable: []string{"slow_compute"}}
	sf, mgr := inProcess(t, st, m, policy)
	defer sf.Close()
	defer mgr.Close()
	ctx := context.Background()
	s, err := mgr.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	initialize(t, s)
	r := answer(t, send(t, s, 2, "tools/call", `{"name":"slow_compute","arguments":{"seconds":60},"task":{}}`))
	var created struct {
		Task struct{ TaskID string } `json:"task"`
	}
	if r == nil || r.Error != nil || json.Unmarshal(r.Result, &created) != nil || created.Task.TaskID == "" {
		t.Fatalf("tools/call with params.task: %+v", r)
	}
	id := created.Task.TaskID

	// serve's order: the session drain's grace runs out, then the task
	// Manager closes.
	over, cancel := context.WithCancel(ctx)
	cancel()
	mgr.Drain(over, time.Second)
	time.Sleep(100 * time.Millisecond) // let a wrongly failing runner settle its task
	_ = m.Close()

	task, err := tasks.Read(ctx, st, id)
	if err != nil {
		t.Fatal(err)
	}
	if task.Status.Terminal() {
		t.Fatalf("task after the drain: %s (%s), want it left running for the next process", task.Status, task.StatusMessage)
	}
}
