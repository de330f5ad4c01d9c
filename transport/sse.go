package transport

import (
	"bytes"
	"net/http"
	"strconv"
	"time"

	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store"
)

// sseWriter frames events onto an HTTP response. It keeps one buffer for the
// frames, so that writing an event does not allocate.
type sseWriter struct {
	w     http.ResponseWriter
	rc    *http.ResponseController
	buf   []byte
	delay time.Duration // the retry hint of priming events
	err   error         // first write error; later writes are skipped
}

// Header values shared by every SSE response, so that setting them does not
// allocate.
var (
	eventStream = []string{"text/event-stream"}
	noCache     = []string{"no-cache, no-transform"}
	no          = []string{"no"}
)

// startSSE starts an SSE response; with flush, its headers are sent at once
// (a GET stream may wait long for its first event; a client must know that
// it is open).
func (h *Handler) startSSE(w http.ResponseWriter, flush bool) *sseWriter {
	hdr := w.Header()
	hdr["Content-Type"] = eventStream
	hdr["Cache-Control"] = noCache
	// Proxies such as nginx must neither buffer nor hold back the stream.
	hdr["X-Accel-Buffering"] = no
	w.WriteHeader(http.StatusOK)
	sw := &sseWriter{w: w, rc: http.NewResponseController(w), buf: make([]byte, 0, 512), delay: h.opts.Retry}
	if flush {
		sw.flush()
	}
	return sw
}

// event frames one event. A stream-open marker is written as a priming event
// (an id, the retry delay and empty data) when prime is set, and skipped
// otherwise: older clients never saw it.
func (sw *sseWriter) event(ev store.Event, prime bool) {
	if session.IsMarker(ev.Data) {
		if !prime {
			return
		}
		sw.buf = append(sw.buf, "id: "...)
		sw.buf = ev.ID.AppendText(sw.buf)
		sw.buf = append(sw.buf, "\nretry: "...)
		sw.buf = strconv.AppendInt(sw.buf, sw.delay.Milliseconds(), 10)
		sw.buf = append(sw.buf, "\ndata: \n\n"...)
		return
	}
	if ev.ID.Seq != 0 {
		sw.buf = append(sw.buf, "id: "...)
		sw.buf = ev.ID.AppendText(sw.buf)
		sw.buf = append(sw.buf, '\n')
	}
	sw.buf = append(sw.buf, "event: message\n"...)
	sw.buf = appendData(sw.buf, ev.Data)
	sw.buf = append(sw.buf, '\n')
}

// appendData frames a payload as data fields, one per line of it. A
// JSON-RPC message from mooring's encoder is one line, but a payload is
// the backend's: a line break in it, framed as is, would end the event
// early and let the rest pass for other fields and events (another id, a
// forged message). Line breaks (CRLF, LF, CR) become LF in what the client
// parses, which is whitespace to JSON alike.
func appendData(b, data []byte) []byte {
	for {
		i := bytes.IndexByte(data, '\n')
		if j := bytes.IndexByte(data, '\r'); j >= 0 && (i < 0 || j < i) {
			i = j
		}
		b = append(b, "data: "...)
		if i < 0 {
			b = append(b, data...)
			return append(b, '\n')
		}
		b = append(b, data[:i]...)
		b = append(b, '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
}

// retry tells the client how long to wait before it reconnects.
func (sw *sseWriter) retry(d time.Duration) {
	sw.buf = append(sw.buf, "retry: "...)
	sw.buf = strconv.AppendInt(sw.buf, d.Milliseconds(), 10)
	sw.buf = append(sw.buf, "\n\n"...)
}

// comment writes a heartbeat that clients ignore.
func (sw *sseWriter) comment() {
	sw.buf = append(sw.buf, ": keepalive\n\n"...)
}

// write hands the buffered frames to the ResponseWriter without flushing.
func (sw *sseWriter) write() {
	if sw.err == nil && len(sw.buf) > 0 {
		_, sw.err = sw.w.Write(sw.buf)
	}
	sw.buf = sw.buf[:0]
}

func (sw *sseWriter) flush() {
	if sw.err != nil {
		sw.buf = sw.buf[:0]
		return
	}
	if len(sw.buf) > 0 {
		_, sw.err = sw.w.Write(sw.buf)
		sw.buf = sw.buf[:0]
	}
	if sw.err == nil {
		sw.err = sw.rc.Flush()
	}
}
