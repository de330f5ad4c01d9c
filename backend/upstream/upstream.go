// Package upstream serves mooring sessions from an MCP server that speaks
// Streamable HTTP elsewhere: each mooring session opens its own upstream
// session (go-sdk's StreamableClientTransport), which mooring initializes
// with the client's own initialize.
//
// go-sdk's client connection learns the negotiated protocol version and
// opens the standalone GET stream only when an mcp.Client tells it to;
// mooring forwards raw messages without an mcp.Client, so this package does
// both itself: a RoundTripper adds MCP-Protocol-Version (learned from the
// initialize response) and the configured headers to every request, and a
// goroutine holds the GET stream for server messages that belong to no
// request (resource updates, list changes).
//
// When the upstream forgets the session (404: it restarted, or expired it;
// or a 400 that says so, as servers built on the TypeScript SDK answer),
// the connection is gone (backend.ErrGone, backend.Watched): the mooring
// session restores itself into a fresh upstream session with the client's
// initialize replayed, and the client notices nothing.
package upstream

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/internal/lostsession"
)

// Options say where the upstream server is.
type Options struct {
	// Name names the server in logs (its mcpServers key); default the URL.
	Name string
	// URL is the upstream's MCP endpoint.
	URL string
	// Headers are added to every request (Authorization, say); they never
	// replace the protocol's own headers.
	Headers map[string]string
	// Transport carries the requests; default a clone of
	// http.DefaultTransport.
	Transport http.RoundTripper
	Logger    *slog.Logger
}

// Opener opens one upstream session per mooring session.
type Opener struct {
	opts Options
	base http.RoundTripper
	log  *slog.Logger
}

// New returns an Opener for opts.
func New(opts Options) *Opener {
	if opts.Name == "" {
		opts.Name = opts.URL
	}
	base := opts.Transport
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Opener{opts: opts, base: base, log: log.With("backend", opts.Name)}
}

// Open implements backend.Opener. Nothing goes over the network until the
// session sends its initialize.
func (o *Opener) Open(ctx context.Context, sessionID string, h backend.Handler) (backend.Conn, error) {
	c := &conn{
		url:  o.opts.URL,
		h:    h,
		log:  o.log.With("session", sessionID),
		done: make(chan struct{}),
	}
	c.client = &http.Client{Transport: &headers{base: o.base, static: o.opts.Headers, version: &c.version}}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	tr := &mcp.StreamableClientTransport{
		Endpoint:   o.opts.URL,
		HTTPClient: c.client,
		// go-sdk would never start it without an mcp.Client; say so.
		DisableStandaloneSSE: true,
	}
	mc, err := tr.Connect(ctx)
	if err != nil {
		c.cancel()
		return nil, fmt.Errorf("upstream %s: %w", o.opts.Name, err)
	}
	c.mc = mc
	go c.read()
	return c, nil
}

// EndRemote implements backend.RemoteEnder: a DELETE of upstream session
// id, with the configured headers. 404 (and a 400 that says so, see lostsession.As404) means that
// the upstream forgot it already.
func (o *Opener) EndRemote(ctx context.Context, id, version string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, o.opts.URL, nil)
	if err != nil {
		return fmt.Errorf("upstream %s: %w", o.opts.Name, err)
	}
	req.Header.Set("Mcp-Session-Id", id)
	if version != "" {
		req.Header.Set("Mcp-Protocol-Version", version)
	}
	var v atomic.Value
	resp, err := (&headers{base: o.base, static: o.opts.Headers, version: &v}).RoundTrip(req)
	if err != nil {
		return fmt.Errorf("upstream %s: end session %s: %w", o.opts.Name, id, err)
	}
	resp.Body.Close()
	switch {
	case resp.StatusCode < 300, resp.StatusCode == http.StatusNotFound:
		return nil
	case resp.StatusCode == http.StatusMethodNotAllowed:
		return nil // the upstream does not let clients end sessions
	}
	return fmt.Errorf("upstream %s: end session %s: %s", o.opts.Name, id, resp.Status)
}

