// Package httplimit bounds what one HTTP client can hold of a server:
// connections (a listener that sheds those beyond a cap, keeping a few in
// reserve for health probes), the time a request body may take to arrive,
// and the time an answer may wait for a client that does not read it.
//
// net/http's own ReadTimeout and WriteTimeout do not fit a server of
// long-lived SSE streams: they count from the start of the request, so a
// stream would be cut after them. Here the body has its read deadline until
// it is read, and every write of the answer gets its own write deadline:
// a stream that keeps writing (events, heartbeats) lives for hours, one
// whose client stopped reading ends after WriteTimeout.
package httplimit

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// ReserveLifetime bounds the answer on a connection taken from the reserve
// (its request has the server's ReadHeaderTimeout): it serves one probe and
// is closed.
const ReserveLifetime = 5 * time.Second

// Listener accepts connections up to Max at a time. Beyond it, up to
// Reserve more are accepted for health probes only (see Handler); any
// further connection gets a 503 and is closed at once, so that the kernel's
// backlog and the process' file descriptors are not held by them.
type Listener struct {
	net.Listener
	full, reserve chan struct{} // semaphores: a slot per open connection
	shed          atomic.Int64
}

// NewListener limits ln to max connections plus reserve for probes.
func NewListener(ln net.Listener, max, reserve int) *Listener {
	return &Listener{Listener: ln, full: make(chan struct{}, max), reserve: make(chan struct{}, reserve)}
}

// Open returns the number of connections open, reserve included.
func (l *Listener) Open() int { return len(l.full) + len(l.reserve) }

// Shed returns the number of connections answered 503 and closed because
// every slot was taken (at accept, or on a reserve connection whose request
// was not a probe).
func (l *Listener) Shed() int64 { return l.shed.Load() }

var shedAnswer = []byte("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\nRetry-After: 1\r\nContent-Length: 21\r\n\r\ntoo many connections\n")

// Accept returns the next connection that has a slot.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.full <- struct{}{}:
			return &conn{Conn: c, slots: l.full}, nil
		default:
		}
		select {
		case l.reserve <- struct{}{}:
			_ = c.SetDeadline(time.Now().Add(ReserveLifetime))
			return &conn{Conn: c, slots: l.reserve, reserved: &l.shed}, nil
		default:
		}
		// The send buffer of a fresh connection is empty: this write does
		// not wait on the client.
		l.shed.Add(1)
		_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = c.Write(shedAnswer)
		_ = c.Close()
	}
}

// conn frees its slot when closed.
type conn struct {
	net.Conn
	slots    chan struct{}
	reserved *atomic.Int64 // of a reserve connection: its listener's shed count
	once     sync.Once
}

func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { <-c.slots })
	return err
}

// CloseWrite lets net/http half-close the connection, as it does a TCP one.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

type reservedKey struct{}

// ConnContext fits http.Server.ConnContext: it marks the requests of a
// connection taken from the reserve.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if lc, ok := c.(*conn); ok && lc.reserved != nil {
		return context.WithValue(ctx, reservedKey{}, lc.reserved)
	}
	return ctx
}

// Options bound a request. A zero duration means no bound.
type Options struct {
	// BodyTimeout bounds reading the request body, from the end of its
	// headers.
	BodyTimeout time.Duration
	// WriteTimeout bounds each write of the answer (and the first one from
	// the start of the request): a client that does not read is cut off
	// after it.
	WriteTimeout time.Duration
	// Probe tells the requests that a reserve connection may serve.
	Probe func(*http.Request) bool
}

// Handler applies opts to every request that next serves.
func Handler(next http.Handler, opts Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if shed, ok := r.Context().Value(reservedKey{}).(*atomic.Int64); ok {
			// One request per reserve connection, and only a probe; its
			// answer keeps the write deadline set at accept.
			w.Header().Set("Connection", "close")
			if opts.Probe == nil || !opts.Probe(r) {
				shed.Add(1)
				shedRequest(w)
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if opts.BodyTimeout > 0 && r.Body != nil && r.Body != http.NoBody {
			_ = rc.SetReadDeadline(time.Now().Add(opts.BodyTimeout))
			r.Body = &body{ReadCloser: r.Body, rc: rc}
		}
		if opts.WriteTimeout > 0 {
			dw := &deadlineWriter{ResponseWriter: w, rc: rc, d: opts.WriteTimeout}
			dw.extend()
			w = dw
		}
		next.ServeHTTP(w, r)
	})
}

// shedRequest answers 503 on a reserve connection and closes it at once:
// net/http would keep a connection whose body was not read for a while
// before closing it, and the reserve is for probes.
func shedRequest(w http.ResponseWriter) {
	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many connections", http.StatusServiceUnavailable)
		return
	}
	_, _ = c.Write(shedAnswer)
	_ = c.Close()
}

// body lifts its read deadline once it has been read to the end: what
// follows is the answer, which may be a stream of hours, and net/http's
// read of the idle connection (to see the client leave) must not time out.
// After an error the deadline stays: the connection is not reused.
type body struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// deadlineWriter gives each write a fresh write deadline.
type deadlineWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (w *deadlineWriter) extend() { _ = w.rc.SetWriteDeadline(time.Now().Add(w.d)) }

func (w *deadlineWriter) WriteHeader(code int) {
	w.extend()
	w.ResponseWriter.WriteHeader(code)
}

func (w *deadlineWriter) Write(p []byte) (int, error) {
	w.extend()
	return w.ResponseWriter.Write(p)
}

// FlushError is what http.ResponseController.Flush calls.
func (w *deadlineWriter) FlushError() error {
	w.extend()
	return w.rc.Flush()
}

// Flush serves callers that look for http.Flusher.
func (w *deadlineWriter) Flush() { _ = w.FlushError() }

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *deadlineWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
