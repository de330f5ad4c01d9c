package protocol_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/backend/builtin"
	"github.com/mooring-dev/mooring/health"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/tasks"
	"github.com/mooring-dev/mooring/tasks/protocol"
	"github.com/mooring-dev/mooring/transport"
)

// sessionful serves the built-in server's sessions with 2025-11-25 tasks.
func newSessionful(t *testing.T) (string, store.Store) {
	t.Helper()
	st := memstore.New(nil)
	m := tasks.NewManager(st, &tasks.Options{PollInterval: 50 * time.Millisecond})
	sf, err := protocol.NewSessionful(m, &protocol.SessionfulOptions{Policy: &protocol.Policy{Tools: builtin.TaskSupport()}})
	if err != nil {
		t.Fatal(err)
	}
	checker := health.New(health.Options{Store: st, Kind: "memory", Tasks: func(ctx context.Context, scope string, limit int) ([]*tasks.Task, error) {
		list, _, err := m.List(ctx, scope, "", limit)
		return list, err
	}})
	mgr := session.New(st, backend.NewInProcess(builtin.New()), &session.Options{Interceptor: sf, LocalTools: []session.LocalTool{checker.Tool()}})
	sf.Attach(mgr)
	ts := httptest.NewServer(transport.New(mgr, &transport.Options{Mode: transport.JSON}))
	t.Cleanup(func() {
		ts.Close()
		_ = m.Close()
		_ = sf.Close()
		_ = mgr.Close()
	})
	return ts.URL, st
}

type sessionClient struct {
	url, id string
	ids     atomic.Int64
}

func (c *sessionClient) post(t *testing.T, method string, params any) (json.RawMessage, *rpcErr) {
	t.Helper()
	msg := map[string]any{"jsonrpc": "2.0", "method": method, "params": params}
	notify := strings.HasPrefix(method, "notifications/")
	if !notify {
		msg["id"] = c.ids.Add(1)
	}
	body, _ := json.Marshal(msg)
	req, _ := http.NewRequest(http.MethodPost, c.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	if c.id != "" {
		req.Header.Set("Mcp-Session-Id", c.id)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	if id := resp.Header.Get("Mcp-Session-Id"); id != "" {
		c.id = id
	}
	data, _ := io.ReadAll(resp.Body)
	if notify {
		return nil, nil
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		for _, line := range strings.Split(string(data), "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok && strings.Contains(d, `"id"`) {
				data = []byte(d)
			}
		}
	}
	var out struct {
		Result json.RawMessage `json:"result"`
		Error  *rpcErr         `json:"error"`
	}
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("%s: HTTP %d %q", method, resp.StatusCode, data)
	}
	return out.Result, out.Error
}

func (c *sessionClient) must(t *testing.T, method string, params any, v any) {
	t.Helper()
	res, e := c.post(t, method, params)
	if e != nil {
		t.Fatalf("%s: %d %s", method, e.Code, e.Message)
	}
	if err := json.Unmarshal(res, v); err != nil {
		t.Fatalf("%s: %v in %s", method, err, res)
	}
}

func openSession(t *testing.T, url string) (*sessionClient, map[string]any) {
	c := &sessionClient{url: url}
	var init map[string]any
	c.must(t, "initialize", map[string]any{
		"protocolVersion": "2025-11-25", "capabilities": map[string]any{"elicitation": map[string]any{}},
		"clientInfo": map[string]any{"name": "t", "version": "1"},
	}, &init)
	c.post(t, "notifications/initialized", map[string]any{})
	return c, init
}

