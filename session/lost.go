package session

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// lostMessage fails the call whose stream could not log one of its
// messages (the store was away longer than its calls wait): a call must
// not report success while a message of it vanished. The client gets an
// error that says so, on the stream if it can still be logged, else
// directly; the backend is told to cancel the request, and its response,
// if it comes, is dropped.
func (s *Session) lostMessage(st *Stream, method string, why error) {
	s.mu.Lock()
	var id jsonrpc.ID
	var c *call
	for cid, cc := range s.calls {
		if cc.stream == st {
			id, c = cid, cc
			break
		}
	}
	if c != nil {
		delete(s.calls, id)
		delete(s.streams, st.id)
		if c.progress != "" && s.progress[c.progress] == st.id {
			delete(s.progress, c.progress)
		}
	}
	s.mu.Unlock()
	if c == nil {
		return
	}
	msg := fmt.Sprintf("mooring could not log a %s message of this request (session store unavailable: %v); the request was cancelled rather than answered with a message missing; retry it", method, why)
	data, _ := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: id, Error: &jsonrpc.Error{Code: CodeInterrupted, Message: msg}})
	// A short try to log the error, so that a client that resumes the
	// stream later finds it; the store has just failed for a while, and
	// the client is not kept waiting for it again.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if _, err := st.publish(ctx, data, true); err != nil {
		st.finishUnlogged(data)
	}
	cp, _ := json.Marshal(map[string]any{"requestId": id.Raw(), "reason": "mooring could not log one of its messages"})
	// Not from this goroutine: it may be the backend's own, writing to us.
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.conn.Send(ctx, &jsonrpc.Request{Method: "notifications/cancelled", Params: cp})
	}()
	s.m.log.Error("request failed: one of its messages could not be logged", "session", s.id, "stream", st.id, "id", id.Raw(), "method", method)
}
