package protocol_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mooring-dev/mooring/backend/builtin"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/tasks"
	"github.com/mooring-dev/mooring/tasks/protocol"
)

// taskReads counts a TaskStore's GetTask calls.
type taskReads struct {
	store.TaskStore
	n atomic.Int64
}

func (c *taskReads) GetTask(ctx context.Context, id string) (store.TaskRecord, error) {
	c.n.Add(1)
	return c.TaskStore.GetTask(ctx, id)
}

// tasks/cancel of a working task reads it once, in the compare-and-swap
// that cancels it: not first to see whether it is over and then again
// to cancel it (a task that ended between the two reads was answered
// as a successful cancel of a completed task).
func TestSessionful_CancelReadsOnce(t *testing.T) {
	st := memstore.New(nil)
	reads := &taskReads{TaskStore: st}
	m := tasks.NewManager(reads, &tasks.Options{PollInterval: 50 * time.Millisecond, SweepInterval: -1})
	defer m.Close()
	sf, mgr := inProcess(t, st, m, &protocol.Policy{Tools: builtin.TaskSupport()})
	defer sf.Close()
	defer mgr.Close()
	s, err := mgr.Create(context.Background())
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
	reads.n.Store(0)
	r = answer(t, send(t, s, 3, "tasks/cancel", `{"taskId":"`+created.Task.TaskID+`"}`))
	var got struct{ Status string }
	if r == nil || r.Error != nil || json.Unmarshal(r.Result, &got) != nil || got.Status != "cancelled" {
		t.Fatalf("tasks/cancel: %+v", r)
	}
	if n := reads.n.Load(); n != 1 {
		t.Errorf("tasks/cancel read the task %d times, want 1", n)
	}
	// Cancelled already: -32602, from the task kept by the Manager.
	r = answer(t, send(t, s, 4, "tasks/cancel", `{"taskId":"`+created.Task.TaskID+`"}`))
	if r == nil {
		t.Fatal("second tasks/cancel: no answer")
	}
	if re, _ := r.Error.(*jsonrpc.Error); re == nil || re.Code != jsonrpc.CodeInvalidParams {
		t.Errorf("second tasks/cancel: %+v, want -32602", r)
	}
}
