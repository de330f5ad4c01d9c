package session

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/store"
)

// Calls cut off by a crash are re-run where that is safe. A tools/call is
// safe to repeat when its tool says it is idempotent (annotations
// .idempotentHint) or the server's configuration lists it as retryable
// (Options.RetryableTools). Such a call's stream-open marker carries the
// request itself, so that the process that restores the session, whichever
// it is, can send it again to the new backend on the same stream: the
// client that resumes the stream gets its result as if nothing happened.
// Other calls are answered with the interruption error, as before.

// markerRequest is what a marker carries after the request id, on a line
// of its own, for a call that may be re-run.
type markerRequest struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params,omitempty"`
}

// marker returns the stream-open marker of a call: the request id, and the
// request when it may be re-run.
func marker(req *jsonrpc.Request, rerun bool) []byte {
	id, _ := json.Marshal(req.ID.Raw())
	b := append([]byte{markerByte}, id...)
	if rerun {
		r, err := json.Marshal(markerRequest{Method: req.Method, Params: req.Params})
		if err == nil {
			b = append(append(b, '\n'), r...)
		}
	}
	return b
}

// parseMarker reads a marker's request id (nil for the GET stream's) and
// the request to re-run, if it carries one.
func parseMarker(data []byte) (id any, rerun *markerRequest) {
	body := data[1:]
	rest := []byte(nil)
	if i := bytes.IndexByte(body, '\n'); i >= 0 {
		body, rest = body[:i], body[i+1:]
	}
	if len(body) == 0 || json.Unmarshal(body, &id) != nil {
		return nil, nil
	}
	if len(rest) > 0 {
		rerun = new(markerRequest)
		if json.Unmarshal(rest, rerun) != nil || rerun.Method == "" {
			rerun = nil
		}
	}
	return id, rerun
}

// tools is what a manager knows of its server's tools: which are
// idempotent.
type tools struct {
	mu     sync.Mutex // guards the fields below
	idem   map[string]bool
	names  [][]byte      // of the idempotent tools in idem
	listed bool          // a tools/list result was seen
	asking chan struct{} // closed when the backend asked now has answered
}

// ask runs list, which asks the backend for its tools, unless they are
// known by now; while one caller asks, the others wait for its answer
// (or for ctx) rather than ask too: calls cut off together (a dead
// owner's) would otherwise open a probe connection each.
func (t *tools) ask(ctx context.Context, list func()) {
	t.mu.Lock()
	if t.listed {
		t.mu.Unlock()
		return
	}
	if ch := t.asking; ch != nil {
		t.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
		}
		return
	}
	ch := make(chan struct{})
	t.asking = ch
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		t.asking = nil
		t.mu.Unlock()
		close(ch)
	}()
	list()
}

// learn notes the idempotent tools of a tools/list result.
func (t *tools) learn(result json.RawMessage) {
	var res struct {
		Tools []struct {
			Name        string               `json:"name"`
			Annotations *mcp.ToolAnnotations `json:"annotations"`
		} `json:"tools"`
	}
	if json.Unmarshal(result, &res) != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.idem == nil {
		t.idem = make(map[string]bool)
	}
	t.listed = true
	for _, tl := range res.Tools {
		t.idem[tl.Name] = tl.Annotations != nil && tl.Annotations.IdempotentHint
	}
	t.names = t.names[:0]
	for name, idem := range t.idem {
		if idem {
			t.names = append(t.names, []byte(name))
		}
	}
}

// mentioned reports whether params may name an idempotent tool: a tool
// list was not seen yet, or an idempotent tool's name is in them. Every
// tools/call passes here, and most name no such tool: they are not
// decoded. (A name spelled with escapes is missed: its call is taken as
// not safe to repeat.)
func (t *tools) mentioned(params []byte) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.listed {
		return true
	}
	for _, name := range t.names {
		if bytes.Contains(params, name) {
			return true
		}
	}
	return false
}

