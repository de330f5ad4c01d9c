package mooring_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/compress"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/tasks"
	"github.com/mooring-dev/mooring/tasks/protocol"
)

// Options.Tasks gives a mounted go-sdk server durable tasks: a 2026-07-28
// call of a configured tool that runs past the window is a task whose
// result tasks/get returns.
func TestNew_Tasks(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "mine", Version: "1"}, nil)
	srv.AddTool(&mcp.Tool{Name: "report", InputSchema: map[string]any{"type": "object"}}, func(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		time.Sleep(600 * time.Millisecond)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "the report"}}}, nil
	})
	h := mooring.New(srv, memstore.New(nil), &mooring.Options{Tasks: &protocol.Policy{Tools: map[string]string{"report": protocol.Optional}}})
	defer h.Close()
	ts := httptest.NewServer(h)
	defer ts.Close()

	post := func(method string, params map[string]any) map[string]any {
		params["_meta"] = map[string]any{
			"io.modelcontextprotocol/protocolVersion":    "2026-07-28",
			"io.modelcontextprotocol/clientCapabilities": map[string]any{"extensions": map[string]any{protocol.ExtensionID: map[string]any{}}},
			"io.modelcontextprotocol/clientInfo":         map[string]any{"name": "t", "version": "1"},
		}
		body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
		req, _ := http.NewRequest(http.MethodPost, ts.URL, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
		req.Header.Set("Mcp-Method", method)
		if n, ok := params["name"].(string); ok {
			req.Header.Set("Mcp-Name", n)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		for _, line := range strings.Split(string(data), "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok && strings.Contains(d, `"id"`) {
				data = []byte(d)
			}
		}
		var msg struct{ Result map[string]any }
		if err := json.Unmarshal(data, &msg); err != nil || msg.Result == nil {
			t.Fatalf("%s: %s", method, data)
		}
		return msg.Result
	}
	id, _ := post("tools/call", map[string]any{"name": "report"})["taskId"].(string)
	if id == "" {
		t.Fatal("no task")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := post("tasks/get", map[string]any{"taskId": id})
		if got["status"] == "completed" {
			if !strings.Contains(jsonText(got["result"]), "the report") {
				t.Errorf("result = %v", got["result"])
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("task status %v", got["status"])
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// A store given already wrapped in compress (as cmd/mooring wraps its own)
// keeps tasks underneath: New takes them there instead of panicking that
// the store keeps none.
func TestNew_TasksOnACompressedStore(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "mine", Version: "1"}, nil)
	st := compress.Wrap(memstore.New(nil), &compress.Options{Enabled: true})
	h := mooring.New(srv, st, &mooring.Options{Tasks: &protocol.Policy{Tools: map[string]string{"report": protocol.Optional}}})
	defer h.Close()
	if h.Tasks() == nil {
		t.Fatal("no task Manager with Options.Tasks")
	}
	task, err := h.Tasks().Create(context.Background(), &tasks.Task{Tool: "report"}, func(context.Context, *tasks.Task) ([]byte, error) {
		return []byte(`{"content":[]}`), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Unwrap().(store.TaskStore).GetTask(context.Background(), task.ID); err != nil {
		t.Fatalf("the task is not in the store beneath the compress wrapper: %v", err)
	}
}
