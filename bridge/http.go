package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mooring-dev/mooring/internal/lostsession"
)

// hdr are the MCP headers of one HTTP request.
type hdr struct {
	session, version string
	lastEventID      string
	method, name     string            // 2026-07-28: Mcp-Method, Mcp-Name (encoded)
	params           map[string]string // 2026-07-28: Mcp-Param-{Name} (encoded)
}

// newRequest builds one HTTP request to the endpoint: a POST of body, or
// a GET (stream) when body is nil.
func (b *Bridge) newRequest(ctx context.Context, body []byte, h hdr) (*http.Request, error) {
	method, accept := http.MethodPost, "application/json, text/event-stream"
	var r io.Reader
	if body == nil {
		method, accept = http.MethodGet, "text/event-stream"
	} else {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, b.url, r)
	if err != nil {
		return nil, err
	}
	for k, vs := range b.opts.Header {
		req.Header[k] = append([]string(nil), vs...)
	}
	if b.opts.TokenFile != "" {
		tok, err := os.ReadFile(b.opts.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("reading the bearer token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	req.Header.Set("Accept", accept)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	set := func(k, v string) {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	set("Mcp-Session-Id", h.session)
	set("MCP-Protocol-Version", h.version)
	set("Last-Event-ID", h.lastEventID)
	set("Mcp-Method", h.method)
	set("Mcp-Name", h.name)
	for k, v := range h.params {
		req.Header.Set(k, v)
	}
	return req, nil
}

// Failures of an HTTP exchange, as the retry logic sees them.
var (
	// errUnreachable: the server did not take the request (refused, or a
	// proxy in front said it is away); sending it again is safe.
	errUnreachable = errors.New("the server is unreachable")
	// errBroken: the connection broke after the request was sent; the
	// server may or may not have taken it.
	errBroken = errors.New("the connection broke before the server answered")
)

// do sends one request and classifies a failure as errUnreachable or
// errBroken. A 502, 503 or 504 (a proxy whose server is away) counts as
// unreachable.
func (b *Bridge) do(ctx context.Context, body []byte, h hdr) (*http.Response, error) {
	req, err := b.newRequest(ctx, body, h)
	if err != nil {
		return nil, err
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return nil, fmt.Errorf("%w: %v", errUnreachable, err)
		}
		return nil, fmt.Errorf("%w: %v", errBroken, err)
	}
	switch resp.StatusCode {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %s", errUnreachable, resp.Status)
	case http.StatusBadRequest:
		if h.session != "" {
			lostsession.As404(resp)
		}
	}
	return resp, nil
}

// doWait is do that waits out an unreachable server, with backoff, for up
// to WaitFor (and retries errBroken too when again is true).
func (b *Bridge) doWait(ctx context.Context, body []byte, h hdr, again bool) (*http.Response, error) {
	deadline := time.Now().Add(b.opts.WaitFor)
	bo := newBackoff(0)
	for logged := false; ; {
		resp, err := b.do(ctx, body, h)
		if err == nil || !(errors.Is(err, errUnreachable) || again && errors.Is(err, errBroken)) {
			return resp, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%w for %s: %v", errUnreachable, b.opts.WaitFor, err)
		}
		if !logged {
			b.log.Info("the server is away; waiting for it", "err", err)
			logged = true
		}
		if !sleep(ctx, bo.next()) {
			return nil, ctx.Err()
		}
	}
}

// stream is what relay learns from one response stream.
type stream struct {
	lastID string        // the last event id seen: where to resume
	retry  time.Duration // the server's retry: field
	events int           // events read on this connection
}

// relay reads one response (application/json or an SSE stream) and hands
// every message in it to fromServer. It returns nil when the stream ended
// or c was answered, and the read error when the stream broke.
func (b *Bridge) relay(c *call, resp *http.Response, st *stream) error {
	defer resp.Body.Close()
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if ct == "application/json" {
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		b.fromServer(raw)
		return nil
	}
	if ct != "text/event-stream" {
		return fmt.Errorf("unexpected content type %q", ct)
	}
	st.events = 0
	// Stop reading once c is answered: a server may keep a stream open.
	if c != nil {
		stop := context.AfterFunc(c.ctx, func() { resp.Body.Close() })
		defer stop()
	}
	err := readEvents(resp.Body, func(ev event) bool {
		st.events++
		if ev.hasID {
			st.lastID = ev.id
		}
		if ev.retry > 0 {
			st.retry = ev.retry
		}
		if len(ev.data) > 0 && (ev.name == "" || ev.name == "message") {
			b.fromServer(ev.data)
		}
		return c == nil || !b.isDone(c)
	})
	if c != nil && b.isDone(c) {
		return nil
	}
	return err
}

// errorFromStatus turns a failed HTTP answer into the JSON-RPC error the
// client gets: the server's own JSON-RPC error when the body is one.
func errorFromStatus(resp *http.Response) *jsonrpc.Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if msg, err := jsonrpc.DecodeMessage(body); err == nil {
		var we *jsonrpc.Error
		if r, ok := msg.(*jsonrpc.Response); ok && errors.As(r.Error, &we) {
			return we
		}
	}
	var e struct {
		Error *jsonrpc.Error `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error != nil && e.Error.Message != "" {
		return e.Error
	}
	text := strings.TrimSpace(string(body))
	if len(text) > 300 {
		text = text[:300] + "…"
	}
	msg := fmt.Sprintf("the server answered %s", resp.Status)
	switch resp.StatusCode {
	case http.StatusUnauthorized, http.StatusForbidden:
		msg += " (check --header or --bearer-token-file)"
	}
	if text != "" {
		msg += ": " + text
	}
	return &jsonrpc.Error{Code: codeConnection, Message: "mooring connect: " + msg}
}

// backoff yields growing, jittered delays: start (default 200 ms), doubled
// up to 4 s.
type backoff struct{ cur time.Duration }

const maxBackoff = 4 * time.Second

func newBackoff(start time.Duration) *backoff {
	if start <= 0 {
		start = 200 * time.Millisecond
	}
	return &backoff{cur: start}
}

func (bo *backoff) next() time.Duration {
	d := bo.cur
	bo.cur = min(bo.cur*2, maxBackoff)
	return d - d/5 + rand.N(d/5+1)
}

// sleep waits d or until ctx is done; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
