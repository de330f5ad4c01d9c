// Package transport is mooring's MCP Streamable HTTP endpoint: it checks each
// request (Origin and Host, Accept, Content-Type, protocol version, body
// size), hands it to the session manager, and writes replies as JSON or as
// SSE streams from the event log. It is the one place where errors become
// HTTP statuses.
package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store"
)

// Versions are the sessionful protocol revisions that mooring serves, oldest
// first. The stateless ones are StatelessVersions.
var Versions = []string{"2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"}

// primingVersion is the first revision whose clients expect every SSE stream
// to start with a priming event (SEP-1699).
const primingVersion = "2025-11-25"

// Defaults for Options.
const (
	DefaultMaxBodyBytes = 4 << 20
	DefaultHeartbeat    = 15 * time.Second
	DefaultRetry        = time.Second
)

// ResponseMode says how a request is answered.
type ResponseMode string

const (
	// SSE answers every request with a primed, resumable SSE stream.
	SSE ResponseMode = "sse"
	// JSON answers with application/json; messages related to the request
	// go on the GET stream. Faster, but a response cut off in transit is
	// lost.
	JSON ResponseMode = "json"
)

// Options configure a Handler. Zero fields take the documented defaults.
type Options struct {
	// MaxBodyBytes bounds a POST body. Default DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Heartbeat is the interval of comment lines on idle SSE streams.
	// Default DefaultHeartbeat; negative disables it.
	Heartbeat time.Duration
	// Retry is the reconnection delay announced in priming events.
	// Default DefaultRetry.
	Retry time.Duration
	// Mode is the response mode. Default SSE.
	Mode ResponseMode
	// AllowedOrigins are Origin values (scheme://host[:port]) accepted
	// besides loopback ones. "*" accepts any.
	AllowedOrigins []string
	// AllowedHosts are Host names accepted besides loopback ones when
	// LocalOnly is set.
	AllowedHosts []string
	// LocalOnly rejects requests whose Host is not a loopback name: set it
	// when listening on a loopback address, against DNS rebinding.
	LocalOnly bool
	// OwnerWait bounds how long a request for a session whose owner
	// replica does not answer waits to take it over. Default
	// DefaultOwnerWait.
	OwnerWait time.Duration
	// OwnerTimeout bounds how long a request passed to the session's owner
	// waits for the owner's answer to start (SSE answers and GET streams
	// start within milliseconds): an owner that accepts connections but
	// does not answer (hung, stopped) is given up on after it, and its
	// session served here once its lease runs out. Set it to the lease
	// TTL, so that a hung owner's sessions move within their lease.
	// Default DefaultOwnerTimeout.
	OwnerTimeout time.Duration
	// Stateless serves the requests of the stateless era (MCP-Protocol-Version
	// 2026-07-28, _meta versions, server/discover) on the same endpoint;
	// see NewStateless. Nil: such requests get UnsupportedProtocolVersionError
	// listing the sessionful versions, and 2026-07-28 clients fall back to
	// initialize.
	Stateless http.Handler
	// Done ends open SSE streams when closed (server shutdown); each gets a
	// retry hint so that its client reconnects. It also ends the stateless
	// era's open streams (subscriptions/listen).
	Done <-chan struct{}
	// Drain, when closed, ends the streams that this replica passes on to
	// a session's owner elsewhere, each with a retry hint after a whole
	// event: their clients reconnect through another replica to the same
	// owner. (The streams of sessions served here end when
	// session.Manager.Drain hands their session over.)
	Drain  <-chan struct{}
	Logger *slog.Logger
}

// Handler serves the MCP endpoint.
type Handler struct {
	m    *session.Manager
	opts Options
	log  *slog.Logger
	fwd  *forwarder // to the sessions' owners, with OwnerTimeout
}