// conn is one upstream session.
type conn struct {
	url     string
	client  *http.Client
	mc      mcp.Connection
	h       backend.Handler
	log     *slog.Logger
	pending backend.Pending
	version atomic.Value // string: the negotiated protocol version

	ctx    context.Context // ends the GET stream
	cancel context.CancelFunc

	listenOnce sync.Once
	closing    atomic.Bool
	gone       atomic.Bool
	endOnce    sync.Once
	done       chan struct{}
}

// Send implements backend.Conn.
func (c *conn) Send(ctx context.Context, msg jsonrpc.Message) error {
	if c.gone.Load() {
		return fmt.Errorf("upstream: %w: the upstream session is gone", backend.ErrGone)
	}
	if c.closing.Load() {
		return backend.ErrClosed
	}
	c.pending.Sent(msg)
	err := c.mc.Write(ctx, msg)
	if err != nil && staleConn(err) && ctx.Err() == nil {
		// A pooled connection that the upstream closed (it restarted, or
		// timed the connection out) just as the request went out: net/http
		// retries only idempotent methods. An upstream that closed an idle
		// connection did not read the POST; one that read it and died has
		// forgotten the session, and the second try meets its 404.
		err = c.mc.Write(ctx, msg)
	}
	if err == nil {
		return nil
	}
	c.pending.Unsent(msg)
	switch {
	case errors.Is(err, mcp.ErrSessionMissing):
		c.lost(err)
		return fmt.Errorf("upstream: %w: %w", backend.ErrGone, err)
	case c.gone.Load():
		// Lost while the request went out (the GET stream met the 404
		// first, and the session may have closed the connection since):
		// still gone, so that the session sends it again.
		return fmt.Errorf("upstream: %w: %w", backend.ErrGone, err)
	case c.closing.Load():
		return backend.ErrClosed
	}
	// Unreachable, 5xx, a rejected message: the upstream session may still
	// be there, and the error goes to the client.
	c.log.Debug("upstream request failed", "err", err)
	return fmt.Errorf("upstream: %w", err)
}

