package protocol_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/backend/builtin"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/tasks"
	"github.com/mooring-dev/mooring/tasks/protocol"
	"github.com/mooring-dev/mooring/transport"
)

// statelessServer serves the built-in server's stateless era with the
// tasks extension, tasks in st.
type statelessServer struct {
	url string
	st  store.TaskStore
	m   *tasks.Manager
	ids atomic.Int64
}

func newStateless(t *testing.T, policy *protocol.Policy) *statelessServer {
	t.Helper()
	st := memstore.New(nil)
	m := tasks.NewManager(st, &tasks.Options{PollInterval: 50 * time.Millisecond})
	srv := builtin.New()
	if policy == nil {
		policy = &protocol.Policy{Tools: builtin.TaskSupport()}
	}
	ext, err := protocol.NewExtension(srv, transport.NewStateless(srv, nil), m, &protocol.ExtensionOptions{Policy: policy})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(ext)
	t.Cleanup(func() {
		ts.Close()
		_ = m.Close()
	})
	return &statelessServer{url: ts.URL, st: st, m: m}
}

// rpcErr is a JSON-RPC error answer.
type rpcErr struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// call sends one 2026-07-28 request, declaring the tasks extension or
// not, and returns its result or error.
func (s *statelessServer) call(t *testing.T, method string, params map[string]any, declare bool) (map[string]any, *rpcErr) {
	t.Helper()
	caps := map[string]any{"elicitation": map[string]any{}}
	if declare {
		caps["extensions"] = map[string]any{protocol.ExtensionID: map[string]any{}}
	}
	if params == nil {
		params = map[string]any{}
	}
	params["_meta"] = map[string]any{
		"io.modelcontextprotocol/protocolVersion":    "2026-07-28",
		"io.modelcontextprotocol/clientCapabilities": caps,
		"io.modelcontextprotocol/clientInfo":         map[string]any{"name": "test", "version": "1"},
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": s.ids.Add(1), "method": method, "params": params})
	req, _ := http.NewRequest(http.MethodPost, s.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", method)
	if name, ok := params["name"].(string); ok {
		req.Header.Set("Mcp-Name", name)
	}
	if id, ok := params["taskId"].(string); ok {
		req.Header.Set("Mcp-Name", id)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		for _, line := range strings.Split(string(data), "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok && strings.Contains(d, `"id"`) {
				data = []byte(d)
			}
		}
	}
	var msg struct {
		Result map[string]any `json:"result"`
		Error  *rpcErr        `json:"error"`
	}
	if err := json.Unmarshal(data, &msg); err != nil {
		t.Fatalf("%s: HTTP %d %q: %v", method, resp.StatusCode, data, err)
	}
	return msg.Result, msg.Error
}

func (s *statelessServer) mustCall(t *testing.T, method string, params map[string]any) map[string]any {
	t.Helper()
	res, e := s.call(t, method, params, true)
	if e != nil {
		t.Fatalf("%s: error %d %s", method, e.Code, e.Message)
	}
	return res
}

// waitStatus polls tasks/get until the task's status is one of want.
func (s *statelessServer) waitStatus(t *testing.T, id string, want ...string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		res := s.mustCall(t, "tasks/get", map[string]any{"taskId": id})
		for _, w := range want {
			if res["status"] == w {
				return res
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s: status %v, want %v", id, res["status"], want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func text(res map[string]any) string {
	content, _ := res["content"].([]any)
	var b strings.Builder
	for _, c := range content {
		if m, ok := c.(map[string]any); ok {
			fmt.Fprint(&b, m["text"])
		}
	}
	return b.String()
}

// A task is in the store when its CreateTaskResult arrives, and its
// outcome is in the store when tasks/get reports it.
func TestExtension_TaskDurableBeforeAnnounced(t *testing.T) {
	s := newStateless(t, nil)
	res := s.mustCall(t, "tools/call", map[string]any{"name": "slow_compute", "arguments": map[string]any{"seconds": 1, "label": "d"}})
	id, _ := res["taskId"].(string)
	if res["resultType"] != "task" || id == "" || res["task"] != nil {
		t.Fatalf("tools/call = %v, want a flat CreateTaskResult", res)
	}
	if len(id) < 32 {
		t.Errorf("task id %q: want at least 128 random bits", id)
	}
	stored, err := tasks.Read(context.Background(), s.st, id)
	if err != nil {
		t.Fatalf("task %s not in the store when announced: %v", id, err)
	}
	if stored.Tool != "slow_compute" || stored.Status != tasks.Working {
		t.Errorf("stored task = %s %s, want slow_compute working", stored.Tool, stored.Status)
	}
	for _, k := range []string{"ttlMs", "pollIntervalMs", "createdAt", "lastUpdatedAt"} {
		if res[k] == nil {
			t.Errorf("CreateTaskResult lacks %s: %v", k, res)
		}
	}
	got := s.waitStatus(t, id, "completed")
	if !strings.Contains(text(got["result"].(map[string]any)), `"d"`) {
		t.Errorf("completed task result = %v", got["result"])
	}
	if stored, _ = tasks.Read(context.Background(), s.st, id); stored.Status != tasks.Completed || len(stored.Result) == 0 {
		t.Errorf("stored task after completion = %s %s", stored.Status, stored.Result)
	}
}

// Clients that did not declare the extension: task methods answer -32021,
// optional tools run synchronously, required ones answer -32021.
func TestExtension_UndeclaredClients(t *testing.T) {
	s := newStateless(t, nil)
	res, e := s.call(t, "tools/call", map[string]any{"name": "slow_compute", "arguments": map[string]any{"seconds": 0.5}}, false)
	if e != nil || res["taskId"] != nil || text(res) == "" {
		t.Errorf("undeclared slow_compute = %v %v, want a plain result", res, e)
	}
	if _, e := s.call(t, "tools/call", map[string]any{"name": "failing_job"}, false); e == nil || e.Code != protocol.CodeMissingCapability || !strings.Contains(string(e.Data), protocol.ExtensionID) {
		t.Errorf("undeclared failing_job (required) = %+v, want -32021 naming the extension", e)
	}
	for _, m := range []string{"tasks/get", "tasks/update", "tasks/cancel"} {
		if _, e := s.call(t, m, map[string]any{"taskId": "x"}, false); e == nil || e.Code != protocol.CodeMissingCapability {
			t.Errorf("undeclared %s = %+v, want -32021", m, e)
		}
	}
	for _, m := range []string{"tasks/result", "tasks/list"} {
		if _, e := s.call(t, m, map[string]any{"taskId": "x"}, true); e == nil || e.Code != -32601 {
			t.Errorf("%s = %+v, want -32601", m, e)
		}
	}
	if _, e := s.call(t, "tasks/get", map[string]any{"taskId": "nope"}, true); e == nil || e.Code != -32602 {
		t.Errorf("tasks/get of an unknown id = %+v, want -32602", e)
	}
}

// A task whose tool asks for input waits in input_required; tasks/update
// answers part, then all, and the tool runs again with the answers.
func TestExtension_InputInsideTask(t *testing.T) {
	s := newStateless(t, nil)
	id, _ := s.mustCall(t, "tools/call", map[string]any{"name": "multi_input"})["taskId"].(string)
	if id == "" {
		t.Fatal("multi_input made no task")
	}
	got := s.waitStatus(t, id, "input_required")
	asks, _ := got["inputRequests"].(map[string]any)
	if len(asks) != 2 {
		t.Fatalf("inputRequests = %v, want two", got["inputRequests"])
	}
	accept := map[string]any{"action": "accept", "content": map[string]any{"name": "Ada", "confirm": true}}
	if ack := s.mustCall(t, "tasks/update", map[string]any{"taskId": id, "inputResponses": map[string]any{"name": accept}}); ack["resultType"] != "complete" || ack["taskId"] != nil {
		t.Errorf("tasks/update ack = %v", ack)
	}
	got = s.mustCall(t, "tasks/get", map[string]any{"taskId": id})
	if asks, _ = got["inputRequests"].(map[string]any); got["status"] != "input_required" || len(asks) != 1 || asks["confirm"] == nil {
		t.Errorf("after a partial update: %v %v, want input_required with confirm only", got["status"], got["inputRequests"])
	}
	s.mustCall(t, "tasks/update", map[string]any{"taskId": id, "inputResponses": map[string]any{"confirm": accept}})
	got = s.waitStatus(t, id, "completed", "failed")
	if want := "name: accept (Ada); confirmation: accept (true)"; got["status"] != "completed" || text(got["result"].(map[string]any)) != want {
		t.Errorf("task = %v %v, want completed with %q", got["status"], got["result"], want)
	}
}

// tasks/cancel acks, settles the task cancelled and ends the tool; a
// cancel of a terminal task acks too; an unknown id is -32602.
func TestExtension_Cancel(t *testing.T) {
	s := newStateless(t, nil)
	id, _ := s.mustCall(t, "tools/call", map[string]any{"name": "slow_compute", "arguments": map[string]any{"seconds": 60}})["taskId"].(string)
	for range 2 {
		if ack := s.mustCall(t, "tasks/cancel", map[string]any{"taskId": id}); ack["resultType"] != "complete" || ack["status"] != nil {
			t.Errorf("tasks/cancel = %v", ack)
		}
	}
	s.waitStatus(t, id, "cancelled")
	deadline := time.Now().Add(10 * time.Second)
	for s.m.Running() > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the cancelled task's call still runs")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, e := s.call(t, "tasks/cancel", map[string]any{"taskId": "nope"}, true); e == nil || e.Code != -32602 {
		t.Errorf("tasks/cancel of an unknown id = %+v, want -32602", e)
	}
}

// A first round of input requests is answered directly (multi round-trip
// before the task); the required tool's next round is a task.
func TestExtension_InputBeforeTask(t *testing.T) {
	s := newStateless(t, nil)
	res := s.mustCall(t, "tools/call", map[string]any{"name": "test_tool_with_task"})
	if res["resultType"] != "input_required" || res["taskId"] != nil {
		t.Fatalf("round 1 = %v, want input_required", res)
	}
	res = s.mustCall(t, "tools/call", map[string]any{"name": "test_tool_with_task", "inputResponses": map[string]any{
		"user_name": map[string]any{"action": "accept", "content": map[string]any{"name": "Alice"}},
	}})
	id, _ := res["taskId"].(string)
	if res["resultType"] != "task" || id == "" {
		t.Fatalf("round 2 = %v, want a task", res)
	}
	got := s.waitStatus(t, id, "completed")
	if !strings.Contains(text(got["result"].(map[string]any)), "Alice") {
		t.Errorf("result = %v", got["result"])
	}
}

// Policy.After < 0 makes every call of a task-supporting tool a task at
// once, its first round of input requests included.
func TestExtension_AfterNegativeTasksAtOnce(t *testing.T) {
	s := newStateless(t, &protocol.Policy{Tools: map[string]string{"test_tool_*": protocol.Optional}, After: -1})
	res := s.mustCall(t, "tools/call", map[string]any{"name": "test_tool_with_task"})
	id, _ := res["taskId"].(string)
	if id == "" {
		t.Fatalf("tools/call = %v, want a task", res)
	}
	s.waitStatus(t, id, "input_required")
	if res := s.mustCall(t, "tools/call", map[string]any{"name": "greet", "arguments": map[string]any{"name": "x"}}); res["taskId"] != nil {
		t.Errorf("greet (no task support) = %v", res)
	}
}

// A task of a tool that the server annotates idempotentHint is retryable:
// the Manager may run it again after its process died.
func TestExtension_IdempotentHintMakesRetryable(t *testing.T) {
	st := memstore.New(nil)
	m := tasks.NewManager(st, nil)
	defer m.Close()
	srv := mcp.NewServer(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	slow := func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil
	}
	srv.AddTool(&mcp.Tool{Name: "safe", InputSchema: map[string]any{"type": "object"}, Annotations: &mcp.ToolAnnotations{IdempotentHint: true}}, slow)
	srv.AddTool(&mcp.Tool{Name: "unsafe", InputSchema: map[string]any{"type": "object"}}, slow)
	ext, err := protocol.NewExtension(srv, transport.NewStateless(srv, nil), m, &protocol.ExtensionOptions{Policy: &protocol.Policy{Tools: map[string]string{"*": protocol.Optional}, After: -1}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(ext)
	defer ts.Close()
	s := &statelessServer{url: ts.URL, st: st, m: m}
	for tool, want := range map[string]bool{"safe": true, "unsafe": false} {
		id, _ := s.mustCall(t, "tools/call", map[string]any{"name": tool})["taskId"].(string)
		got, err := tasks.Read(context.Background(), st, id)
		if err != nil || got.Retryable != want {
			t.Errorf("%s: task %v retryable %v, want %v", tool, err, got != nil && got.Retryable, want)
		}
	}
}
