package transport_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/transport"
)

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

type rawReq struct {
	method  string
	headers map[string]string
	body    string
}

func (e *env) do(t *testing.T, r rawReq) *http.Response {
	t.Helper()
	req, err := http.NewRequest(r.method, e.url, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	}
	if r.method == http.MethodGet {
		req.Header.Set("Accept", "text/event-stream")
	}
	for k, v := range r.headers {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// initialize opens a session over raw HTTP and returns its id.
func (e *env) initialize(t *testing.T) string {
	t.Helper()
	resp := e.do(t, rawReq{method: http.MethodPost, body: initBody})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("initialize: status %d", resp.StatusCode)
	}
	sid := resp.Header.Get("Mcp-Session-Id")
	if len(sid) < 32 {
		t.Fatalf("session id %q: want at least 128 bits", sid)
	}
	readEvents(t, resp.Body, 2)
	e.do(t, rawReq{method: http.MethodPost, headers: map[string]string{"Mcp-Session-Id": sid}, body: `{"jsonrpc":"2.0","method":"notifications/initialized"}`})
	return sid
}

type sseEvent struct{ id, data string }

// readEvents reads n SSE events (comments skipped).
func readEvents(t *testing.T, r io.Reader, n int) []sseEvent {
	t.Helper()
	br := bufio.NewReader(r)
	var out []sseEvent
	var cur sseEvent
	for len(out) < n {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("reading SSE after %d events: %v", len(out), err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if cur.id != "" || cur.data != "" {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "data: "):
			cur.data = line[6:]
		}
	}
	return out
}

func TestHandler_BadInput(t *testing.T) {
	e := newEnv(t, &transport.Options{MaxBodyBytes: 1024, LocalOnly: true})
	sid := e.initialize(t)
	withSession := func(h map[string]string) map[string]string {
		h["Mcp-Session-Id"] = sid
		return h
	}
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	tests := []struct {
		name     string
		req      rawReq
		want     int
		wantCode int // JSON-RPC error code in the body, 0 to skip
	}{
		{"no session id", rawReq{method: "POST", body: call}, 400, -32600},
		{"unknown session", rawReq{method: "POST", headers: map[string]string{"Mcp-Session-Id": "nope"}, body: call}, 404, 0},
		{"malformed session id", rawReq{method: "POST", headers: map[string]string{"Mcp-Session-Id": "has space"}, body: call}, 404, 0},
		{"unsupported protocol version", rawReq{method: "POST", headers: withSession(map[string]string{"Mcp-Protocol-Version": "1999-01-01"}), body: call}, 400, -32022},
		{"accept without event-stream", rawReq{method: "POST", headers: withSession(map[string]string{"Accept": "application/json"}), body: call}, 406, 0},
		{"accept without json", rawReq{method: "POST", headers: withSession(map[string]string{"Accept": "text/event-stream"}), body: call}, 406, 0},
		{"wrong content type", rawReq{method: "POST", headers: withSession(map[string]string{"Content-Type": "text/plain"}), body: call}, 415, 0},
		{"body over the limit", rawReq{method: "POST", headers: withSession(map[string]string{}), body: `{"jsonrpc":"2.0","id":3,"method":"tools/list","params":{"x":"` + strings.Repeat("a", 2000) + `"}}`}, 413, 0},
		{"malformed JSON", rawReq{method: "POST", headers: withSession(map[string]string{}), body: `{"jsonrpc":`}, 400, -32700},
		{"batch", rawReq{method: "POST", headers: withSession(map[string]string{}), body: "[" + call + "]"}, 400, -32600},
		{"PUT", rawReq{method: "PUT", headers: withSession(map[string]string{})}, 405, 0},
		{"foreign origin", rawReq{method: "POST", headers: withSession(map[string]string{"Origin": "http://evil.example.com"}), body: call}, 403, 0},
		{"foreign host", rawReq{method: "POST", headers: map[string]string{"Host": "evil.example.com"}, body: initBody}, 403, 0},
		{"GET without session", rawReq{method: "GET"}, 400, 0},
		{"GET without event-stream accept", rawReq{method: "GET", headers: withSession(map[string]string{"Accept": "application/json"})}, 406, 0},
		{"GET with foreign event id", rawReq{method: "GET", headers: withSession(map[string]string{"Last-Event-ID": "garbage"})}, 400, 0},
		{"GET with an event id of no stream", rawReq{method: "GET", headers: withSession(map[string]string{"Last-Event-ID": "99_5"})}, 400, -32600},
		{"method null", rawReq{method: "POST", headers: withSession(map[string]string{}), body: `{"jsonrpc":"2.0","id":5,"method":null}`}, 400, -32600},
		{"method null beside a result", rawReq{method: "POST", headers: withSession(map[string]string{}), body: `{"jsonrpc":"2.0","id":5,"method":null,"result":{}}`}, 400, -32600},
		{"method a number", rawReq{method: "POST", headers: withSession(map[string]string{}), body: `{"jsonrpc":"2.0","id":5,"method":7}`}, 400, -32600},
		{"reply without result or error", rawReq{method: "POST", headers: withSession(map[string]string{}), body: `{"jsonrpc":"2.0","id":"x"}`}, 400, -32600},
		{"id not UTF-8", rawReq{method: "POST", headers: withSession(map[string]string{}), body: "{\"jsonrpc\":\"2.0\",\"id\":\"a\xffb\",\"method\":\"ping\"}"}, 400, -32600},
		{"id with a lone surrogate", rawReq{method: "POST", headers: withSession(map[string]string{}), body: `{"jsonrpc":"2.0","id":"a\ud800b","method":"ping"}`}, 400, -32600},
		{"id with U+FFFD spelled out", rawReq{method: "POST", headers: withSession(map[string]string{}), body: `{"jsonrpc":"2.0","id":"a\ufffd�b","method":"ping"}`}, 200, 0},
		{"initialize params not an object", rawReq{method: "POST", body: `{"jsonrpc":"2.0","id":1,"method":"initialize","params":"x"}`}, 400, -32602},
		{"params an array", rawReq{method: "POST", headers: withSession(map[string]string{}), body: `{"jsonrpc":"2.0","id":9,"method":"tools/list","params":[1]}`}, 400, -32602},
		{"DELETE unknown", rawReq{method: "DELETE", headers: map[string]string{"Mcp-Session-Id": "nope"}}, 404, 0},
		{"loopback origin is fine", rawReq{method: "POST", headers: withSession(map[string]string{"Origin": "http://localhost:3000"}), body: `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":99}}`}, 202, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if h := tc.req.headers["Host"]; h != "" {
				tc.req.headers = map[string]string{}
				req, _ := http.NewRequest("POST", e.url, strings.NewReader(tc.req.body))
				req.Host = h
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/json, text/event-stream")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.want {
					t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
				}
				return
			}
			resp := e.do(t, tc.req)
			if resp.StatusCode != tc.want {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.want, b)
			}
			if tc.want == 405 && resp.Header.Get("Allow") == "" {
				t.Error("405 without Allow")
			}
			if tc.wantCode != 0 {
				var body struct {
					Error struct{ Code int } `json:"error"`
				}
				if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
					t.Fatalf("decoding error body: %v", err)
				}
				if body.Error.Code != tc.wantCode {
					t.Errorf("JSON-RPC code %d, want %d", body.Error.Code, tc.wantCode)
				}
			}
		})
	}
	// Bad input changed nothing: the session still answers.
	resp := e.do(t, rawReq{method: "POST", headers: withSession(map[string]string{}), body: call})
	if resp.StatusCode != 200 {
		t.Fatalf("session after bad input: status %d", resp.StatusCode)
	}
}

