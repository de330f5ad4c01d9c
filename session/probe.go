package session

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// probeTools learns which tools are idempotent from a backend connection
// of its own, opened for that alone and closed after: for a replica that
// must decide about a call lost with its owner and has no session live to
// ask (it was just restarted, or only forwards). Without it, such a call
// of an idempotent tool was answered as interrupted instead of being sent
// again. It costs one backend connection (for a stdio server, a process),
// and only when an owner died during a call and nothing was learnt yet.
func (m *Manager) probeTools(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var mu sync.Mutex
	waiting := map[string]chan *jsonrpc.Response{}
	handle := func(_ context.Context, msg jsonrpc.Message) error {
		resp, ok := msg.(*jsonrpc.Response)
		if !ok {
			return nil // notifications and requests of a probe go nowhere
		}
		mu.Lock()
		ch := waiting[fmt.Sprint(resp.ID.Raw())]
		mu.Unlock()
		if ch != nil {
			ch <- resp
		}
		return nil
	}
	conn, err := m.opener.Open(ctx, "mooring-probe-"+randomHex(8), handle)
	if err != nil {
		m.log.Debug("probing the backend's tools", "err", err)
		return
	}
	defer conn.Close()
	call := func(method string, params any) (*jsonrpc.Response, error) {
		key := "mooring-probe-" + randomHex(8)
		id, _ := jsonrpc.MakeID(key)
		raw, err := json.Marshal(params)
		if err != nil {
			return nil, err
		}
		ch := make(chan *jsonrpc.Response, 1)
		mu.Lock()
		waiting[key] = ch
		mu.Unlock()
		if err := conn.Send(ctx, &jsonrpc.Request{ID: id, Method: method, Params: raw}); err != nil {
			return nil, err
		}
		select {
		case resp := <-ch:
			if resp.Error != nil {
				return nil, resp.Error
			}
			return resp, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if _, err := call("initialize", map[string]any{
		"protocolVersion": "2025-11-25",
		"capabilities":    map[string]any{},
		"clientInfo":      map[string]any{"name": "mooring-probe", "version": "1"},
	}); err != nil {
		m.log.Debug("probing the backend's tools: initialize", "err", err)
		return
	}
	if err := conn.Send(ctx, &jsonrpc.Request{Method: "notifications/initialized", Params: json.RawMessage("{}")}); err != nil {
		return
	}
	params := map[string]string{}
	for range 10 {
		resp, err := call("tools/list", params)
		if err != nil {
			m.log.Debug("probing the backend's tools: tools/list", "err", err)
			return
		}
		m.tools.learn(resp.Result)
		var page struct {
			Next string `json:"nextCursor"`
		}
		if json.Unmarshal(resp.Result, &page) != nil || page.Next == "" {
			return
		}
		params = map[string]string{"cursor": page.Next}
	}
}
