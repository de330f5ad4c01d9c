package session

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// DefaultServerRequestTimeout is the default of Options.ServerRequestTimeout:
// long enough for a person to answer an elicitation form or to approve a
// sampling request, short enough that requests whose client went away do
// not pin their backend's goroutines and the session for ever.
const DefaultServerRequestTimeout = 5 * time.Minute

// CodeRequestTimeout is the JSON-RPC error code that the backend gets for a
// server-to-client request that the client did not answer in time: the
// TypeScript SDK's ErrorCode.RequestTimeout.
const CodeRequestTimeout = -32001

// outReq is a server-to-client request waiting for the client's reply.
type outReq struct {
	backendID jsonrpc.ID // the id the backend gave it
	stream    *Stream    // where it was sent
	route     string     // the route of the backend call it belongs to, if any
	timer     *time.Timer
}

// addOutboundLocked notes a server-to-client request sent to the client as
// cid, and arms its timeout. s.mu must be held.
func (s *Session) addOutboundLocked(cid string, backendID jsonrpc.ID, st *Stream, route string) {
	o := &outReq{backendID: backendID, stream: st, route: route}
	if w := s.waiting[route]; w != nil {
		w.n++
	}
	o.timer = time.AfterFunc(s.m.serverReqTimeout, func() { s.expireOutbound(cid, o) })
	put(&s.outbound, cid, o)
}

// takeOutbound removes the request that the client knows as cid and stops
// its timeout.
func (s *Session) takeOutbound(cid string) (jsonrpc.ID, bool) {
	s.mu.Lock()
	o, ok := s.outbound[cid]
	delete(s.outbound, cid)
	w := s.answeredLocked(o)
	s.mu.Unlock()
	if !ok {
		return jsonrpc.ID{}, false
	}
	o.timer.Stop()
	s.syncWaiter(w)
	return o.backendID, true
}

// expireOutbound gives up on a server-to-client request that the client has
// not answered in time: the backend gets an error in its place (its handler
// stops waiting) and the client a notifications/cancelled, so that a reply
// it sends later is known to be late.
func (s *Session) expireOutbound(cid string, o *outReq) {
	s.mu.Lock()
	if s.closed || s.outbound[cid] != o {
		s.mu.Unlock()
		return // answered, cancelled, or the backend is gone
	}
	delete(s.outbound, cid)
	w := s.answeredLocked(o)
	s.mu.Unlock()
	s.syncWaiter(w)
	timeout := s.m.serverReqTimeout
	s.m.log.Warn("server request not answered in time; the backend gets an error", "session", s.id, "id", cid, "timeout", timeout)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The client first, so that the notice is on the request's stream
	// before the response that the backend's error leads to.
	params, _ := json.Marshal(map[string]any{"requestId": cid, "reason": "timed out after " + timeout.String()})
	s.publishNotice(ctx, o.stream, &jsonrpc.Request{Method: "notifications/cancelled", Params: params})
	err := s.conn.Send(ctx, &jsonrpc.Response{ID: o.backendID, Error: &jsonrpc.Error{
		Code:    CodeRequestTimeout,
		Message: "the client did not answer within " + timeout.String(),
	}})
	if err != nil {
		s.m.log.Debug("telling the backend of a request timeout", "session", s.id, "id", cid, "err", err)
	}
}

// backendCancelled handles the backend's notifications/cancelled: when it
// cancels a request of its own that waits for the client, the request is
// forgotten (it no longer holds the session in memory) and the
// notification is rewritten to the id that the client knows.
func (s *Session) backendCancelled(req *jsonrpc.Request) *jsonrpc.Request {
	var p map[string]any
	if json.Unmarshal(req.Params, &p) != nil {
		return req
	}
	backendID, err := jsonrpc.MakeID(p["requestId"])
	if err != nil || !backendID.IsValid() {
		return req
	}
	s.mu.Lock()
	var cid string
	var o *outReq
	for k, v := range s.outbound {
		if v.backendID == backendID {
			cid, o = k, v
			break
		}
	}
	var w *waiter
	if o != nil {
		delete(s.outbound, cid)
		w = s.answeredLocked(o)
	}
	s.mu.Unlock()
	if o == nil {
		return req // about a client request, or one already answered
	}
	o.timer.Stop()
	s.syncWaiter(w)
	p["requestId"] = cid
	params, err := json.Marshal(p)
	if err != nil {
		return req
	}
	return &jsonrpc.Request{Method: req.Method, Params: params}
}

// publishNotice logs a message of mooring's own on st (or the GET stream if
// st has ended).
func (s *Session) publishNotice(ctx context.Context, st *Stream, msg *jsonrpc.Request) {
	data, err := jsonrpc.EncodeMessage(msg)
	if err != nil {
		return
	}
	s.mu.Lock()
	if s.stream(st.id) == nil {
		st = s.get
	}
	s.mu.Unlock()
	if _, err := st.publish(ctx, data, false); err != nil && !s.fencedOut(err) {
		s.m.log.Error("appending a notice", "session", s.id, "stream", st.id, "method", msg.Method, "err", err)
	}
}

// stopOutboundLocked stops the timeouts of the requests still waiting (the
// session closes). s.mu must be held.
func (s *Session) stopOutboundLocked() {
	for _, o := range s.outbound {
		o.timer.Stop()
	}
}

// waiter counts the requests of one CallBackendWith call that wait for the
// client, and tells the call (BackendCall.Waiting).
type waiter struct {
	n        int        // outstanding requests; guarded by Session.mu
	mu       sync.Mutex // serializes fn
	reported bool       // what fn was last told; guarded by mu
	fn       func(bool)
}

// answeredLocked counts o as no longer outstanding and returns the waiter
// to sync, if any. s.mu must be held.
func (s *Session) answeredLocked(o *outReq) *waiter {
	if o == nil {
		return nil
	}
	w := s.waiting[o.route]
	if w != nil && w.n > 0 {
		w.n--
	}
	return w
}

// syncWaiter tells w's call whether requests wait now, if that changed
// since it was last told: the count is read under w.mu, so concurrent
// changes are reported in order, the last one last.
func (s *Session) syncWaiter(w *waiter) {
	if w == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	s.mu.Lock()
	now := w.n > 0
	s.mu.Unlock()
	if now != w.reported {
		w.reported = now
		w.fn(now)
	}
}
