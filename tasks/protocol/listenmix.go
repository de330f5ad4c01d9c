package protocol

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
)

// UnmarshalJSON reads params.notifications of a subscriptions/listen:
// taskIds, and the other notification types, which go-sdk serves.
func (l *listenHead) UnmarshalJSON(data []byte) error {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(data, &all); err != nil {
		return err
	}
	if raw, ok := all["taskIds"]; ok {
		if err := json.Unmarshal(raw, &l.TaskIDs); err != nil {
			return err
		}
		delete(all, "taskIds")
	}
	l.others = all
	return nil
}

// innerListen is go-sdk's half of a listen that asks for task
// notifications and other types too: the inner handler serves the request
// without its taskIds, and its messages are relayed on the tasks stream.
type innerListen struct {
	msgs   chan json.RawMessage // the inner stream's messages; closed at its end
	done   chan struct{}        // closed by stop: the relay stops reading
	cancel context.CancelFunc
	ended  chan struct{} // closed when the inner handler returned
	once   sync.Once
}

// startInner passes r, with only the notification types others, to the
// inner handler.
func (x *Extension) startInner(r *http.Request, body []byte, others map[string]json.RawMessage) (*innerListen, error) {
	var msg map[string]json.RawMessage
	if err := json.Unmarshal(body, &msg); err != nil {
		return nil, err
	}
	var params map[string]json.RawMessage
	if err := json.Unmarshal(msg["params"], &params); err != nil {
		return nil, err
	}
	params["notifications"], _ = json.Marshal(others)
	msg["params"], _ = json.Marshal(params)
	data, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(r.Context())
	in := &innerListen{msgs: make(chan json.RawMessage), done: make(chan struct{}), cancel: cancel, ended: make(chan struct{})}
	r2 := r.WithContext(ctx)
	r2.Body = io.NopCloser(bytes.NewReader(data))
	r2.ContentLength = int64(len(data))
	go func() {
		defer close(in.ended)
		defer close(in.msgs)
		w := &innerWriter{in: in, header: http.Header{}}
		x.inner.ServeHTTP(w, r2)
		w.rest()
	}()
	return in, nil
}

// stop ends the inner listen and waits for its handler.
func (in *innerListen) stop() {
	in.once.Do(func() {
		in.cancel()
		close(in.done)
	})
	<-in.ended
}

// innerWriter is the ResponseWriter of the inner handler: it splits what
// the handler writes into JSON-RPC messages (SSE data lines, or one JSON
// body).
type innerWriter struct {
	in     *innerListen
	header http.Header
	buf    []byte
}

func (w *innerWriter) Header() http.Header { return w.header }
func (w *innerWriter) WriteHeader(int)     {}
func (w *innerWriter) Flush()              {}

func (w *innerWriter) Write(p []byte) (int, error) {
	w.buf = append(w.buf, p...)
	for {
		i := bytes.Index(w.buf, []byte("\n\n"))
		if i < 0 {
			return len(p), nil
		}
		event := w.buf[:i]
		w.buf = w.buf[i+2:]
		for _, line := range bytes.Split(event, []byte("\n")) {
			if data, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
				if !w.emit(bytes.Clone(data)) {
					return 0, context.Canceled
				}
			}
		}
	}
}

// rest emits a JSON body (an error answered without a stream).
func (w *innerWriter) rest() {
	if b := bytes.TrimSpace(w.buf); len(b) > 0 && b[0] == '{' {
		w.emit(bytes.Clone(b))
	}
}

func (w *innerWriter) emit(msg json.RawMessage) bool {
	select {
	case w.in.msgs <- msg:
		return true
	case <-w.in.done:
		return false
	}
}
