package protocol

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/tasks"
)

// maxListenTasks bounds the task ids one subscriptions/listen may follow.
const maxListenTasks = 100

// listenPoll is how often a listen stream re-reads its tasks from the
// store, for changes made by another replica (Manager.Subscribe reports
// only this process's). Changes made here are sent at once, as committed,
// without a read. A variable for tests.
var listenPoll = time.Second

// listenHead is what ServeHTTP reads of a subscriptions/listen request.
type listenHead struct {
	TaskIDs []string
	others  map[string]json.RawMessage // the other notification types asked for (listenmix.go)
}

// wantsTasks reports whether a subscriptions/listen asks for task
// notifications (SEP-2663: params.notifications.taskIds). An empty list
// asks for none: the listen is go-sdk's to serve.
func (l *listenHead) wantsTasks() bool { return l != nil && len(l.TaskIDs) > 0 }

// listen serves a subscriptions/listen that asks for notifications/tasks
// (SEP-2663 over SEP-2575) itself: go-sdk's handler knows only the
// list-changed and resource subscriptions, and would drop taskIds. The
// stream follows the requested tasks of the caller's scope (another
// principal's or an unknown id is left out of the acknowledgement, as if
// it did not exist), sends each one's current state after the
// acknowledgement and then every change, and ends with the graceful
// result once all of them are over, or when the server shuts down. The
// other notification types of such a request are go-sdk's: the inner
// handler serves them (without the taskIds), and its acknowledgement and
// notifications are merged into this stream, which then lasts as long as
// the client keeps it.
func (x *Extension) listen(w http.ResponseWriter, r *http.Request, body []byte, id json.RawMessage, meta map[string]any, head *listenHead) {
	if len(id) == 0 || string(id) == "null" {
		writeError(w, http.StatusBadRequest, nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: "subscriptions/listen requires a request id"})
		return
	}
	if !declared(meta) {
		writeError(w, http.StatusOK, id, needExtension("notifications.taskIds of subscriptions/listen"))
		return
	}
	if len(head.TaskIDs) > maxListenTasks {
		writeError(w, http.StatusOK, id, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "subscriptions/listen: at most 100 taskIds per listen"})
		return
	}
	if !strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		http.Error(w, "Accept must contain 'text/event-stream' for subscriptions/listen", http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	scope := ScopeOf(r)
	wanted := make(map[string]bool, len(head.TaskIDs)) // read-only from here on
	for _, tid := range head.TaskIDs {
		wanted[tid] = true
	}
	// Subscribe before the first read, so no change falls between them.
	// The changes committed here are handed over in changed (the newest
	// of each task), and kick says that there are some.
	var cmu sync.Mutex
	changed := map[string]*tasks.Task{}
	kick := make(chan struct{}, 1)
	unsubscribe := x.m.Subscribe(func(t *tasks.Task) {
		if !wanted[t.ID] || t.Scope != scope {
			return
		}
		cmu.Lock()
		if c := changed[t.ID]; c == nil || t.Version > c.Version {
			changed[t.ID] = t
		}
		cmu.Unlock()
		select {
		case kick <- struct{}{}:
		default:
		}
	})
	defer unsubscribe()
	accepted := []string{}
	var first []*tasks.Task
	for _, tid := range head.TaskIDs {
		if slices.Contains(accepted, tid) {
			continue
		}
		t, err := x.m.Get(ctx, tid, scope)
		if err != nil {
			continue // unknown, expired, someone else's, or unreadable
		}
		accepted = append(accepted, tid)
		first = append(first, t)
	}
	acked := map[string]any{}
	var innerMsgs <-chan json.RawMessage
	if len(head.others) > 0 {
		in, err := x.startInner(r, body, head.others)
		if err != nil {
			writeError(w, http.StatusBadRequest, id, &jsonrpc.Error{Code: jsonrpc.CodeParseError, Message: err.Error()})
			return
		}
		defer in.stop()
		// The inner acknowledgement first: it says which of the other
		// types go-sdk honours; an error answers the whole request.
		select {
		case first, ok := <-in.msgs:
			var m struct {
				ID     json.RawMessage `json:"id"`
				Params struct {
					Notifications map[string]any `json:"notifications"`
				} `json:"params"`
			}
			if ok && json.Unmarshal(first, &m) == nil && len(m.ID) > 0 {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(first)
				return
			}
			if ok && m.Params.Notifications != nil {
				acked = m.Params.Notifications
			}
			innerMsgs = in.msgs
		case <-ctx.Done():
			return
		}
	}
	acked["taskIds"] = accepted
	s := &listenStream{w: w, id: id}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	ack := map[string]any{
		"_meta":         s.meta(),
		"notifications": acked,
	}
	if err := s.send("notifications/subscriptions/acknowledged", ack); err != nil {
		return
	}
	sent := map[string]string{}    // task id -> the task as last sent
	version := map[string]uint64{} // task id -> the version last sent
	over := map[string]bool{}      // terminal (reported) or gone
	report := func(t *tasks.Task) error {
		version[t.ID] = max(version[t.ID], t.Version)
		// Only what a client sees counts as a change: a runner's lease
		// renewal writes the task too.
		seen, _ := json.Marshal(detailed(t))
		if last, ok := sent[t.ID]; ok && last == string(seen) {
			return nil
		}
		sent[t.ID] = string(seen)
		if t.Status.Terminal() {
			over[t.ID] = true
		}
		return s.send("notifications/tasks", s.taskParams(t))
	}
	for _, t := range first {
		if err := report(t); err != nil {
			return
		}
	}
	tick := time.NewTicker(listenPoll)
	defer tick.Stop()
	var beat <-chan time.Time
	if x.o.Heartbeat > 0 {
		t := time.NewTicker(x.o.Heartbeat)
		defer t.Stop()
		beat = t.C
	}
	for len(over) < len(accepted) || innerMsgs != nil {
		select {
		case <-ctx.Done():
			s.end()
			return
		case m, ok := <-innerMsgs:
			var head struct {
				ID json.RawMessage `json:"id"`
			}
			switch {
			case !ok:
				innerMsgs = nil
			case json.Unmarshal(m, &head) == nil && len(head.ID) > 0:
				// go-sdk's half ended (its result is this stream's to send).
			default:
				if err := s.raw("event: message\ndata: " + string(m) + "\n\n"); err != nil {
					return
				}
			}
			continue
		case <-beat:
			if s.quiet(x.o.Heartbeat) {
				if err := s.raw(": keepalive\n\n"); err != nil {
					return
				}
			}
			continue
		case <-kick:
			cmu.Lock()
			ts := changed
			changed = map[string]*tasks.Task{}
			cmu.Unlock()
			for _, tid := range accepted {
				// An older version than the one sent (a store read
				// came first) is not sent again.
				if t := ts[tid]; t != nil && !over[tid] && t.Version > version[tid] {
					if err := report(t); err != nil {
						return
					}
				}
			}
			continue
		case <-tick.C:
		}
		for _, tid := range accepted {
			if over[tid] {
				continue
			}
			t, err := x.m.Get(ctx, tid, scope)
			switch {
			case errors.Is(err, tasks.ErrNotFound):
				over[tid] = true // expired or deleted: nothing more comes of it
				continue
			case err != nil:
				continue // the store is out of reach: try again on the next tick
			}
			if err := report(t); err != nil {
				return
			}
		}
	}
	s.end()
}

