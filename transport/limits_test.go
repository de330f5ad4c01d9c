package transport_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/internal/httplimit"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/transport"
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

// A body that does not arrive before the server's read deadline (mooring
// --read-timeout, httplimit's BodyTimeout) is answered 408 with a JSON-RPC
// error that says so, not 400 as if it were malformed.
func TestPost_BodyTimeout(t *testing.T) {
	st := memstore.New(nil)
	mgr := session.New(st, backend.NewInProcess(testServer()), nil)
	srv := httptest.NewServer(httplimit.Handler(transport.New(mgr, nil), httplimit.Options{BodyTimeout: 200 * time.Millisecond}))
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close(); mgr.Close(); st.Close() })
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\":"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	defer resp.Body.Close()
	if _, _, msg := rpcError(t, resp); resp.StatusCode != http.StatusRequestTimeout || !strings.Contains(msg, "did not arrive in time") {
		t.Errorf("stalled body: %d %q, want 408 saying the body did not arrive in time", resp.StatusCode, msg)
	}
}
