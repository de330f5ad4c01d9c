package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/store"
)

// fromBackend routes one message from the backend: a response to the stream
// of its request, anything else to the stream of the request it relates to,
// or to the GET stream.
func (s *Session) fromBackend(ctx context.Context, msg jsonrpc.Message) error {
	switch m := msg.(type) {
	case *jsonrpc.Response:
		return s.response(ctx, m)
	case *jsonrpc.Request:
		return s.serverMessage(ctx, m)
	}
	return fmt.Errorf("session %s: unexpected message %T from backend", s.id, msg)
}

func (s *Session) response(ctx context.Context, resp *jsonrpc.Response) error {
	s.mu.Lock()
	if ch, ok := s.internal[resp.ID]; ok {
		delete(s.internal, resp.ID)
		s.mu.Unlock()
		ch <- resp
		return nil
	}
	c := s.calls[resp.ID]
	delete(s.calls, resp.ID)
	if c != nil {
		delete(s.streams, c.stream.id)
		if c.progress != "" && s.progress[c.progress] == c.stream.id {
			delete(s.progress, c.progress)
		}
	}
	var changed bool
	var before *Record // the record before the change, should saving it fail for its size
	if c != nil && resp.Error == nil {
		if changesRecord(c.method) {
			before = s.rec.clone()
		}
		changed = s.applyLocked(c, resp)
	}
	s.mu.Unlock()
	if c == nil {
		s.m.log.Warn("response to an unknown request dropped", "session", s.id, "id", resp.ID.Raw())
		return nil
	}
	defer s.running.Add(-1)
	if c.method == "tools/list" && resp.Error == nil {
		s.m.tools.learn(resp.Result)
		// Decoded and encoded again outside s.mu, which every message of
		// the session takes.
		resp = &jsonrpc.Response{ID: resp.ID, Result: s.m.withLocalTools(c.params, resp.Result)}
	}
	if ic := s.m.interceptor; ic != nil && resp.Error == nil && (c.method == "tools/list" || c.method == "initialize") {
		resp = &jsonrpc.Response{ID: resp.ID, Result: ic.Result(s, c.method, c.params, resp.Result)}
	}
	if changed {
		// The record is durable before the client learns of the change.
		if err := s.save(ctx); err != nil {
			if errors.Is(err, store.ErrFenced) {
				// Nothing more of this session may be written here.
				c.stream.finishUnlogged(fencedResponse(resp.ID))
				s.fencedOut(err)
				return nil
			}
			if errors.Is(err, ErrRecordTooLarge) {
				// The change is refused, and forgotten: kept, it would make
				// every later save of the record fail too.
				s.mu.Lock()
				s.rec = before
				s.mu.Unlock()
				resp = &jsonrpc.Response{ID: resp.ID, Error: &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "mooring refused the change: " + err.Error() + " (--max-record-bytes)"}}
			} else {
				s.m.log.Error("saving session record", "session", s.id, "err", err)
				resp = &jsonrpc.Response{ID: resp.ID, Error: &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "mooring could not save the session: " + err.Error()}}
			}
		}
	}
	data, err := jsonrpc.EncodeMessage(resp)
	if err != nil {
		return fmt.Errorf("session %s: encode response: %w", s.id, err)
	}
	if c.json {
		c.stream.finishUnlogged(data)
		return nil
	}
	if _, err := c.stream.publish(ctx, data, true); err != nil {
		if errors.Is(err, store.ErrFenced) {
			c.stream.finishUnlogged(fencedResponse(resp.ID))
			s.fencedOut(err)
			return nil
		}
		// Nothing to resume from: the client gets an error it can see
		// rather than a stream that never answers.
		s.m.log.Error("appending response", "session", s.id, "stream", c.stream.id, "err", err)
		lost, _ := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: resp.ID, Error: &jsonrpc.Error{
			Code: jsonrpc.CodeInternalError, Message: "mooring could not log the response: " + err.Error(),
		}})
		c.stream.finishUnlogged(lost)
	}
	return nil
}