// staleConn reports whether err is a connection that ended before any
// answer: what a reused keep-alive connection gives when its peer closed it.
func staleConn(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// read delivers the upstream's messages (answers to POSTs) until the
// connection ends.
func (c *conn) read() {
	for {
		msg, err := c.mc.Read(c.ctx)
		if err != nil {
			c.lost(err)
			return
		}
		c.deliver(msg)
	}
}

func (c *conn) deliver(msg jsonrpc.Message) {
	if c.pending.Answered(msg) == "initialize" {
		c.initialized(msg.(*jsonrpc.Response))
	}
	if err := c.h(c.ctx, msg); err != nil {
		c.log.Error("delivering a message from the upstream", "err", err)
	}
}

// initialized learns the protocol version from the initialize response, for
// the header of every later request, and opens the GET stream. It runs
// before the response is delivered, so the client's next message already
// carries the header.
func (c *conn) initialized(resp *jsonrpc.Response) {
	if resp.Error != nil {
		return
	}
	var res struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	if json.Unmarshal(resp.Result, &res) != nil || res.ProtocolVersion == "" {
		return
	}
	c.version.Store(res.ProtocolVersion)
	if sid := c.mc.SessionID(); sid != "" {
		c.listenOnce.Do(func() { go c.listen(sid) })
	}
}

// lost ends the connection once. Unless Close ended it, the upstream
// session is gone: requests in flight are answered with an error, Send
// fails with backend.ErrGone, and Done tells the session.
func (c *conn) lost(why error) {
	c.endOnce.Do(func() {
		if !c.closing.Load() {
			c.gone.Store(true)
			c.log.Warn("upstream session lost; the session's next request opens a new one", "err", why)
			c.pending.Fail(context.Background(), c.h, "the upstream MCP server lost the session before answering; retry the request")
		}
		c.cancel()
		close(c.done)
	})
}

// Done implements backend.Watched.
func (c *conn) Done() <-chan struct{} { return c.done }

// RemoteSession implements backend.Remote.
func (c *conn) RemoteSession() string { return c.mc.SessionID() }

// Close implements backend.Conn: go-sdk sends the upstream a DELETE for the
// session (unless the upstream already said it was gone).
func (c *conn) Close() error {
	c.closing.Store(true)
	err := c.mc.Close()
	c.lost(nil)
	return err
}

// listen holds the standalone GET stream of upstream session sid: it
// resumes after drops with Last-Event-ID, stops for an upstream that offers
// none (405, or another 4xx, as go-sdk tolerates), and declares the session
// lost on 404.
func (c *conn) listen(sid string) {
	var last string
	delay := time.Second
	for c.ctx.Err() == nil {
		req, err := http.NewRequestWithContext(c.ctx, http.MethodGet, c.url, nil)
		if err != nil {
			c.log.Error("upstream GET stream", "err", err)
			return
		}
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set("Mcp-Session-Id", sid)
		if last != "" {
			req.Header.Set("Last-Event-ID", last)
		}
		resp, err := c.client.Do(req)
		switch {
		case c.ctx.Err() != nil:
			if err == nil {
				resp.Body.Close()
			}
			return
		case err != nil:
			c.log.Debug("upstream GET stream unreachable; retrying", "err", err, "in", delay)
		case resp.StatusCode == http.StatusNotFound:
			resp.Body.Close()
			c.lost(fmt.Errorf("upstream answered 404 for session %s: %w", sid, mcp.ErrSessionMissing))
			return
		case resp.StatusCode >= 400 && resp.StatusCode < 500:
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed {
				c.log.Warn("upstream refused the GET stream; messages outside requests will not arrive", "status", resp.Status)
			}
			return
		case resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream"):
			resp.Body.Close()
			c.log.Debug("upstream GET stream refused; retrying", "status", resp.Status, "in", delay)
		default:
			delay = time.Second
			var retry time.Duration
			last, retry = c.readEvents(resp, last)
			if retry > 0 {
				delay = retry
			}
		}
		select {
		case <-c.ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 30*time.Second)
	}
}

// maxEvent bounds one SSE event's data.
const maxEvent = 16 << 20

// readEvents delivers the messages of one GET response; it returns the
// last event id seen and the retry hint, if any.
func (c *conn) readEvents(resp *http.Response, last string) (string, time.Duration) {
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), maxEvent)
	var data []byte
	var retry time.Duration
	event := ""
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if len(data) > 0 && (event == "" || event == "message") {
				msg, err := jsonrpc.DecodeMessage(data)
				if err != nil {
					c.log.Warn("undecodable message on the upstream GET stream", "err", err)
				} else {
					c.deliver(msg)
				}
			}
			data, event = data[:0], ""
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "data":
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, value...)
		case "id":
			last = value
		case "event":
			event = value
		case "retry":
			if ms, err := strconv.Atoi(value); err == nil && ms > 0 {
				retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
	return last, retry
}

// headers adds the configured headers and the negotiated protocol version
// to requests that lack them.
type headers struct {
	base    http.RoundTripper
	static  map[string]string
	version *atomic.Value
}

// RoundTrip also turns a 400 that says the session is unknown into a 404,
// so that the session is re-opened as for any server that forgot it.
func (t *headers) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.roundTrip(req)
	if err == nil && req.Header.Get("Mcp-Session-Id") != "" {
		lostsession.As404(resp)
	}
	return resp, err
}

func (t *headers) roundTrip(req *http.Request) (*http.Response, error) {
	v, _ := t.version.Load().(string)
	if len(t.static) == 0 && (v == "" || req.Header.Get("Mcp-Protocol-Version") != "") {
		return t.base.RoundTrip(req)
	}
	// A RoundTripper must not change the caller's request.
	r := req.Clone(req.Context())
	for k, val := range t.static {
		if r.Header.Get(k) == "" {
			r.Header.Set(k, val)
		}
	}
	if v != "" && r.Header.Get("Mcp-Protocol-Version") == "" {
		r.Header.Set("Mcp-Protocol-Version", v)
	}
	return t.base.RoundTrip(r)
}