// listenStream writes one subscriptions/listen response stream.
type listenStream struct {
	w    http.ResponseWriter
	id   json.RawMessage
	last time.Time // of the last write
}

// quiet reports whether nothing was written for d, nearly.
func (s *listenStream) quiet(d time.Duration) bool { return time.Since(s.last) >= d*9/10 }

// meta is the _meta of every message of the stream: the subscription id
// is the listen request's JSON-RPC id.
func (s *listenStream) meta() map[string]any {
	return map[string]any{mcp.MetaKeySubscriptionID: s.id}
}

// taskParams are the params of a notifications/tasks: the task as
// tasks/get would return it (a DetailedTask), without resultType.
func (s *listenStream) taskParams(t *tasks.Task) map[string]any {
	data, _ := json.Marshal(detailed(t))
	var p map[string]any
	_ = json.Unmarshal(data, &p)
	delete(p, "resultType")
	p["_meta"] = s.meta()
	return p
}

func (s *listenStream) send(method string, params any) error {
	return s.write(map[string]any{"jsonrpc": "2.0", "method": method, "params": params})
}

// end answers the listen request: the subscription ended gracefully.
func (s *listenStream) end() {
	_ = s.write(map[string]any{"jsonrpc": "2.0", "id": s.id, "result": map[string]any{
		"resultType": "complete", "_meta": s.meta(),
	}})
}

func (s *listenStream) write(msg any) error {
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	return s.raw("event: message\ndata: " + string(data) + "\n\n")
}

// raw writes frames as they are, and flushes them.
func (s *listenStream) raw(frames string) error {
	if _, err := s.w.Write([]byte(frames)); err != nil {
		return err
	}
	if f, ok := s.w.(http.Flusher); ok {
		f.Flush()
	}
	s.last = time.Now()
	return nil
}
