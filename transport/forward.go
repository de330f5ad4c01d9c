package transport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mooring-dev/mooring/session"
)

// ForwardedHeader marks a request that one replica passed to the session's
// owner; the owner never passes it on again.
const ForwardedHeader = "Mooring-Forwarded"

// DefaultOwnerWait bounds how long a request waits for a dead owner's lease
// to run out before it is served here.
const DefaultOwnerWait = 15 * time.Second

// hopHeaders are not passed from one replica to the next.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// DrainingHeader is set on the 503 of a replica that is draining and no
// longer serves the session: the replica that forwarded the request tries
// again (the session's lease is free, or has a new owner, a moment later).
const DrainingHeader = "Mooring-Draining"

// forwarder passes requests between replicas. Its header timeout holds for
// SSE answers, whose headers leave the owner within the prime delay, and
// GET streams, which send theirs at once: an owner that accepts but does
// not answer (hung, stopped) is not waited on for ever. A JSON answer comes
// with its headers only when the work is done, so JSON mode has no such
// bound.
type forwarder struct {
	pooled *http.Client // keeps connections to the owners alive
	fresh  *http.Client // one connection per request: for the resend
}

// DefaultOwnerTimeout is the default of Options.OwnerTimeout.
const DefaultOwnerTimeout = 10 * time.Second

// Forwarders of every handler's JSON-mode POSTs (no header timeout), and
// of the rest, by header timeout: shared, so that handlers share their
// connections to the owners.
var (
	forwardJSON  = newForwarder(0)
	forwardersMu sync.Mutex
	forwarders   = make(map[time.Duration]*forwarder)
)

func forwarderFor(headerTimeout time.Duration) *forwarder {
	forwardersMu.Lock()
	defer forwardersMu.Unlock()
	f := forwarders[headerTimeout]
	if f == nil {
		f = newForwarder(headerTimeout)
		forwarders[headerTimeout] = f
	}
	return f
}

func newForwarder(headerTimeout time.Duration) *forwarder {
	tr := func(keepAlive bool) *http.Client {
		return &http.Client{Transport: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       time.Minute,
			ResponseHeaderTimeout: headerTimeout,
			DisableKeepAlives:     !keepAlive,
		}}
	}
	return &forwarder{pooled: tr(true), fresh: tr(false)}
}