func TestSessionful_TaskLifecycle(t *testing.T) {
	url, st := newSessionful(t)
	c, init := openSession(t, url)
	caps, _ := init["capabilities"].(map[string]any)
	if tc, _ := caps["tasks"].(map[string]any); tc["list"] == nil || tc["cancel"] == nil || tc["requests"] == nil {
		t.Errorf("capabilities.tasks = %v", caps["tasks"])
	}
	var list struct {
		Tools []struct {
			Name      string         `json:"name"`
			Execution map[string]any `json:"execution"`
		} `json:"tools"`
	}
	c.must(t, "tools/list", map[string]any{}, &list)
	support := map[string]any{}
	for _, tool := range list.Tools {
		support[tool.Name] = tool.Execution["taskSupport"]
	}
	if support["slow_compute"] != "optional" || support["failing_job"] != "required" || support["greet"] != nil {
		t.Errorf("taskSupport: slow_compute %v, failing_job %v, greet %v", support["slow_compute"], support["failing_job"], support["greet"])
	}

	var created struct {
		Task struct {
			TaskID, Status string
			TTL            int64 `json:"ttl"`
		} `json:"task"`
	}
	c.must(t, "tools/call", map[string]any{"name": "slow_compute", "arguments": map[string]any{"seconds": 0.3, "label": "s"}, "task": map[string]any{"ttl": 60000}}, &created)
	id := created.Task.TaskID
	if id == "" || created.Task.Status != "working" || created.Task.TTL != 60000 {
		t.Fatalf("CreateTaskResult = %+v", created)
	}
	var res struct {
		Content []struct{ Text string } `json:"content"`
		Meta    map[string]any          `json:"_meta"`
	}
	c.must(t, "tasks/result", map[string]any{"taskId": id}, &res)
	if len(res.Content) != 1 || !strings.Contains(res.Content[0].Text, `"s"`) || res.Meta["io.modelcontextprotocol/related-task"] == nil {
		t.Errorf("tasks/result = %+v", res)
	}
	var got struct{ Status string }
	c.must(t, "tasks/get", map[string]any{"taskId": id}, &got)
	if got.Status != "completed" {
		t.Errorf("tasks/get status %q", got.Status)
	}
	var tl struct {
		Tasks []struct{ TaskID string } `json:"tasks"`
	}
	c.must(t, "tasks/list", map[string]any{}, &tl)
	if len(tl.Tasks) != 1 || tl.Tasks[0].TaskID != id {
		t.Errorf("tasks/list = %+v", tl)
	}
	if _, e := c.post(t, "tasks/cancel", map[string]any{"taskId": id}); e == nil || e.Code != -32602 {
		t.Errorf("tasks/cancel of a completed task = %+v, want -32602", e)
	}
	// A required tool called plainly: -32601.
	if _, e := c.post(t, "tools/call", map[string]any{"name": "failing_job"}); e == nil || e.Code != -32601 {
		t.Errorf("plain call of a required tool = %+v, want -32601", e)
	}

	// The session heard of the status changes on its GET stream: the
	// completion only, not the creation, which the CreateTaskResult told.
	deadline := time.Now().Add(10 * time.Second)
	for {
		events, err := st.Log(context.Background(), c.id)
		if err != nil {
			t.Fatal(err)
		}
		var seen []string
		for _, ev := range events {
			if bytes.Contains(ev.Data, []byte("notifications/tasks/status")) && bytes.Contains(ev.Data, []byte(id)) {
				var n struct{ Params struct{ Status string } }
				_ = json.Unmarshal(ev.Data, &n)
				seen = append(seen, n.Params.Status)
			}
		}
		if strings.Contains(strings.Join(seen, ","), "completed") {
			if strings.Join(seen, ",") != "completed" {
				t.Errorf("notifications/tasks/status seen: %v, want only completed", seen)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("notifications/tasks/status seen: %v, want one for completed", seen)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// session_health_check lists the caller's tasks, and nobody else's.
	var rep struct {
		StructuredContent struct {
			Tasks []struct{ TaskID, Status, Tool string } `json:"tasks"`
		} `json:"structuredContent"`
	}
	c.must(t, "tools/call", map[string]any{"name": "session_health_check"}, &rep)
	if ts := rep.StructuredContent.Tasks; len(ts) != 1 || ts[0].TaskID != id || ts[0].Status != "completed" || ts[0].Tool != "slow_compute" {
		t.Errorf("session_health_check tasks = %+v", ts)
	}

	// Another session sees nothing of it.
	other, _ := openSession(t, url)
	rep.StructuredContent.Tasks = nil
	other.must(t, "tools/call", map[string]any{"name": "session_health_check"}, &rep)
	if ts := rep.StructuredContent.Tasks; len(ts) != 0 {
		t.Errorf("another session's session_health_check tasks = %+v", ts)
	}
	if _, e := other.post(t, "tasks/get", map[string]any{"taskId": id}); e == nil || e.Code != -32602 {
		t.Errorf("tasks/get from another session = %+v, want -32602", e)
	}
	other.must(t, "tasks/list", map[string]any{}, &tl)
	if len(tl.Tasks) != 0 {
		t.Errorf("another session's tasks/list = %+v", tl)
	}
}

func TestSessionful_CancelAndErrors(t *testing.T) {
	url, _ := newSessionful(t)
	c, _ := openSession(t, url)
	var created struct {
		Task struct{ TaskID string } `json:"task"`
	}
	c.must(t, "tools/call", map[string]any{"name": "slow_compute", "arguments": map[string]any{"seconds": 60}, "task": map[string]any{}}, &created)
	var got struct{ Status string }
	c.must(t, "tasks/cancel", map[string]any{"taskId": created.Task.TaskID}, &got)
	if got.Status != "cancelled" {
		t.Errorf("tasks/cancel = %q, want cancelled", got.Status)
	}
	c.must(t, "tools/call", map[string]any{"name": "protocol_error_job", "task": map[string]any{}}, &created)
	if _, e := c.post(t, "tasks/result", map[string]any{"taskId": created.Task.TaskID}); e == nil || !strings.Contains(e.Message, "internal failure") {
		t.Errorf("tasks/result of a failed task = %+v, want the call's error", e)
	}
	c.must(t, "tools/call", map[string]any{"name": "failing_job", "task": map[string]any{}}, &created)
	var res struct {
		IsError bool `json:"isError"`
	}
	c.must(t, "tasks/result", map[string]any{"taskId": created.Task.TaskID}, &res)
	if !res.IsError {
		t.Errorf("tasks/result of a tool error: isError false")
	}
	if _, e := c.post(t, "tools/call", map[string]any{"name": "greet", "task": map[string]any{}}); e == nil || e.Code != -32601 {
		t.Errorf("task call of greet = %+v, want -32601", e)
	}
}

// A request the server sends the client during a task's call (here the
// elicitation of confirm_delete) carries the related-task _meta; the
// client's answer reaches the server and the task completes.
func TestSessionful_ServerRequestOfTask(t *testing.T) {
	url, st := newSessionful(t)
	c, _ := openSession(t, url)
	var created struct {
		Task struct{ TaskID string } `json:"task"`
	}
	c.must(t, "tools/call", map[string]any{"name": "confirm_delete", "arguments": map[string]any{"filename": "f"}, "task": map[string]any{}}, &created)
	id := created.Task.TaskID
	var ask struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			Meta map[string]struct {
				TaskID string `json:"taskId"`
			} `json:"_meta"`
		} `json:"params"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for ask.Method == "" {
		events, err := st.Log(context.Background(), c.id)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events {
			if bytes.Contains(ev.Data, []byte(`"elicitation/create"`)) {
				_ = json.Unmarshal(ev.Data, &ask)
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no elicitation/create on the session's streams")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := ask.Params.Meta["io.modelcontextprotocol/related-task"].TaskID; got != id {
		t.Errorf("elicitation/create related-task = %q, want %q", got, id)
	}
	reply, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": ask.ID, "result": map[string]any{"action": "accept", "content": map[string]any{"confirm": true}}})
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(reply))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	req.Header.Set("Mcp-Session-Id", c.id)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var res struct {
		Content []struct{ Text string } `json:"content"`
	}
	c.must(t, "tasks/result", map[string]any{"taskId": id}, &res)
	if len(res.Content) != 1 || res.Content[0].Text != `Deleted "f".` {
		t.Errorf("tasks/result = %+v", res)
	}
}