func TestHandler_DeleteEndsSession(t *testing.T) {
	e := newEnv(t, nil)
	sid := e.initialize(t)
	h := map[string]string{"Mcp-Session-Id": sid}
	if resp := e.do(t, rawReq{method: "DELETE", headers: h}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: status %d", resp.StatusCode)
	}
	resp := e.do(t, rawReq{method: "POST", headers: h, body: `{"jsonrpc":"2.0","id":5,"method":"tools/list"}`})
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("after DELETE: status %d, want 404", resp.StatusCode)
	}
}

// A Last-Event-ID of session A sent under session B reveals nothing of A.
func TestHandler_LastEventIDIsolation(t *testing.T) {
	e := newEnv(t, nil)
	a := e.initialize(t)
	b := e.initialize(t)
	resp := e.do(t, rawReq{method: "POST", headers: map[string]string{"Mcp-Session-Id": a},
		body: `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"secret-of-a"}}}`})
	evs := readEvents(t, resp.Body, 2)
	if !strings.Contains(evs[1].data, "secret-of-a") {
		t.Fatalf("A's call: got %+v", evs)
	}
	// Resuming A's stream from its priming event, under A, replays the answer.
	ra := e.do(t, rawReq{method: "GET", headers: map[string]string{"Mcp-Session-Id": a, "Last-Event-ID": evs[0].id}})
	if ra.StatusCode != 200 {
		t.Fatalf("resume under A: status %d", ra.StatusCode)
	}
	if got := readEvents(t, ra.Body, 1); !strings.Contains(got[0].data, "secret-of-a") {
		t.Fatalf("resume under A: got %+v", got)
	}
	// The same id under B gets nothing of A.
	rb := e.do(t, rawReq{method: "GET", headers: map[string]string{"Mcp-Session-Id": b, "Last-Event-ID": evs[0].id}})
	body := make(chan string, 1)
	go func() { all, _ := io.ReadAll(rb.Body); body <- string(all) }()
	select {
	case got := <-body:
		if strings.Contains(got, "secret-of-a") {
			t.Fatalf("session B saw A's event: %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("resume under B neither ended nor answered")
	}
}

// The backend sees the client's HTTP headers, as with go-sdk's own handler,
// but never a route the client chose.
func TestHandler_HeadersReachTheBackend(t *testing.T) {
	e := newEnv(t, nil)
	sid := e.initialize(t)
	resp := e.do(t, rawReq{method: "POST", headers: map[string]string{
		"Mcp-Session-Id": sid, "X-Tenant": "acme", "Mooring-Stream": "g",
	}, body: `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"headers"}}`})
	evs := readEvents(t, resp.Body, 2)
	if !strings.Contains(evs[1].data, `X-Tenant=acme`) {
		t.Fatalf("backend did not see the client's header: %s", evs[1].data)
	}
	if strings.Contains(evs[1].data, `Mooring-Stream=g`) {
		t.Fatalf("the client chose the route: %s", evs[1].data)
	}
}
