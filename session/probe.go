package session

import (
	"context"
	"encoding/json"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// probeInitialize is the initialize of a probe connection.
var probeInitialize = json.RawMessage(`{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"mooring-probe","version":"1"}}`)

// probeTools learns which tools are idempotent from a backend connection
// of its own, opened for that alone and closed after: for a replica that
// must decide about a call lost with its owner and has no session live to
// ask (it was just restarted, or only forwards). Without it, such a call
// of an idempotent tool was answered as interrupted instead of being sent
// again. It costs one backend connection (for a stdio server, a process),
// and only when an owner died during a call and nothing was learnt yet.
func (m *Manager) probeTools(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	// A session that is never stored nor cached: responses reach its
	// internalCall; the backend's requests and notifications go nowhere.
	s := newSession(m, &Record{ID: "mooring-probe-" + randomHex(8)})
	conn, err := m.opener.Open(ctx, s.id, func(ctx context.Context, msg jsonrpc.Message) error {
		if resp, ok := msg.(*jsonrpc.Response); ok {
			return s.response(ctx, resp)
		}
		return nil
	})
	if err != nil {
		m.log.Debug("probing the backend's tools", "err", err)
		return
	}
	defer conn.Close()
	s.conn = conn
	if _, err := s.internalCall(ctx, "initialize", probeInitialize); err != nil {
		m.log.Debug("probing the backend's tools", "err", err)
		return
	}
	if err := conn.Send(ctx, &jsonrpc.Request{Method: "notifications/initialized", Params: json.RawMessage("{}")}); err != nil {
		return
	}
	if err := s.listTools(ctx); err != nil {
		m.log.Debug("probing the backend's tools", "err", err)
	}
}