// known reports whether name is idempotent, and whether a tools/list was
// seen at all.
func (t *tools) known(name string) (idem, listed bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.idem[name], t.listed
}

// safeToRepeat reports whether req may be sent again after a crash (or
// the loss of its owner) cut it off: a tools/call of a tool listed as
// retryable, or known to be idempotent. Until a tools/list was seen (the
// client called without listing, or listed before a restart), the
// backend is asked once: that of ask, else of a session live here, else
// of a probe connection (probeTools).
func (m *Manager) safeToRepeat(ctx context.Context, req *jsonrpc.Request, ask *Session) bool {
	if req.Method != "tools/call" || len(m.retryable) == 0 && !m.tools.mentioned(req.Params) {
		return false
	}
	var p struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(req.Params, &p) != nil || p.Name == "" {
		return false
	}
	for _, pat := range m.retryable {
		if ok, _ := path.Match(pat, p.Name); ok {
			return true
		}
	}
	if idem, listed := m.tools.known(p.Name); listed {
		return idem
	}
	if ask == nil {
		m.mu.Lock()
		if live := m.liveLocked(); len(live) > 0 {
			ask = live[0]
		}
		m.mu.Unlock()
	}
	m.tools.ask(ctx, func() {
		if ask != nil {
			ask.learnTools(ctx)
		} else {
			m.probeTools(ctx)
		}
	})
	idem, _ := m.tools.known(p.Name)
	return idem
}

// learnTools asks the session's backend for its tools, bounded in time
// (and not by the caller, whose client may leave: others wait for the
// answer, which is kept for good).
func (s *Session) learnTools(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	if err := s.listTools(ctx); err != nil {
		// Not asked again for every call: its tools are taken as not
		// idempotent until a client's tools/list says more.
		s.m.tools.learn(json.RawMessage(`{"tools":[]}`))
		s.m.log.Debug("listing the backend's tools to know which are idempotent", "session", s.id, "err", err)
	}
}

// listTools reads the backend's tools (up to a few pages) into the
// manager's knowledge.
func (s *Session) listTools(ctx context.Context) error {
	params := json.RawMessage("{}")
	for range 10 {
		resp, err := s.internalCall(ctx, "tools/list", params)
		if err != nil {
			return err
		}
		s.m.tools.learn(resp.Result)
		var page struct {
			Next string `json:"nextCursor"`
		}
		if json.Unmarshal(resp.Result, &page) != nil || page.Next == "" {
			return nil
		}
		params, _ = json.Marshal(map[string]string{"cursor": page.Next})
	}
	return nil
}

// rerun sends a call that a crash cut off again, on its own stream (whose
// marker is in the log already), to this session's new backend. It
// reports false if the call could not be sent.
func (s *Session) rerun(ctx context.Context, o openReq) bool {
	st := &Stream{id: o.stream, session: s, progressFloor: o.progress}
	c := &call{stream: st, method: o.rerun.Method, params: o.rerun.Params}
	s.mu.Lock()
	if _, dup := s.calls[o.id]; dup {
		s.mu.Unlock()
		return false
	}
	put(&s.calls, o.id, c)
	put(&s.streams, st.id, st)
	if c.progress = progressToken(c.params); c.progress != "" {
		put(&s.progress, c.progress, st.id)
	}
	s.mu.Unlock()
	hdr := make(http.Header, 1)
	hdr.Set(backend.RouteHeader, st.id)
	extra := &mcp.RequestExtra{Header: hdr, CloseSSEStream: func(a mcp.CloseSSEStreamArgs) { st.closeWriter(a.RetryAfter) }}
	if err := s.conn.Send(ctx, &jsonrpc.Request{ID: o.id, Method: c.method, Params: c.params, Extra: extra}); err != nil {
		s.dropCall(o.id, c)
		s.m.log.Warn("re-running an interrupted call failed", "session", s.id, "id", o.id.Raw(), "err", err)
		return false
	}
	s.m.log.Info("request interrupted by a restart: sent again (safe to repeat)", "session", s.id, "stream", o.stream, "id", o.id.Raw())
	return true
}