// New returns a handler over m.
func New(m *session.Manager, opts *Options) *Handler {
	h := &Handler{m: m}
	if opts != nil {
		h.opts = *opts
	}
	if h.opts.MaxBodyBytes <= 0 {
		h.opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if h.opts.Heartbeat == 0 {
		h.opts.Heartbeat = DefaultHeartbeat
	}
	if h.opts.Retry <= 0 {
		h.opts.Retry = DefaultRetry
	}
	if h.opts.OwnerTimeout <= 0 {
		h.opts.OwnerTimeout = DefaultOwnerTimeout
	}
	h.fwd = forwarderFor(h.opts.OwnerTimeout)
	if h.opts.OwnerWait <= 0 {
		h.opts.OwnerWait = DefaultOwnerWait
	}
	if h.opts.Mode == "" {
		h.opts.Mode = SSE
	}
	h.log = h.opts.Logger
	if h.log == nil {
		h.log = slog.Default()
	}
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := h.checkOrigin(r); err != nil {
		writeError(w, err)
		return
	}
	var err error
	if r.Method != http.MethodPost && h.opts.Stateless != nil && slices.Contains(StatelessVersions, r.Header.Get("Mcp-Protocol-Version")) {
		// The stateless era has no GET stream and no session to DELETE.
		w.Header().Set("Allow", "POST")
		writeError(w, statusError(http.StatusMethodNotAllowed, "method %s not allowed in protocol version %s; use POST", r.Method, r.Header.Get("Mcp-Protocol-Version")))
		return
	}
	switch r.Method {
	case http.MethodPost:
		err = h.post(w, r)
	case http.MethodGet:
		err = h.get(w, r)
	case http.MethodDelete:
		err = h.delete(w, r)
	default:
		err = statusError(http.StatusMethodNotAllowed, "method %s not allowed; use GET, POST or DELETE", r.Method)
	}
	if err != nil {
		h.fail(w, r, err)
	}
}

// fail answers err; what the client is not told of a server-side failure
// (5xx) goes to the log.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := writeError(w, err)
	if status < 500 || status == http.StatusServiceUnavailable || r.Context().Err() != nil {
		return // the client was told what it needs (503s are retried), or left
	}
	h.log.Error("request failed", "method", r.Method, "session", r.Header.Get("Mcp-Session-Id"), "status", status, "err", err)
}

// checkOrigin guards against DNS rebinding: a browser page on a foreign site
// must not reach a local server.
func (h *Handler) checkOrigin(r *http.Request) error {
	if h.opts.LocalOnly {
		host := r.Host
		if hn, _, err := net.SplitHostPort(host); err == nil {
			host = hn
		}
		if !IsLoopbackName(host) && !slices.Contains(h.opts.AllowedHosts, host) {
			return statusError(http.StatusForbidden, "Host %q is not allowed", r.Host)
		}
	}
	origin := r.Header.Get("Origin")
	if origin == "" || slices.Contains(h.opts.AllowedOrigins, "*") || slices.Contains(h.opts.AllowedOrigins, origin) {
		return nil
	}
	u, err := url.Parse(origin)
	if err == nil && IsLoopbackName(u.Hostname()) {
		return nil
	}
	if err == nil && !h.opts.LocalOnly && u.Host == r.Host {
		return nil // same origin
	}
	return statusError(http.StatusForbidden, "Origin %q is not allowed", origin)
}

// IsLoopbackName reports whether host (without port; an IPv6 address may
// keep its brackets) names the loopback interface: localhost or a loopback
// address.
func IsLoopbackName(host string) bool {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (h *Handler) post(w http.ResponseWriter, r *http.Request) error {
	if ct := r.Header.Get("Content-Type"); !isMediaType(ct, "application/json") {
		return statusError(http.StatusUnsupportedMediaType, "Content-Type must be application/json, not %q", ct)
	}
	if !accepts(r, "application/json") || !accepts(r, "text/event-stream") {
		return statusError(http.StatusNotAcceptable, "Accept must list both application/json and text/event-stream")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return statusError(http.StatusRequestEntityTooLarge, "body larger than %d bytes", h.opts.MaxBodyBytes)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The server's read deadline for bodies (mooring --read-timeout).
			return statusError(http.StatusRequestTimeout, "the request body did not arrive in time")
		}
		return badRequest(jsonrpc.CodeParseError, "reading body: %v", err)
	}
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return badRequest(jsonrpc.CodeInvalidRequest, "JSON-RPC batches are not supported; send one message per POST")
	}
	msg, err := decodeMessage(body)
	if err != nil {
		if he := (*httpError)(nil); errors.As(err, &he) {
			return err // valid JSON, not a valid message
		}
		return badRequest(jsonrpc.CodeParseError, "parse error: %v", err)
	}
	version := r.Header.Get("Mcp-Protocol-Version")
	if err := h.checkVersion(version, msg); err != nil {
		return err
	}
	if h.opts.Stateless != nil && statelessEra(version, msg, body) {
		h.serveStateless(w, r, body)
		return nil
	}

	ctx := r.Context()
	sid := r.Header.Get("Mcp-Session-Id")
	if req, ok := msg.(*jsonrpc.Request); ok && req.Method == "initialize" {
		if !req.IsCall() {
			return badRequest(jsonrpc.CodeInvalidRequest, "initialize must be a request with an id")
		}
		return h.initialize(w, r, req)
	}
	if sid == "" {
		return badRequest(jsonrpc.CodeInvalidRequest, "Mcp-Session-Id header is required; send initialize first")
	}
	return h.withSession(w, r, sid, body, func(s *session.Session) error {
		switch m := msg.(type) {
		case *jsonrpc.Request:
			if !m.IsCall() {
				if err := s.Notify(ctx, m); err != nil {
					return err
				}
				w.WriteHeader(http.StatusAccepted)
				return nil
			}
			sub, err := s.Call(ctx, m, session.CallOptions{JSON: h.opts.Mode == JSON, Header: r.Header, TokenInfo: auth.TokenInfoFromContext(ctx)})
			if err != nil {
				return err
			}
			h.answer(w, r, s.ProtocolVersion(), sub)
		case *jsonrpc.Response:
			if err := s.Reply(ctx, m); err != nil {
				return err
			}
			w.WriteHeader(http.StatusAccepted)
		}
		return nil
	})
}

