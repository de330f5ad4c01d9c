package e2e

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/mooring-dev/mooring/internal/oauthtest"
	"github.com/mooring-dev/mooring/internal/redistest"
)

// modern sends one 2026-07-28 request (declaring the tasks extension) with
// token and returns the JSON-RPC result and error, as raw JSON.
func modern(t *testing.T, url, token, method string, params map[string]any) (result map[string]any, rpcErr string) {
	t.Helper()
	params["_meta"] = map[string]any{
		"io.modelcontextprotocol/protocolVersion":    "2026-07-28",
		"io.modelcontextprotocol/clientCapabilities": map[string]any{"extensions": map[string]any{"io.modelcontextprotocol/tasks": map[string]any{}}},
		"io.modelcontextprotocol/clientInfo":         map[string]any{"name": "e2e", "version": "1"},
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
	hdr := map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": method}
	if id, ok := params["taskId"].(string); ok {
		hdr["Mcp-Name"] = id
	} else if name, ok := params["name"].(string); ok {
		hdr["Mcp-Name"] = name
	}
	got := raw(t, http.MethodPost, url, token, "", hdr, string(body))
	data := got.body
	if strings.HasPrefix(got.header.Get("Content-Type"), "text/event-stream") {
		for _, line := range strings.Split(data, "\n") {
			if d, ok := strings.CutPrefix(line, "data: "); ok && strings.Contains(d, `"id"`) {
				data = d
			}
		}
	}
	var msg struct {
		Result map[string]any  `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal([]byte(data), &msg); err != nil {
		t.Fatalf("%s: %d %q: %v", method, got.status, got.body, err)
	}
	return msg.Result, string(msg.Error)
}

// A task made by alice in the stateless era is hers: bob's valid token with
// her task id gets, from every task method and on either replica, exactly
// what an id that never existed gets; alice sees and ends her task from
// either replica.
func TestAuth_TaskBoundToPrincipal(t *testing.T) {
	is := oauthtest.NewIssuer(t)
	srv := redistest.Start(t)
	args := append(authArgs(is), "--store", "redis", "--redis-url", srv.URL(), "--store-fallback", "fail")
	a := start(t, freeAddr(t), args...)
	b := start(t, freeAddr(t), args...)
	alice := is.Token(is.Claims("alice", publicURL, "mcp"))
	bob := is.Token(is.Claims("bob", publicURL, "mcp"))

	res, e := modern(t, a.url(), alice, "tools/call", map[string]any{"name": "slow_compute", "arguments": map[string]any{"seconds": 30}})
	id, _ := res["taskId"].(string)
	if e != "" || id == "" {
		t.Fatalf("alice's slow_compute: %v %s; want a task", res, e)
	}
	for _, p := range []*proc{a, b} {
		for _, method := range []string{"tasks/get", "tasks/update", "tasks/cancel"} {
			params := func(id string) map[string]any {
				m := map[string]any{"taskId": id}
				if method == "tasks/update" {
					m["inputResponses"] = map[string]any{}
				}
				return m
			}
			_, unknown := modern(t, p.url(), bob, method, params("0123456789abcdef0123456789abcdef"))
			got, foreign := modern(t, p.url(), bob, method, params(id))
			if unknown == "" || foreign != strings.ReplaceAll(unknown, "0123456789abcdef0123456789abcdef", id) {
				t.Errorf("%s of alice's task by bob on %s: %v %s; want what an unknown id gets: %s", method, p.addr, got, foreign, unknown)
			}
		}
		if got, e := modern(t, p.url(), alice, "tasks/get", map[string]any{"taskId": id}); e != "" || got["status"] != "working" {
			t.Errorf("alice's tasks/get on %s: %v %s", p.addr, got, e)
		}
	}
	if _, e := modern(t, b.url(), alice, "tasks/cancel", map[string]any{"taskId": id}); e != "" {
		t.Errorf("alice's tasks/cancel: %s", e)
	}
}

// The requestState of a 2026-07-28 input_required result is bound to the
// user it went to: bob sending alice's state back gets the error of a state
// that fails its check; alice completes the call with it.
func TestAuth_RequestStateBoundToPrincipal(t *testing.T) {
	is := oauthtest.NewIssuer(t)
	p := start(t, freeAddr(t), append(authArgs(is), "--store", "memory")...)
	checkRequestStateBound(t, is, p.url())
}

// checkRequestStateBound asks the mooring at url, as alice, for a
// 2026-07-28 input_required result, then sends its requestState back as
// bob (refused: -32602, the state fails its integrity check) and as alice
// (the call completes).
func checkRequestStateBound(t *testing.T, is *oauthtest.Issuer, url string) {
	t.Helper()
	alice := is.Token(is.Claims("alice", publicURL, "mcp"))
	bob := is.Token(is.Claims("bob", publicURL, "mcp"))
	const tool = "test_input_required_result_request_state"
	res, e := modern(t, url, alice, "tools/call", map[string]any{"name": tool, "arguments": map[string]any{}})
	state, _ := res["requestState"].(string)
	if e != "" || res["resultType"] != "input_required" || state == "" {
		t.Fatalf("first round: %v %s; want input_required with a requestState", res, e)
	}
	answer := func(token string) (map[string]any, string) {
		return modern(t, url, token, "tools/call", map[string]any{"name": tool, "arguments": map[string]any{},
			"inputResponses": map[string]any{"confirm": map[string]any{"action": "accept", "content": map[string]any{"ok": true}}},
			"requestState":   state})
	}
	if got, e := answer(bob); !strings.Contains(e, "-32602") || !strings.Contains(e, "integrity") {
		t.Errorf("bob with alice's requestState: %v %s; want -32602 integrity check", got, e)
	}
	if got, e := answer(alice); e != "" || !strings.Contains(firstText(got), "state-ok") {
		t.Errorf("alice with her requestState: %v %s", got, e)
	}
}

func firstText(res map[string]any) string {
	content, _ := res["content"].([]any)
	if len(content) == 0 {
		return ""
	}
	c, _ := content[0].(map[string]any)
	s, _ := c["text"].(string)
	return s
}
