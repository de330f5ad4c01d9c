package bridge

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/internal/stdiotest"
	"github.com/mooring-dev/mooring/internal/tcpproxy"
)

// Requests, progress notifications and results go through in both
// directions.
func TestRelay(t *testing.T) {
	s := newSDKServer(t)
	c := startBridge(t, s.url(), nil)
	c.Initialize(20 * time.Second)
	c.Send(map[string]any{"id": 2, "method": "tools/list"})
	if m := c.Answer(2, 10*time.Second); !strings.Contains(string(m.Result), `"count"`) {
		t.Fatalf("tools/list: %s", m.Result)
	}
	c.Send(callTool(3, "count", map[string]any{"n": 3, "interval_ms": 1}, "p"))
	if got := stdiotest.ResultText(t, c.Answer(3, 10*time.Second)); got != "counted 3" {
		t.Fatalf("got %q", got)
	}
	if got := c.Progress(); !slices.Equal(got, []float64{1, 2, 3}) {
		t.Fatalf("progress %v", got)
	}
}

// Connections cut in the middle of a call (a network drop, a proxy's
// timeout) do not show: the stream is resumed with Last-Event-ID and the
// call gets every progress notification once, in order, and its result.
func TestCut_Invisible(t *testing.T) {
	s := newSDKServer(t)
	p, err := tcpproxy.New(s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c := startBridge(t, "http://"+p.Addr()+"/mcp", nil)
	c.Initialize(20 * time.Second)
	const n = 30
	c.Send(callTool(2, "count", map[string]any{"n": n, "interval_ms": 50}, "p"))
	for cut := 1; cut <= 2; cut++ {
		c.Wait(20*time.Second, "progress before a cut", func(m msg) bool {
			return stdiotest.IsProgress(m) && c.Count(stdiotest.IsProgress) >= cut*8
		})
		if got := p.Cut(); got == 0 {
			t.Fatal("no connection to cut")
		}
	}
	if got := stdiotest.ResultText(t, c.Answer(2, 30*time.Second)); got != "counted 30" {
		t.Fatalf("got %q", got)
	}
	c.CheckProgress(n)
}

// A server that restarts without keeping sessions: the call in flight
// fails with an error that says its result is lost, the client is told,
// a new session is opened with the subscriptions replayed, and the next
// call works.
func TestHeal_LostSession(t *testing.T) {
	s := newSDKServer(t)
	c := startBridge(t, s.url(), nil)
	c.Initialize(20 * time.Second)
	c.Send(map[string]any{"id": 2, "method": "resources/subscribe", "params": map[string]any{"uri": "test://r"}})
	if m := c.Answer(2, 10*time.Second); m.Error != nil {
		t.Fatalf("subscribe: %s", m.Error.Message)
	}
	c.Send(callTool(3, "count", map[string]any{"n": 1000, "interval_ms": 50}, "p"))
	s.waitStarted()
	s.restart()

	m := c.Answer(3, 30*time.Second)
	if m.Error == nil || !strings.Contains(m.Error.Message, "result of this call is lost") {
		t.Fatalf("call in flight: %s %+v, want the lost-session error", m.Result, m.Error)
	}
	c.Wait(10*time.Second, "a log notification about the lost session", func(m msg) bool {
		return m.Method == "notifications/message" && strings.Contains(string(m.Params), "no longer knows the MCP session")
	})
	c.Wait(10*time.Second, "a log notification about the new session", func(m msg) bool {
		return m.Method == "notifications/message" && strings.Contains(string(m.Params), "opened a new MCP session")
	})
	if got := s.subscriptions(); !slices.Equal(got, []string{"test://r"}) {
		t.Fatalf("the new server got subscriptions %v, want test://r again", got)
	}
	c.Send(callTool(4, "count", map[string]any{"n": 2, "interval_ms": 1}, ""))
	if got := stdiotest.ResultText(t, c.Answer(4, 20*time.Second)); got != "counted 2" {
		t.Fatalf("after the heal: %q", got)
	}
}

// A request sent while the server is away waits for it.
func TestWait_ServerAway(t *testing.T) {
	s := newSDKServer(t)
	s.stop()
	c := startBridge(t, s.url(), nil)
	c.Send(map[string]any{"id": 1, "method": "initialize", "params": map[string]any{
		"protocolVersion": "2025-11-25", "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "t", "version": "1"},
	}})
	time.Sleep(time.Second)
	if n := c.Count(func(m msg) bool { return m.Method == "" }); n != 0 {
		t.Fatalf("answered while the server was away: %+v", c.Messages())
	}
	s.restart()
	if m := c.Answer(1, 20*time.Second); m.Error != nil {
		t.Fatalf("initialize: %s", m.Error.Message)
	}
}

// With the server away longer than WaitFor, a request fails with a clear
// error instead of hanging.
func TestWait_Bounded(t *testing.T) {
	s := newSDKServer(t)
	s.stop()
	c := startBridge(t, s.url(), &Options{WaitFor: 500 * time.Millisecond})
	c.Send(map[string]any{"id": 1, "method": "initialize", "params": map[string]any{"protocolVersion": "2025-11-25"}})
	m := c.Answer(1, 20*time.Second)
	if m.Error == nil || !strings.Contains(m.Error.Message, "unreachable") {
		t.Fatalf("got %s %+v, want an unreachable error", m.Result, m.Error)
	}
}

// A replay that the restarted server refuses (it no longer offers
// subscriptions) does not stop the heal: the client is told what did not
// come back, and the session works.
func TestHeal_ReplayRefused(t *testing.T) {
	s := newSDKServer(t)
	c := startBridge(t, s.url(), nil)
	c.Initialize(20 * time.Second)
	c.Send(map[string]any{"id": 2, "method": "resources/subscribe", "params": map[string]any{"uri": "test://r"}})
	if m := c.Answer(2, 10*time.Second); m.Error != nil {
		t.Fatalf("subscribe: %s", m.Error.Message)
	}
	s.noSubscribe = true
	s.restart()
	c.Wait(30*time.Second, "a warning that the subscription did not come back", func(m msg) bool {
		return m.Method == "notifications/message" && strings.Contains(string(m.Params), "could not replay test://r")
	})
	c.Send(callTool(3, "count", map[string]any{"n": 2, "interval_ms": 1}, ""))
	if got := stdiotest.ResultText(t, c.Answer(3, 20*time.Second)); got != "counted 2" {
		t.Fatalf("after the heal: %q", got)
	}
}
