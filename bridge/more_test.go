package bridge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/internal/stdiotest"
	"github.com/mooring-dev/mooring/internal/tcpproxy"
)

// statelessMeta is the _meta of a 2026-07-28 request.
func statelessMeta() map[string]any {
	return map[string]any{
		metaVersionKey:                               Stateless,
		"io.modelcontextprotocol/clientInfo":         map[string]any{"name": "t", "version": "1"},
		"io.modelcontextprotocol/clientCapabilities": map[string]any{},
	}
}

func statelessCall(id int, method string, params map[string]any) map[string]any {
	params["_meta"] = statelessMeta()
	return map[string]any{"id": id, "method": method, "params": params}
}

// In the 2026-07-28 era a broken stream cannot be resumed: the bridge sends
// a read-only tool's call again, and answers a call that may have side
// effects with an error instead of running it twice.
func TestStateless_RepeatsOnlySafeCalls(t *testing.T) {
	s := newServer(t, true)
	p, err := tcpproxy.New(s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c := startBridge(t, "http://"+p.Addr()+"/mcp", nil)
	c.Send(statelessCall(1, "tools/list", map[string]any{}))
	if m := c.Answer(1, 10*time.Second); m.Error != nil || !strings.Contains(string(m.Result), "count_ro") {
		t.Fatalf("tools/list: %s %+v", m.Result, m.Error)
	}

	args := map[string]any{"n": 20, "interval_ms": 50}
	c.Send(statelessCall(2, "tools/call", map[string]any{"name": "count", "arguments": args}))
	if got := s.waitStarted(); got != "count" {
		t.Fatalf("started %s", got)
	}
	p.Cut()
	m := c.Answer(2, 20*time.Second)
	if m.Error == nil || !strings.Contains(m.Error.Message, "was not repeated") {
		t.Fatalf("count across a cut: %s %+v, want the not-repeated error", m.Result, m.Error)
	}

	c.Send(statelessCall(3, "tools/call", map[string]any{"name": "count_ro", "arguments": args}))
	if got := s.waitStarted(); got != "count_ro" {
		t.Fatalf("started %s", got)
	}
	p.Cut()
	if got := stdiotest.ResultText(t, c.Answer(3, 20*time.Second)); got != "counted 20" {
		t.Fatalf("count_ro across a cut: %q", got)
	}
	if got := s.waitStarted(); got != "count_ro" {
		t.Fatalf("the repeat started %s", got)
	}
	// Every request carried the era's headers.
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, h := range s.headers {
		if h.Get("Mcp-Protocol-Version") != Stateless || h.Get("Mcp-Method") == "" || h.Get("Mcp-Session-Id") != "" {
			t.Fatalf("request headers %v", h)
		}
		if h.Get("Mcp-Method") == "tools/call" && !strings.HasPrefix(h.Get("Mcp-Name"), "count") {
			t.Fatalf("tools/call without Mcp-Name: %v", h)
		}
	}
}

// A server-to-client request (sampling) reaches the client, and the
// client's reply reaches the server.
func TestServerRequest_Relayed(t *testing.T) {
	s := newSDKServer(t)
	c := startBridge(t, s.url(), nil)
	c.Send(map[string]any{"id": 1, "method": "initialize", "params": map[string]any{
		"protocolVersion": "2025-11-25", "capabilities": map[string]any{"sampling": map[string]any{}},
		"clientInfo": map[string]any{"name": "t", "version": "1"},
	}})
	c.Answer(1, 10*time.Second)
	c.Send(map[string]any{"method": "notifications/initialized"})
	c.Send(callTool(2, "ask", map[string]any{}, ""))
	req := c.Wait(10*time.Second, "the sampling request", func(m msg) bool { return m.Method == "sampling/createMessage" })
	c.Send(map[string]any{"id": req.ID, "result": map[string]any{
		"role": "assistant", "model": "m", "content": map[string]any{"type": "text", "text": "from the client"},
	}})
	if got := stdiotest.ResultText(t, c.Answer(2, 10*time.Second)); got != "from the client" {
		t.Fatalf("got %q", got)
	}
}

// notifications/cancelled reaches the server, which stops the call.
func TestCancel_Relayed(t *testing.T) {
	s := newSDKServer(t)
	c := startBridge(t, s.url(), nil)
	c.Initialize(20 * time.Second)
	c.Send(callTool(2, "count", map[string]any{"n": 1000, "interval_ms": 20}, ""))
	s.waitStarted()
	c.Send(map[string]any{"method": "notifications/cancelled", "params": map[string]any{"requestId": 2, "reason": "user"}})
	select {
	case got := <-s.cancelled:
		if got != "count" {
			t.Fatalf("cancelled %s", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server's call was not cancelled")
	}
}

// --header and --bearer-token-file reach the server on every request; the
// token file is read again, so a refreshed token is used.
func TestHeaders_AndTokenFile(t *testing.T) {
	s := newSDKServer(t)
	tok := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tok, []byte("one\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startBridge(t, s.url(), &Options{Header: map[string][]string{"X-Api-Key": {"k"}}, TokenFile: tok})
	c.Initialize(20 * time.Second)
	if err := os.WriteFile(tok, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	c.Send(map[string]any{"id": 2, "method": "tools/list"})
	c.Answer(2, 10*time.Second)
	s.mu.Lock()
	defer s.mu.Unlock()
	first, last := s.headers[0], s.headers[len(s.headers)-1]
	if first.Get("X-Api-Key") != "k" || first.Get("Authorization") != "Bearer one" {
		t.Fatalf("first request headers %v", first)
	}
	if last.Get("X-Api-Key") != "k" || last.Get("Authorization") != "Bearer two" {
		t.Fatalf("last request headers %v", last)
	}
}

// --protocol pins an era: a request of the other gets -32022 with the
// supported version, so that a dual-era client falls back.
func TestProtocol_Pinned(t *testing.T) {
	s := newSDKServer(t)
	c := startBridge(t, s.url(), &Options{Protocol: Sessionful})
	c.Send(statelessCall(1, "server/discover", map[string]any{}))
	m := c.Answer(1, 10*time.Second)
	if m.Error == nil || m.Error.Code != codeUnsupportedVersion {
		t.Fatalf("server/discover: %s %+v, want -32022", m.Result, m.Error)
	}
	c2 := startBridge(t, s.url(), &Options{Protocol: Stateless})
	c2.Send(map[string]any{"id": 1, "method": "initialize", "params": map[string]any{"protocolVersion": "2025-11-25"}})
	if m := c2.Answer(1, 10*time.Second); m.Error == nil || m.Error.Code != codeUnsupportedVersion {
		t.Fatalf("initialize: %s %+v, want -32022", m.Result, m.Error)
	}
}

// Against a server without an event store (its streams carry no ids) a
// stream cut before the answer cannot be resumed: a read-only tool's call
// is sent again, any other fails with an error that says so.
func TestCut_NoEventStore(t *testing.T) {
	s := newSDKServer(t)
	s.noEvents = true
	s.restart()
	p, err := tcpproxy.New(s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c := startBridge(t, "http://"+p.Addr()+"/mcp", nil)
	c.Initialize(20 * time.Second)
	c.Send(map[string]any{"id": 2, "method": "tools/list"})
	c.Answer(2, 10*time.Second)

	args := map[string]any{"n": 20, "interval_ms": 50}
	c.Send(callTool(3, "count", args, ""))
	s.waitStarted()
	p.Cut()
	m := c.Answer(3, 20*time.Second)
	if m.Error == nil || !strings.Contains(m.Error.Message, "was not repeated") {
		t.Fatalf("count across a cut: %s %+v, want the not-repeated error", m.Result, m.Error)
	}
	c.Send(callTool(4, "count_ro", args, ""))
	s.waitStarted()
	p.Cut()
	if got := stdiotest.ResultText(t, c.Answer(4, 20*time.Second)); got != "counted 20" {
		t.Fatalf("count_ro across a cut: %q", got)
	}
}

// Tool arguments that the tool's schema marks with x-mcp-header travel in
// Mcp-Param headers too (base64 when not plain ASCII), as 2026-07-28
// requires; go-sdk's server refuses the call without them.
func TestStateless_ParamHeaders(t *testing.T) {
	s := newServer(t, true)
	c := startBridge(t, s.url(), nil)
	c.Send(statelessCall(1, "tools/list", map[string]any{}))
	c.Answer(1, 10*time.Second)
	c.Send(statelessCall(2, "tools/call", map[string]any{"name": "where",
		"arguments": map[string]any{"region": "Zürich ", "opts": map[string]any{"zone": 7}}}))
	if got := stdiotest.ResultText(t, c.Answer(2, 10*time.Second)); !strings.Contains(got, "Zürich") {
		t.Fatalf("got %q", got)
	}
	s.mu.Lock()
	h := s.headers[len(s.headers)-1]
	s.mu.Unlock()
	if h.Get("Mcp-Param-Region") != "=?base64?WsO8cmljaCA=?=" || h.Get("Mcp-Param-Zone") != "7" {
		t.Fatalf("headers %v", h)
	}
}

// The encoding examples of the 2026-07-28 transport spec.
func TestHeaderValue(t *testing.T) {
	for in, want := range map[string]string{
		"us-west1":           "us-west1",
		"Hello, 世界":          "=?base64?SGVsbG8sIOS4lueVjA==?=",
		" padded ":           "=?base64?IHBhZGRlZCA=?=",
		"line1\nline2":       "=?base64?bGluZTEKbGluZTI=?=",
		"=?base64?literal?=": "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=",
	} {
		if got := headerValue(in); got != want {
			t.Errorf("headerValue(%q) = %q, want %q", in, got, want)
		}
	}
}
