package protocol_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/store"
)

// taskRef is the params of tasks/get and tasks/result (2025-11-25).
type taskRef struct {
	mcp.ParamsBase
	TaskID string `json:"taskId"`
}

// taskState is what tasks/get answers (2025-11-25).
type taskState struct {
	mcp.ResultBase
	TaskID        string `json:"taskId"`
	Status        string `json:"status"`
	StatusMessage string `json:"statusMessage"`
}

// While a task's call waits for the client's answer to a request of the
// server (here confirm_delete's elicitation), the task is input_required;
// the request reaches a go-sdk client on the session's GET stream with the
// related-task _meta; once the client answers, the task works again and
// completes.
func TestSessionful_InputRequiredWhileServerRequestWaits(t *testing.T) {
	url, st := newSessionful(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	type ask struct {
		related any
		answer  chan struct{}
	}
	asks := make(chan ask, 1)
	client := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, &mcp.ClientOptions{
		ElicitationHandler: func(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			a := ask{related: req.Params.Meta["io.modelcontextprotocol/related-task"], answer: make(chan struct{})}
			asks <- a
			select {
			case <-a.answer:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"confirm": true}}, nil
		},
	})
	for _, m := range []string{"tasks/get", "tasks/result"} {
		if err := mcp.AddSendingCustomMethod[*taskRef, *taskState](client, m); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()

	// go-sdk cannot put params.task on a tools/call: this one request is
	// made by hand, in the go-sdk client's session.
	c := &sessionClient{url: url, id: cs.ID()}
	var created struct {
		Task struct{ TaskID string } `json:"task"`
	}
	c.must(t, "tools/call", map[string]any{"name": "confirm_delete", "arguments": map[string]any{"filename": "f"}, "task": map[string]any{}}, &created)
	id := created.Task.TaskID

	get := func() *taskState {
		t.Helper()
		st, err := mcp.CallCustomMethod[*taskRef, *taskState](ctx, cs, "tasks/get", &taskRef{TaskID: id})
		if err != nil {
			t.Fatalf("tasks/get: %v", err)
		}
		return st
	}
	var a ask
	select {
	case a = <-asks:
	case <-ctx.Done():
		t.Fatal("the elicitation of the task's call never reached the client")
	}
	if rel, _ := a.related.(map[string]any); rel["taskId"] != id {
		t.Errorf("elicitation related-task = %v, want task %s", a.related, id)
	}
	if st := get(); st.Status != "input_required" {
		t.Errorf("while the elicitation waits: task %s, want input_required", st.Status)
	}
	close(a.answer)
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := get()
		if st.Status == "completed" {
			break
		}
		if st.Status != "working" && st.Status != "input_required" || time.Now().After(deadline) {
			t.Fatalf("after the answer: task %s (%s), want working then completed", st.Status, st.StatusMessage)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The session's notifications/tasks/status tell the whole story.
	want := []string{"input_required", "working", "completed"}
	var got []string
	for deadline := time.Now().Add(30 * time.Second); ; {
		got = statusNotes(t, st, cs.ID(), id)
		if isSubsequence(want, got) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !isSubsequence(want, got) {
		t.Errorf("notifications/tasks/status of the task: %v, want %v in that order", got, want)
	}
}

// statusNotes are the statuses of task id in the notifications/tasks/status
// of a session's log.
func statusNotes(t *testing.T, st store.Store, session, id string) []string {
	t.Helper()
	events, err := st.Log(context.Background(), session)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range events {
		var msg struct {
			Method string `json:"method"`
			Params struct {
				TaskID string `json:"taskId"`
				Status string `json:"status"`
			} `json:"params"`
		}
		if json.Unmarshal(ev.Data, &msg) == nil && msg.Method == "notifications/tasks/status" && msg.Params.TaskID == id {
			out = append(out, msg.Params.Status)
		}
	}
	return out
}

func isSubsequence(want, got []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}
