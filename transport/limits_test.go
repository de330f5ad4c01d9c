package transport_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/mooring-dev/mooring/session"
)

// rpcError reads a JSON-RPC error answer.
func rpcError(t *testing.T, resp *http.Response) (id any, code int64, msg string) {
	t.Helper()
	body, _ := io.ReadAll(resp.Body)
	var m struct {
		ID    any `json:"id"`
		Error struct {
			Code    int64  `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("answer %q: %v", body, err)
	}
	return m.ID, m.Error.Code, m.Error.Message
}

// An initialize whose params pass the record cap is refused with 413 and
// -32602 before a session is made; nothing is stored.
func TestInitialize_RecordTooLarge(t *testing.T) {
	e := newEnvWith(t, nil, &session.Options{MaxRecordBytes: 4096})
	big := `{"jsonrpc":"2.0","id":7,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"` +
		strings.Repeat("x", 5000) + `","version":"1"}}}`
	resp := e.do(t, rawReq{method: http.MethodPost, body: big})
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", resp.StatusCode)
	}
	id, code, msg := rpcError(t, resp)
	if id != float64(7) || code != -32602 || !strings.Contains(msg, "at most 4096") {
		t.Errorf("answer id %v code %d %q; want id 7, -32602 and the cap", id, code, msg)
	}
	if resp.Header.Get("Mcp-Session-Id") != "" || e.mgr.Len() != 0 {
		t.Errorf("a session was made (%q, %d live)", resp.Header.Get("Mcp-Session-Id"), e.mgr.Len())
	}
	// The same client with small params is served.
	e.initialize(t)
}

// Past the cap on stored sessions, initialize gets 503 with Retry-After;
// the sessions already there go on.
func TestInitialize_StoreFull(t *testing.T) {
	e := newEnvWith(t, nil, &session.Options{MaxStored: 2})
	sids := []string{e.initialize(t), e.initialize(t)}
	resp := e.do(t, rawReq{method: http.MethodPost, body: initBody})
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("third initialize: status %d, Retry-After %q; want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if _, _, msg := rpcError(t, resp); !strings.Contains(msg, "max-stored-sessions") {
		t.Errorf("message %q does not name the cap", msg)
	}
	for _, sid := range sids {
		r := e.do(t, rawReq{method: http.MethodPost, headers: map[string]string{"Mcp-Session-Id": sid},
			body: `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`})
		if r.StatusCode != http.StatusOK {
			t.Errorf("session %s: tools/list status %d", sid, r.StatusCode)
		}
	}
}