// withSession runs serve with the live session sid. When another replica
// owns it, the request is passed to that replica instead. When the owner's
// address refuses connections, its process is gone: the session is taken
// over at once (under a new fencing token) and served here, unless the
// owner is draining, in which case the request waits for its hand-over.
// When the owner does not answer otherwise (a timeout: it hangs), the
// request waits until its lease runs out and the session can be restored
// here.
func (h *Handler) withSession(w http.ResponseWriter, r *http.Request, sid string, body []byte, serve func(*session.Session) error) error {
	if !validSessionID(sid) {
		// Not an id mooring could have issued: unknown, without asking the
		// store.
		return fmt.Errorf("%w: malformed id", session.ErrNotFound)
	}
	ctx := r.Context()
	getCtx := ctx
	if r.Header.Get(ForwardedHeader) == "" {
		// Read by a draining replica just as it stopped reading: served
		// here (session.AdmitWhileDraining), not refused.
		getCtx = session.AdmitWhileDraining(ctx)
	}
	deadline := time.Now().Add(h.opts.OwnerWait)
	var logged bool
	for {
		s, err := h.m.Get(getCtx, sid)
		if err == nil {
			if err := h.checkPrincipal(r, sid, s.Principal()); err != nil {
				return err
			}
			return serve(s)
		}
		var re *session.RemoteError // on the heap (errors.As): not on the way above
		if !errors.As(err, &re) {
			if errors.Is(err, session.ErrDraining) && r.Header.Get(ForwardedHeader) != "" {
				w.Header().Set(DrainingHeader, "1")
			}
			return err
		}
		// Refused here, before the owner is asked, from the stored
		// record: a client that sends ForwardedHeader itself learns
		// nothing either. The owner checks again on the client's own
		// token, which the forwarded request carries.
		if err := h.checkPrincipal(r, sid, re.Principal); err != nil {
			return err
		}
		if r.Header.Get(ForwardedHeader) != "" {
			// One hop only: a replica that a request was passed to and
			// that sees yet another owner does not pass it on (two
			// replicas that each see the other as owner, or an
			// advertised URL that points at the balancer, would loop).
			return statusError(http.StatusServiceUnavailable, "session %s is moving between replicas; retry", sid)
		}
		fw := h.fwd
		if h.opts.Mode == JSON && r.Method == http.MethodPost {
			fw = forwardJSON
		}
		res := fw.forward(w, r, body, re.OwnerURL, h.opts.Drain, h.opts.Retry)
		if res.sent || res.err != nil {
			return res.err
		}
		if res.lost != nil {
			if err := h.lost(ctx, r, body, re.OwnerURL, res.lost); err != nil {
				return err
			}
			// Safe to send again: a GET, a DELETE, a notification, or
			// a call that the draining owner never read.
		}
		wait := "session owner unreachable; waiting for its lease to run out"
		switch {
		case res.draining:
			wait = "session owner is draining; waiting for it to hand the session over"
			deadline = time.Now().Add(h.opts.OwnerWait)
		case res.refused:
			took, err := h.m.TakeOver(ctx, sid, re.OwnerURL)
			if err != nil {
				h.log.Warn("taking over the session of an owner that refuses connections", "session", sid, "owner", re.OwnerURL, "err", err)
			}
			if took {
				continue // the next Get restores the session here
			}
			if err == nil {
				// Not taken: the owner is draining, or another
				// replica took the lease first (the next Get says).
				wait = "session owner is draining; waiting for it to hand the session over"
				deadline = time.Now().Add(h.opts.OwnerWait)
			}
		}
		if time.Now().After(deadline) {
			return statusError(http.StatusServiceUnavailable, "the replica that owns session %s does not answer; retry", sid)
		}
		if !logged {
			h.log.Warn(wait, "session", sid, "owner", re.OwnerURL)
			logged = true
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// lost decides about a request that reached the owner without an answer
// coming back: nil if it may be sent again, else the error to answer with.
// A call may have run (its owner died, or broke the connection, while it
// ran): unless it is safe to repeat (idempotent), it is answered as
// interrupted, the clear error that the session's next owner gives the
// client for a call that its dead owner ran, never run twice. Other
// requests are safe to repeat, and so is any request that a draining
// owner dropped: it reads no new request.
func (h *Handler) lost(ctx context.Context, r *http.Request, body []byte, owner string, cause error) error {
	req, ok := decodeCall(r, body)
	if !ok {
		return nil
	}
	if draining, err := h.m.OwnerDraining(ctx, owner); err == nil && draining {
		return nil
	}
	if h.m.SafeToRepeat(ctx, req) {
		// An idempotent call is sent again: to the owner, which rejoins
		// it if it still runs, or to the session's next owner, which
		// re-runs it (session: calls cut off by a crash).
		return nil
	}
	h.log.Warn("the replica that owns the session failed during a call: answered as interrupted", "session", r.Header.Get("Mcp-Session-Id"), "owner", owner, "err", cause)
	return &httpError{
		status: http.StatusOK, code: session.CodeInterrupted, id: req.ID,
		msg: "request interrupted: the server that handled it stopped before answering; retry it",
	}
}

// decodeCall returns the JSON-RPC call that a POST carries.
func decodeCall(r *http.Request, body []byte) (*jsonrpc.Request, bool) {
	if r.Method != http.MethodPost {
		return nil, false
	}
	msg, err := decodeMessage(body)
	if err != nil {
		return nil, false
	}
	req, ok := msg.(*jsonrpc.Request)
	return req, ok && req.IsCall()
}

// forwardResult says how a forwarded request went: sent (an answer, or an
// error, was written), or not sent because the owner refused the
// connection (refused), said it no longer serves the session (draining),
// could not be reached otherwise, or may have read it and did not answer
// (lost).
type forwardResult struct {
	sent, refused, draining bool
	err                     error
	// lost: the request reached the owner, which may have read it, and no
	// answer came back (nothing was written).
	lost error
}

// forward passes r to the owner and copies its answer back, streaming. It
// reports sent false, with nothing written, when the owner cannot be
// reached. An SSE answer ends when drain is closed (this replica shuts
// down), after a whole event and with the retry hint retry: the client
// comes back through another replica.
func (f *forwarder) forward(w http.ResponseWriter, r *http.Request, body []byte, ownerURL string, drain <-chan struct{}, retry time.Duration) forwardResult {
	// Its own context, so that a drain can end the stream from the owner.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	resp, resent, err := f.send(ctx, r, body, ownerURL)
	if err != nil {
		if r.Context().Err() != nil {
			return forwardResult{sent: true, err: r.Context().Err()}
		}
		var op *net.OpError
		refused := errors.As(err, &op) && op.Op == "dial" && errors.Is(err, syscall.ECONNREFUSED)
		if errors.As(err, &op) && op.Op == "dial" && !resent {
			// Never reached the owner: safe to wait and retry.
			return forwardResult{refused: refused}
		}
		// The owner may have read the request (and died, or broke the
		// connection): withSession decides.
		return forwardResult{refused: refused, lost: fmt.Errorf("forwarding to %s: %w", ownerURL, err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get(DrainingHeader) != "" {
		return forwardResult{draining: true}
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	for _, k := range hopHeaders {
		w.Header().Del(k)
	}
	w.WriteHeader(resp.StatusCode)
	if isMediaType(resp.Header.Get("Content-Type"), "text/event-stream") {
		copyEvents(w, resp.Body, drain, cancel, retry)
	} else {
		copyBody(w, resp.Body)
	}
	// EOF, the client leaving, or the owner's stream breaking: the answer
	// was sent as far as it went, and the client resumes.
	return forwardResult{sent: true}
}

// send sends r to the owner. A request that fails on a kept-alive
// connection before any answer (the owner closed the connection as it was
// reused: it drains, or its idle timeout ran out) was never read by the
// owner, and is sent once more on a fresh connection.
//
// It reports whether it sent the request twice. Should the owner have read
// it after all, the second copy finds the call running and rejoins its
// stream (session.Session.Call).
func (f *forwarder) send(ctx context.Context, r *http.Request, body []byte, ownerURL string) (*http.Response, bool, error) {
	var reused bool
	trace := &httptrace.ClientTrace{GotConn: func(c httptrace.GotConnInfo) { reused = c.Reused }}
	req, err := newForwardRequest(httptrace.WithClientTrace(ctx, trace), r, body, ownerURL)
	if err != nil {
		return nil, false, err
	}
	resp, err := f.pooled.Do(req)
	if err == nil || !reused || !closedUnread(err) || ctx.Err() != nil {
		return resp, false, err
	}
	if req, err = newForwardRequest(ctx, r, body, ownerURL); err != nil {
		return nil, false, err
	}
	resp, err = f.fresh.Do(req)
	return resp, true, err
}

func newForwardRequest(ctx context.Context, r *http.Request, body []byte, ownerURL string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, r.Method, ownerURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header = r.Header.Clone()
	for _, k := range hopHeaders {
		req.Header.Del(k)
	}
	req.Header.Set(ForwardedHeader, "1")
	return req, nil
}

// closedUnread reports whether err is a kept-alive connection closed by
// the other end before it answered anything: EOF, a reset, or net/http's
// "server closed idle connection".
func closedUnread(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		strings.Contains(err.Error(), "server closed idle connection")
}

// copyBody copies a plain answer.
func copyBody(w http.ResponseWriter, body io.Reader) {
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // the client left
			}
			_ = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

// checkPrincipal refuses a request for session sid, which belongs to
// owner, from anyone else: someone else's session is as unknown as an id
// that never existed (DESIGN.md, invariant 11), and the refusal is logged.
func (h *Handler) checkPrincipal(r *http.Request, sid, owner string) error {
	got := principal(r)
	if got == owner {
		return nil
	}
	h.log.Warn("request refused: the session belongs to another principal", "session", sid, "principal", got, "method", r.Method)
	return fmt.Errorf("%w: %s", session.ErrNotFound, sid)
}

// principal is who sent r: the principal of its verified token (auth
// middleware), "" without authentication.
func principal(r *http.Request) string {
	if ti := auth.TokenInfoFromContext(r.Context()); ti != nil {
		return ti.UserID
	}
	return ""
}

// copyEvents copies an SSE answer event by event, each passed on at once.
// When drain is closed it stops the request to the owner (stop), drops
// the event it was reading, if any, and ends the response with a retry
// hint: the client resumes from the id it got last.
func copyEvents(w http.ResponseWriter, body io.Reader, drain <-chan struct{}, stop func(), retry time.Duration) {
	rc := http.NewResponseController(w)
	var drained atomic.Bool
	if drain != nil {
		finished := make(chan struct{})
		defer close(finished)
		go func() {
			select {
			case <-drain:
				drained.Store(true)
				stop() // ends the read below
			case <-finished:
			}
		}()
	}
	br := bufio.NewReader(body)
	var event []byte
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			event = append(event, line...) // a long line: read on
			continue
		}
		if err != nil {
			if drained.Load() {
				_, _ = fmt.Fprintf(w, "retry: %d\n\n", retry.Milliseconds())
				_ = rc.Flush()
			}
			return
		}
		event = append(event, line...)
		if len(line) > 1 && !(len(line) == 2 && line[0] == '\r') {
			continue // the event goes on
		}
		if _, err := w.Write(event); err != nil {
			return // the client left
		}
		_ = rc.Flush()
		event = event[:0]
	}
}

// validSessionID accepts what the spec allows (visible ASCII) up to a length
// far above mooring's own 32-character ids.
func validSessionID(sid string) bool {
	if len(sid) == 0 || len(sid) > 256 {
		return false
	}
	for i := 0; i < len(sid); i++ {
		if sid[i] < 0x21 || sid[i] > 0x7e {
			return false
		}
	}
	return true
}