// progressValue reads the progress value of a notifications/progress
// message.
func progressValue(data []byte) (float64, bool) {
	if !bytes.Contains(data, []byte(`"notifications/progress"`)) {
		return 0, false
	}
	var msg struct {
		Method string `json:"method"`
		Params struct {
			Progress float64 `json:"progress"`
		} `json:"params"`
	}
	if json.Unmarshal(data, &msg) != nil || msg.Method != "notifications/progress" {
		return 0, false
	}
	return msg.Params.Progress, true
}

// seenProgress reports whether a progress notification of a re-run call
// repeats what the client saw from the first run (progress values must
// increase; a re-run counts from the start again).
func (st *Stream) seenProgress(req *jsonrpc.Request) bool {
	if st.progressFloor <= 0 || req.Method != "notifications/progress" {
		return false
	}
	var p struct {
		Progress float64 `json:"progress"`
	}
	return json.Unmarshal(req.Params, &p) == nil && p.Progress <= st.progressFloor
}

// interruptOrphans answers, on its own stream, every request that was opened
// in the log but never answered: the process serving it is gone. One read of
// the whole log finds them.
func (s *Session) interruptOrphans(ctx context.Context) error {
	events, err := s.m.store.Log(ctx, s.id)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, o := range openRequests(events) {
		if o.rerun != nil && s.rerun(ctx, o) {
			continue
		}
		resp := &jsonrpc.Response{ID: o.id, Error: &jsonrpc.Error{
			Code:    CodeInterrupted,
			Message: "request interrupted: the server that handled it stopped before answering; retry it",
		}}
		data, err := jsonrpc.EncodeMessage(resp)
		if err != nil {
			return err
		}
		if _, err := s.m.store.Append(s.fenced(ctx), s.id, o.stream, data); err != nil {
			return err
		}
		s.m.log.Warn("request interrupted by a restart", "session", s.id, "stream", o.stream, "id", o.id.Raw())
	}
	return nil
}

type openReq struct {
	stream string
	id     jsonrpc.ID
	rerun  *markerRequest // the request, if it is safe to send again
	// progress is the highest progress value logged for a request to
	// re-run: the client has seen up to there.
	progress float64
}

// openRequests reads a session's log and returns the requests whose stream
// was opened (its marker is there) but holds no response. A stream whose
// marker the cap removed is left alone: its start is unknown.
func openRequests(events []store.Event) []openReq {
	var open []openReq
	index := make(map[string]int) // stream -> position in open
	for _, ev := range events {
		if IsMarker(ev.Data) {
			raw, rerun := parseMarker(ev.Data)
			if raw == nil {
				continue // the GET stream's markers carry no request
			}
			id, err := jsonrpc.MakeID(raw)
			if err != nil || !id.IsValid() {
				continue
			}
			index[ev.ID.Stream] = len(open)
			open = append(open, openReq{stream: ev.ID.Stream, id: id, rerun: rerun})
			continue
		}
		i, ok := index[ev.ID.Stream]
		if !ok {
			continue
		}
		if open[i].rerun != nil {
			if p, ok := progressValue(ev.Data); ok {
				open[i].progress = max(open[i].progress, p)
				continue
			}
		}
		if !bytes.Contains(ev.Data, []byte(`"id"`)) {
			continue
		}
		if msg, err := jsonrpc.DecodeMessage(ev.Data); err == nil {
			if r, ok := msg.(*jsonrpc.Response); ok && r.ID == open[i].id {
				open[i].stream = "" // answered
			}
		}
	}
	out := open[:0]
	for _, o := range open {
		if o.stream != "" {
			out = append(out, o)
		}
	}
	return out
}
