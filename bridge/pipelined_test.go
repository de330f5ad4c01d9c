package bridge

import (
	"testing"
	"time"
)

// A client that sends initialized and a call right after initialize,
// without waiting for its answer, gets the call answered: the bridge holds
// them until the session is open instead of refusing them ("the client has
// not sent initialize yet", which it had).
func TestBridge_MessagesBeforeInitializeAnswered(t *testing.T) {
	srv := newSDKServer(t)
	c := startBridge(t, srv.url(), nil)
	c.Send(map[string]any{"id": 1, "method": "initialize", "params": map[string]any{
		"protocolVersion": "2025-11-25", "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "t", "version": "1"},
	}})
	c.Send(map[string]any{"method": "notifications/initialized"})
	c.Send(callTool(2, "where", map[string]any{"region": "eu"}, ""))
	if m := c.Answer(1, 20*time.Second); m.Error != nil {
		t.Fatalf("initialize: %s", m.Error.Message)
	}
	if m := c.Answer(2, 20*time.Second); m.Error != nil {
		t.Fatalf("a call sent before initialize was answered: %s", m.Error.Message)
	}
}
