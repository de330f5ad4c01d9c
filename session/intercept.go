package session

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/backend"
)

// Interceptor answers some client requests of a session itself instead of
// the backend, and may change some of the backend's results: how durable
// tasks (package tasks/protocol) live inside sessions, without this
// package knowing them. Set it in Options.Interceptor.
type Interceptor interface {
	// Intercept returns the function that answers req, or nil to let the
	// backend answer. The function runs in a goroutine of its own; its ctx
	// ends when the session closes. The response's ID is set for it.
	Intercept(s *Session, req *jsonrpc.Request) func(ctx context.Context) *jsonrpc.Response
	// Result returns the result of the backend's successful response to
	// a request of method (params are the request's), changed or not.
	Result(s *Session, method string, params, result json.RawMessage) json.RawMessage
}

// answerWith routes what an Interceptor answered like a backend response.
func (s *Session) answerWith(req *jsonrpc.Request, answer func(context.Context) *jsonrpc.Response) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	resp := answer(ctx)
	if resp == nil {
		resp = &jsonrpc.Response{Error: &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "no answer"}}
	}
	resp.ID = req.ID
	// The session may be closing: the response is still logged, with a
	// bounded context of its own.
	rctx, rcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer rcancel()
	if err := s.response(rctx, resp); err != nil {
		s.m.log.Error("answering an intercepted request", "session", s.id, "method", req.Method, "err", err)
	}
}

// CallBackend sends a request of mooring's own to the backend (a task's
// plain tools/call) and waits for its response. If ctx ends first, the
// backend is told with notifications/cancelled. Messages the backend sends
// during the call go on the session's GET stream. The call counts as a
// running request, so that the session is not evicted under it.
//
// related, if not nil, is added to the _meta of the requests and
// notifications that the backend sends because of this call, where the
// backend tells which call they belong to (in-process servers): a task's
// io.modelcontextprotocol/related-task.
func (s *Session) CallBackend(ctx context.Context, method string, params json.RawMessage, related map[string]any) (*jsonrpc.Response, error) {
	return s.CallBackendWith(ctx, method, params, BackendCall{Related: related})
}

// BackendCall says more of a CallBackendWith call.
type BackendCall struct {
	// Related is CallBackend's related.
	Related map[string]any
	// Waiting, if set, is told true when the backend sends the client a
	// request because of this call (where the backend tells which call
	// its requests belong to: in-process servers), before the client gets
	// it, and false once none is outstanding any more (answered, timed
	// out, or cancelled by the backend), before the answer reaches the
	// backend. Its calls are serialized and may block (a store write).
	Waiting func(waiting bool)
}

// CallBackendWith is CallBackend with more to say (BackendCall).
func (s *Session) CallBackendWith(ctx context.Context, method string, params json.RawMessage, bc BackendCall) (*jsonrpc.Response, error) {
	related := bc.Related
	s.running.Add(1)
	defer s.running.Add(-1)
	name := "mooring-" + s.tag + "-" + randomHex(8)
	id, _ := jsonrpc.MakeID(name)
	ch := make(chan *jsonrpc.Response, 1)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	put(&s.internal, id, ch)
	if related != nil {
		put(&s.related, name, related)
		defer func() {
			s.mu.Lock()
			delete(s.related, name)
			s.mu.Unlock()
		}()
	}
	if bc.Waiting != nil {
		put(&s.waiting, name, &waiter{fn: bc.Waiting})
		defer func() {
			s.mu.Lock()
			delete(s.waiting, name)
			s.mu.Unlock()
		}()
	}
	s.mu.Unlock()
	keep := false // a cancelled call's late response still finds its entry (and removes it)
	defer func() {
		if !keep {
			s.mu.Lock()
			delete(s.internal, id)
			s.mu.Unlock()
		}
	}()
	req := &jsonrpc.Request{ID: id, Method: method, Params: params}
	if related != nil || bc.Waiting != nil {
		// The route of the call's messages (see backend.RouteHeader):
		// no stream of the client's, so they go on the GET stream.
		hdr := http.Header{}
		hdr.Set(backend.RouteHeader, name)
		req.Extra = &mcp.RequestExtra{Header: hdr}
	}
	if err := s.conn.Send(ctx, req); err != nil {
		return nil, fmt.Errorf("session %s: %s: %w", s.id, method, err)
	}
	select {
	case resp := <-ch:
		return resp, nil
	case <-ctx.Done():
		keep = true
		cancelled, _ := json.Marshal(map[string]any{"requestId": id.Raw(), "reason": "the task was cancelled"})
		nctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.conn.Send(nctx, &jsonrpc.Request{Method: "notifications/cancelled", Params: cancelled}); err != nil {
			s.m.log.Warn("telling the backend of a cancelled call", "session", s.id, "err", err)
		}
		return nil, fmt.Errorf("session %s: %s: %w", s.id, method, context.Cause(ctx))
	case <-s.done:
		return nil, fmt.Errorf("session %s: %s: %w", s.id, method, ErrClosed)
	}
}

// NotifyClient sends a notification of mooring's own to the client, on the
// session's GET stream (logged, so resumable).
func (s *Session) NotifyClient(ctx context.Context, method string, params json.RawMessage) error {
	data, err := jsonrpc.EncodeMessage(&jsonrpc.Request{Method: method, Params: params})
	if err != nil {
		return fmt.Errorf("session %s: encode %s: %w", s.id, method, err)
	}
	if _, err := s.get.publish(ctx, data, false); err != nil {
		return fmt.Errorf("session %s: %s: %w", s.id, method, err)
	}
	return nil
}

// Open returns session id if this process holds it open, else nil; it
// restores nothing.
func (m *Manager) Open(id string) *Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e := m.sessions[id]; e != nil {
		return e.s
	}
	return nil
}

// withMeta returns req with meta added to its params' _meta.
func withMeta(req *jsonrpc.Request, meta map[string]any) *jsonrpc.Request {
	var p map[string]json.RawMessage
	if len(req.Params) > 0 && json.Unmarshal(req.Params, &p) != nil {
		return req
	}
	if p == nil {
		p = map[string]json.RawMessage{}
	}
	m := map[string]any{}
	if raw, ok := p["_meta"]; ok {
		_ = json.Unmarshal(raw, &m)
	}
	for k, v := range meta {
		m[k] = v
	}
	var err error
	if p["_meta"], err = json.Marshal(m); err != nil {
		return req
	}
	params, err := json.Marshal(p)
	if err != nil {
		return req
	}
	return &jsonrpc.Request{ID: req.ID, Method: req.Method, Params: params, Extra: req.Extra}
}