func (h *Handler) initialize(w http.ResponseWriter, r *http.Request, req *jsonrpc.Request) error {
	if err := h.m.CheckInitialize(req.Params); err != nil {
		return &httpError{status: http.StatusRequestEntityTooLarge, code: jsonrpc.CodeInvalidParams, msg: err.Error(), id: req.ID}
	}
	// initialize is never forwarded: one that a draining replica read
	// is served, and its session handed over once it is answered.
	s, err := h.m.Create(session.AdmitWhileDraining(r.Context()))
	if err != nil {
		return err
	}
	s.SetPrincipal(principal(r))
	sub, err := s.Call(r.Context(), req, session.CallOptions{JSON: h.opts.Mode == JSON, Header: r.Header, TokenInfo: auth.TokenInfoFromContext(r.Context())})
	if err != nil {
		h.m.Discard(s)
		return err
	}
	w.Header().Set("Mcp-Session-Id", s.ID())
	// The version is not negotiated yet: a 2025-11-25 client is primed.
	var p struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	_ = json.Unmarshal(req.Params, &p)
	if !h.answer(w, r, p.ProtocolVersion, sub) || s.ProtocolVersion() == "" {
		// initialize failed or the client left before its answer: a session
		// that the client does not know of is not kept.
		h.m.Discard(s)
	}
	return nil
}

// answer writes a request's reply as JSON or SSE; it reports whether the
// response reached the writer.
func (h *Handler) answer(w http.ResponseWriter, r *http.Request, version string, sub *session.Sub) bool {
	if h.opts.Mode == JSON {
		return h.answerJSON(w, r, sub)
	}
	// The headers go out with the first event, in one write.
	sw := h.startSSE(w, false)
	return h.stream(r.Context(), sw, sub, version >= primingVersion)
}

func (h *Handler) answerJSON(w http.ResponseWriter, r *http.Request, sub *session.Sub) bool {
	defer sub.Close()
	for {
		events, over, _ := sub.Take()
		if len(events) > 0 {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(events[len(events)-1].Data)
			return true
		}
		if over {
			writeError(w, session.ErrClosed)
			return false
		}
		select {
		case <-sub.Ready():
		case <-r.Context().Done():
			return false
		case <-h.opts.Done:
			writeError(w, session.ErrClosed)
			return false
		}
	}
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) error {
	if !accepts(r, "text/event-stream") {
		return statusError(http.StatusNotAcceptable, "Accept must list text/event-stream")
	}
	if err := h.checkVersion(r.Header.Get("Mcp-Protocol-Version"), nil); err != nil {
		return err
	}
	sid := r.Header.Get("Mcp-Session-Id")
	if sid == "" {
		return badRequest(jsonrpc.CodeInvalidRequest, "Mcp-Session-Id header is required")
	}
	err := h.withSession(w, r, sid, nil, func(s *session.Session) error { return h.listen(w, r, s) })
	if errors.Is(err, store.ErrUnavailable) {
		// The store is away for now (nothing is written yet: every such
		// error comes before the stream starts). An error status here is
		// fatal to clients that hold the GET stream (go-sdk's client
		// closes its session on it); an empty stream that asks to be
		// reconnected to after the retry delay keeps them, and a
		// Last-Event-ID they send again then finds its replay.
		h.log.Debug("GET stream put off: the session store is unavailable", "session", sid, "err", err)
		sw := h.startSSE(w, false)
		sw.retry(h.opts.Retry)
		sw.flush()
		return nil
	}
	return err
}