// changesRecord tells the methods whose success applyLocked may write
// into the record.
func changesRecord(method string) bool {
	switch method {
	case "initialize", "logging/setLevel", "resources/subscribe", "resources/unsubscribe":
		return true
	}
	return false
}

// applyLocked updates the record for a successful request that changes
// session state, and reports whether it changed.
func (s *Session) applyLocked(c *call, resp *jsonrpc.Response) bool {
	switch c.method {
	case "initialize":
		var res struct {
			ProtocolVersion string `json:"protocolVersion"`
		}
		if err := json.Unmarshal(resp.Result, &res); err != nil || res.ProtocolVersion == "" {
			return false
		}
		s.rec.ProtocolVersion = res.ProtocolVersion
		s.rec.InitializeParams = c.params
		if r, ok := s.conn.(backend.Remote); ok {
			s.rec.RemoteSession = r.RemoteSession()
		}
		return true
	case "logging/setLevel":
		var p struct {
			Level string `json:"level"`
		}
		if json.Unmarshal(c.params, &p) == nil && p.Level != s.rec.LogLevel {
			s.rec.LogLevel = p.Level
			return true
		}
	case "resources/subscribe", "resources/unsubscribe":
		var p struct {
			URI string `json:"uri"`
		}
		if json.Unmarshal(c.params, &p) != nil {
			return false
		}
		if c.method == "resources/subscribe" {
			return s.rec.subscribe(p.URI)
		}
		return s.rec.unsubscribe(p.URI)
	}
	return false
}

func (s *Session) serverMessage(ctx context.Context, req *jsonrpc.Request) error {
	if !req.IsCall() && s.replaying.Load() {
		// A fresh backend greets the replayed initialize and subscribe
		// (log messages, list_changed): the client did not ask, and a
		// restore must not show.
		s.m.log.Debug("notification during a restore's replay dropped", "session", s.id, "method", req.Method)
		return nil
	}
	route := backend.Route(ctx)
	s.mu.Lock()
	if route == "" && req.Method == "notifications/progress" {
		route = s.progress[progressToken(req.Params)]
	}
	st := s.stream(route)
	if st == nil {
		st = s.get
	}
	if st.seenProgress(req) {
		s.mu.Unlock()
		return nil
	}
	if req.IsCall() {
		// A fresh id that no earlier backend connection used.
		cid := "m-" + s.tag + "-" + idText(req.ID)
		s.addOutboundLocked(cid, req.ID, st, route)
		id, _ := jsonrpc.MakeID(cid)
		req = &jsonrpc.Request{ID: id, Method: req.Method, Params: req.Params}
	}
	meta := s.related[route]
	w := s.waiting[route]
	s.mu.Unlock()
	if w != nil && req.IsCall() {
		s.syncWaiter(w) // before the client can answer
	}
	if req.Method == "notifications/cancelled" {
		req = s.backendCancelled(req)
	}
	if meta != nil {
		req = withMeta(req, meta)
	}
	data, err := jsonrpc.EncodeMessage(req)
	if err != nil {
		return fmt.Errorf("session %s: encode %s: %w", s.id, req.Method, err)
	}
	if _, err := st.publish(ctx, data, false); err != nil && !s.fencedOut(err) {
		s.m.log.Error("appending server message", "session", s.id, "stream", st.id, "method", req.Method, "err", err)
		if st != s.get {
			s.lostMessage(st, req.Method, err)
		}
	}
	return nil
}

// fencedResponse answers a request whose response this replica may not log:
// the session moved to another replica while the request ran (this one
// paused past its lease). The client may retry; its next request reaches
// the session's new owner.
func fencedResponse(id jsonrpc.ID) []byte {
	data, _ := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: id, Error: &jsonrpc.Error{
		Code:    CodeInterrupted,
		Message: "request interrupted: the session moved to another server while it ran; retry it",
	}})
	return data
}