// listen serves a GET: the session's GET stream, or the resumption of the
// stream that Last-Event-ID names.
func (h *Handler) listen(w http.ResponseWriter, r *http.Request, s *session.Session) error {
	ctx := r.Context()
	prime := s.ProtocolVersion() >= primingVersion
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		replay, sub, err := s.Resume(ctx, last)
		if err != nil {
			return err
		}
		sw := h.startSSE(w, true)
		for _, ev := range replay {
			sw.event(ev, prime)
		}
		sw.flush()
		if sub != nil {
			h.stream(ctx, sw, sub, prime)
		}
		return nil
	}
	sub, err := s.Listen(ctx)
	if err != nil {
		return err
	}
	if prime {
		if _, err := s.Prime(ctx); err != nil {
			sub.Close()
			return err
		}
	}
	sw := h.startSSE(w, true)
	h.stream(ctx, sw, sub, prime)
	return nil
}

func (h *Handler) delete(w http.ResponseWriter, r *http.Request) error {
	sid := r.Header.Get("Mcp-Session-Id")
	if sid == "" {
		return badRequest(jsonrpc.CodeInvalidRequest, "Mcp-Session-Id header is required")
	}
	return h.withSession(w, r, sid, nil, func(*session.Session) error {
		if err := h.m.End(r.Context(), sid); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
}

// stream writes a subscription's events until the stream ends, the server
// ends the connection, the client leaves or the server shuts down. It
// reports whether the stream's final message was written.
func (h *Handler) stream(ctx context.Context, sw *sseWriter, sub *session.Sub, prime bool) bool {
	defer sub.Close()
	var beat <-chan time.Time
	for {
		events, over, retry := sub.Take()
		for _, ev := range events {
			sw.event(ev, prime)
		}
		if over {
			if retry > 0 {
				sw.retry(retry)
			}
			// No flush: net/http sends what is buffered with the end of
			// the response, in one write, when the handler returns.
			sw.write()
			// A drain may end the stream with a retry hint right after
			// its response: answered all the same.
			return sub.Answered()
		}
		if len(events) > 0 {
			sw.flush()
		}
		if sw.err != nil {
			return false
		}
		if beat == nil && h.opts.Heartbeat > 0 {
			// Only a stream that waits needs a heartbeat.
			t := time.NewTicker(h.opts.Heartbeat)
			defer t.Stop()
			beat = t.C
		}
		select {
		case <-sub.Ready():
		case <-beat:
			sw.comment()
			sw.flush()
		case <-ctx.Done():
			return false
		case <-h.opts.Done:
			// The client resumes elsewhere from the last id it got: a
			// stream whose priming event still waits for the prime delay
			// gets it now, else the client would have no id to come back
			// with and its call would hang.
			sub.Prime()
			events, _, _ := sub.Take()
			for _, ev := range events {
				sw.event(ev, prime)
			}
			sw.retry(h.opts.Retry)
			sw.flush()
			return false
		}
	}
}

// checkVersion rejects a MCP-Protocol-Version that mooring does not serve,
// with the spec's UnsupportedProtocolVersionError. A missing header means
// the session's negotiated version. msg, if known, gives the error its id.
func (h *Handler) checkVersion(v string, msg jsonrpc.Message) error {
	if v == "" || slices.Contains(Versions, v) || (h.opts.Stateless != nil && slices.Contains(StatelessVersions, v)) {
		return nil
	}
	var id jsonrpc.ID
	if req, ok := msg.(*jsonrpc.Request); ok {
		id = req.ID
	}
	return h.unsupportedVersion(id, v)
}

func isMediaType(header, want string) bool {
	mt, _, err := mime.ParseMediaType(header)
	return err == nil && strings.EqualFold(mt, want)
}

// accepts reports whether the request's Accept header lists typ, directly or
// by a wildcard.
func accepts(r *http.Request, typ string) bool {
	major, _, _ := strings.Cut(typ, "/")
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			mt, _, _ := strings.Cut(part, ";")
			mt = strings.TrimSpace(mt)
			if strings.EqualFold(mt, typ) || mt == "*/*" || strings.EqualFold(mt, major+"/*") {
				return true
			}
		}
	}
	return false
}
