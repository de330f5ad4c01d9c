package session

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/store"
)

// Errors that the transport turns into HTTP statuses.
var (
	// ErrNotFound: the session id is unknown, was ended or expired (404).
	ErrNotFound = errors.New("session not found")
	// ErrDuplicateID: a request id that is still in flight in this session.
	ErrDuplicateID = errors.New("request id already in use in this session")
	// ErrClosed: the session or the manager closed.
	ErrClosed = errors.New("session closed")
)

// CodeInterrupted is the JSON-RPC error code of a request that was in flight
// when the process that served it stopped. The client may retry it. It is
// backend.CodeGone, the code of a request whose backend went away, so that a
// client meets one kind of "retry it" error.
const CodeInterrupted = backend.CodeGone

// call is a client request in flight.
type call struct {
	stream   *Stream
	method   string
	params   json.RawMessage
	json     bool   // answered as application/json: the response is not logged
	progress string // the request's progress token (JSON), if any
}

// Session is one live MCP session: its record, its backend connection and its
// open streams.
type Session struct {
	m    *Manager
	id   string
	conn backend.Conn
	// tag is unique to this backend connection: it prefixes stream ids and
	// the ids of server-to-client requests, so that neither repeats after a
	// restore or on another replica.
	tag string

	mu        sync.Mutex // guards the fields below
	rec       *Record
	saved     bool // rec is in the store
	lastUsed  time.Time
	lastTouch time.Time
	nextSeq   uint64
	get       *Stream // the GET stream, which lives as long as the session
	// The maps are nil until first used and dropped again by compact when
	// empty: most sessions are idle most of the time, and an empty map
	// that once held an entry keeps its table.
	calls    map[jsonrpc.ID]*call
	streams  map[string]*Stream // open request streams
	outbound map[string]*outReq // client-facing id of a server request -> the request (outbound.go)
	progress map[string]string  // progress token (JSON) -> stream id
	internal map[jsonrpc.ID]chan *jsonrpc.Response
	closed   bool
	done     chan struct{} // closed when the session closes
	// related is the _meta that messages caused by a CallBackend call
	// carry, by the call's route (intercept.go).
	related map[string]map[string]any
	// waiting tells a CallBackendWith call whether the client owes an
	// answer to a request the backend sent because of it, by route.
	waiting map[string]*waiter

	// replaying is set while a restore replays the session's state into
	// a fresh backend: what the backend says then is not for the client.
	replaying atomic.Bool

	// fence is the token of the session's lease, which its writes carry
	// (fenced); 0 without ownership or when the store was away at claim.
	fence atomic.Uint64
	// running counts the client's requests from Call until their response
	// is delivered (logged and queued): a drain hands the session over only
	// when it is zero, so that no response is cut off on its way.
	running atomic.Int64
}

func newSession(m *Manager, rec *Record) *Session {
	s := &Session{
		m:        m,
		id:       rec.ID,
		tag:      randomHex(4),
		rec:      rec,
		lastUsed: m.now(),
		done:     make(chan struct{}),
	}
	s.get = &Stream{id: GetStream, session: s}
	return s
}

// put sets m[k] = v, making the map first if it is nil.
func put[K comparable, V any](m *map[K]V, k K, v V) {
	if *m == nil {
		*m = make(map[K]V)
	}
	(*m)[k] = v
}

// stream returns the open stream id, or nil. s.mu must be held.
func (s *Session) stream(id string) *Stream {
	if id == GetStream {
		return s.get
	}
	return s.streams[id]
}

// compact drops the session's empty maps if it has not been used since t,
// so that an idle session holds no tables; the next request makes them
// again.
func (s *Session) compact(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.lastUsed.Before(t) {
		return
	}
	if len(s.calls) == 0 {
		s.calls = nil
	}
	if len(s.streams) == 0 {
		s.streams = nil
	}
	if len(s.outbound) == 0 {
		s.outbound = nil
	}
	if len(s.progress) == 0 {
		s.progress = nil
	}
	if len(s.internal) == 0 {
		s.internal = nil
	}
}

// ID returns the session id.
func (s *Session) ID() string { return s.id }

// ProtocolVersion returns the negotiated protocol version ("" before
// initialize answered).
func (s *Session) ProtocolVersion() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rec.ProtocolVersion
}

// Principal returns who the session belongs to ("" for a session made
// without authentication).
func (s *Session) Principal() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rec.Principal
}

// SetPrincipal binds a new session to its creator; the record that
// initialize saves holds it. It is meant for a session that Create just
// made.
func (s *Session) SetPrincipal(p string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rec.Principal = p
}

// Record returns a copy of the session record.
func (s *Session) Record() Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return *s.rec.clone()
}

// used notes activity and, at most every touchEvery, slides the store's TTL.
func (s *Session) used(ctx context.Context) error {
	now := s.m.now()
	s.mu.Lock()
	s.lastUsed = now
	touch := s.saved && now.Sub(s.lastTouch) >= s.m.touchEvery
	if touch {
		s.lastTouch = now
	}
	s.mu.Unlock()
	if !touch {
		return nil
	}
	if err := s.m.store.TouchSession(s.fenced(ctx), s.id); err != nil {
		if s.fencedOut(err) {
			return fmt.Errorf("session %s: touch: %w", s.id, err)
		}
		if errors.Is(err, store.ErrNotFound) {
			// The store expired or another replica ended it: so does this
			// process, or the next requests would still be served.
			s.m.forget(s)
			s.m.event("expired", s.id)
			return fmt.Errorf("%w: %s", ErrNotFound, s.id)
		}
		return fmt.Errorf("session %s: touch: %w", s.id, err)
	}
	return nil
}

// CallOptions tune one client request.
type CallOptions struct {
	// JSON answers the request as application/json: only its response is
	// delivered on the returned subscription, and it is not logged (a JSON
	// response cannot be resumed). Messages related to the request go on the
	// GET stream.
	JSON bool
	// Header is passed to the backend in mcp.RequestExtra.Header, as
	// go-sdk's own handler passes the HTTP request's header. Call sets
	// backend.RouteHeader in it (a client cannot choose a route), and
	// removes the client's credentials (Authorization, Cookie): they are
	// the client's to mooring, never the backend's (no token passthrough).
	Header http.Header
	// TokenInfo is the client's verified token, passed to the backend in
	// mcp.RequestExtra.TokenInfo (in-process servers: tools see its
	// claims). Nil without authentication.
	TokenInfo *auth.TokenInfo
}

// Call sends a client request to the backend and returns the subscription of
// its stream. The stream is primed first: its marker event is the first event
// that the subscription sees.
func (s *Session) Call(ctx context.Context, req *jsonrpc.Request, opts CallOptions) (*Sub, error) {
	if err := s.used(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	if c, dup := s.calls[req.ID]; dup {
		s.mu.Unlock()
		if c.method == req.Method && bytes.Equal(c.params, req.Params) && !c.json && !opts.JSON {
			// The same request again while it runs: the client (or a
			// balancer, or the replica that forwarded it) sent it once
			// more after a connection broke. Its answer is the running
			// call's stream, from the start.
			return s.rejoin(ctx, c.stream)
		}
		return nil, fmt.Errorf("%w: %v", ErrDuplicateID, req.ID.Raw())
	}
	s.nextSeq++
	st := &Stream{id: s.tag + "-" + strconv.FormatUint(s.nextSeq, 36), session: s}
	c := &call{stream: st, method: req.Method, params: req.Params, json: opts.JSON}
	put(&s.calls, req.ID, c)
	s.running.Add(1)
	if !opts.JSON {
		put(&s.streams, st.id, st)
		if c.progress = progressToken(req.Params); c.progress != "" {
			put(&s.progress, c.progress, st.id)
		}
	}
	s.mu.Unlock()

	sub := newSub(st)
	st.attach(sub)
	if !opts.JSON {
		st.open(marker(req, s.m.safeToRepeat(ctx, req, s)), s.m.primeDelay)
	}

	if lt := s.m.localTool(req); lt != nil {
		go s.answerLocal(req, lt)
		return sub, nil
	}
	if ic := s.m.interceptor; ic != nil {
		if answer := ic.Intercept(s, req); answer != nil {
			go s.answerWith(req, answer)
			return sub, nil
		}
	}
	hdr := opts.Header
	if hdr == nil {
		hdr = make(http.Header, 1)
	}
	hdr.Set(backend.RouteHeader, st.id)
	hdr.Del("Authorization")
	hdr.Del("Cookie")
	extra := &mcp.RequestExtra{Header: hdr, TokenInfo: opts.TokenInfo}
	if !opts.JSON {
		// Only an SSE stream can be closed and resumed (SEP-1699); a
		// handler that finds no CloseSSEStream just answers.
		extra.CloseSSEStream = func(a mcp.CloseSSEStreamArgs) { st.closeWriter(a.RetryAfter) }
	}
	fwd := &jsonrpc.Request{ID: req.ID, Method: req.Method, Params: req.Params, Extra: extra}
	if err := s.conn.Send(ctx, fwd); err != nil {
		s.dropCall(req.ID, c)
		return s.callAgain(ctx, req, opts, fmt.Errorf("session %s: send to backend: %w", s.id, err))
	}
	return sub, nil
}

// dropCall drops a call that never reached the backend.
func (s *Session) dropCall(id jsonrpc.ID, c *call) {
	s.mu.Lock()
	if s.calls[id] == c {
		delete(s.calls, id)
	}
	delete(s.streams, c.stream.id)
	s.mu.Unlock()
	s.running.Add(-1)
}

// Notify forwards a client notification to the backend.
func (s *Session) Notify(ctx context.Context, req *jsonrpc.Request) error {
	if err := s.used(ctx); err != nil {
		return err
	}
	if req.Method == "notifications/initialized" {
		s.mu.Lock()
		changed := !s.rec.Initialized
		s.rec.Initialized = true
		s.mu.Unlock()
		if changed {
			if err := s.save(ctx); err != nil {
				s.fencedOut(err)
				return err
			}
		}
	}
	if err := s.conn.Send(ctx, req); err != nil {
		return s.notifyAgain(ctx, req, err)
	}
	return nil
}

// Reply forwards the client's response to a server-to-client request. A reply
// to a request that this backend connection did not make is dropped: the
// backend that asked is gone.
func (s *Session) Reply(ctx context.Context, resp *jsonrpc.Response) error {
	if err := s.used(ctx); err != nil {
		return err
	}
	key, _ := resp.ID.Raw().(string)
	backendID, ok := s.takeOutbound(key)
	if !ok {
		s.m.replyDropped(s.id, resp.ID.Raw())
		return nil
	}
	err := s.conn.Send(ctx, &jsonrpc.Response{ID: backendID, Result: resp.Result, Error: resp.Error})
	if errors.Is(err, backend.ErrGone) {
		// The backend that asked is gone: the reply has no one to reach.
		s.m.log.Warn("reply dropped: the backend that asked is gone", "session", s.id, "id", resp.ID.Raw())
		s.m.forget(s)
		return nil
	}
	return err
}

// Resume attaches a writer to the stream that lastEventID belongs to. It
// returns the events after that id, from the log, and the subscription for
// what follows; the subscription is nil when the stream has ended and the
// replay is all there is. It returns store.ErrPurged if events after the id
// were removed, and store.ErrBadEventID for an id that is not this session's.
func (s *Session) Resume(ctx context.Context, lastEventID string) ([]store.Event, *Sub, error) {
	if err := s.used(ctx); err != nil {
		return nil, nil, err
	}
	after, err := store.ParseEventID(lastEventID)
	if err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	st := s.stream(after.Stream)
	s.mu.Unlock()
	var sub *Sub
	if st != nil {
		sub = newSub(st)
		st.attach(sub)
	}
	events, err := s.m.store.After(ctx, s.id, after)
	if err != nil {
		if sub != nil {
			sub.Close()
		}
		if errors.Is(err, store.ErrNotFound) {
			// No events at all under this session: the id cannot be one
			// of ours.
			return nil, nil, fmt.Errorf("%w: %q", store.ErrBadEventID, lastEventID)
		}
		return nil, nil, err
	}
	if sub == nil && len(events) == 0 {
		// No live stream and nothing to replay: an ended stream of this
		// session (the client has it all), or an id that names no stream
		// of this session, which the client must hear of rather than get
		// an empty stream that closes at once.
		streams, err := s.m.store.Streams(ctx, s.id)
		if err != nil {
			return nil, nil, err
		}
		if !slices.Contains(streams, after.Stream) {
			return nil, nil, fmt.Errorf("%w: %q names no stream of this session", store.ErrBadEventID, lastEventID)
		}
	}
	if sub != nil {
		sub.mu.Lock()
		sub.after = after.Seq
		if n := len(events); n > 0 {
			sub.after = events[n-1].ID.Seq
		}
		sub.mu.Unlock()
	}
	return events, sub, nil
}

// Listen attaches a writer to the GET stream, for messages that relate to no
// request.
func (s *Session) Listen(ctx context.Context) (*Sub, error) {
	if err := s.used(ctx); err != nil {
		return nil, err
	}
	st := s.get
	sub := newSub(st)
	st.attach(sub)
	return sub, nil
}

// Prime appends a marker to the GET stream, so that a fresh GET connection
// has an event id to resume from.
func (s *Session) Prime(ctx context.Context) (store.EventID, error) {
	st := s.get
	id, err := st.publish(ctx, []byte{markerByte}, false)
	s.fencedOut(err)
	return id, err
}

// save writes the record to the store.
func (s *Session) save(ctx context.Context) error {
	s.mu.Lock()
	s.rec.UpdatedAt = s.m.now()
	data, err := s.rec.marshal()
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if err := s.m.checkRecord(data); err != nil {
		return fmt.Errorf("session %s: save record: %w", s.id, err)
	}
	if err := s.m.store.PutSession(s.fenced(ctx), store.Record{ID: s.id, Data: data}); err != nil {
		return fmt.Errorf("session %s: save record: %w", s.id, err)
	}
	s.mu.Lock()
	s.saved = true
	s.lastTouch = s.m.now()
	s.mu.Unlock()
	return nil
}

// internalCall sends a request of mooring's own to the backend and waits for
// its response; it is how a restore replays the session's state.
func (s *Session) internalCall(ctx context.Context, method string, params json.RawMessage) (*jsonrpc.Response, error) {
	id, _ := jsonrpc.MakeID("mooring-" + randomHex(8))
	ch := make(chan *jsonrpc.Response, 1)
	s.mu.Lock()
	put(&s.internal, id, ch)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.internal, id)
		s.mu.Unlock()
	}()
	if err := s.conn.Send(ctx, &jsonrpc.Request{ID: id, Method: method, Params: params}); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case resp := <-ch:
		if resp.Error != nil {
			return resp, fmt.Errorf("%s: %w", method, resp.Error)
		}
		return resp, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

// close ends the backend connection and every writer; the stored session is
// left as it is.
func (s *Session) close() { s.closeRetry(0) }

// closeRetry is close whose writers end with the retry hint retry (if
// positive), each after an event id to resume from.
func (s *Session) closeRetry(retry time.Duration) {
	if conn := s.shut(retry); conn != nil {
		_ = conn.Close()
	}
}

// shut ends every writer (with the retry hint retry, if positive) and
// marks the session closed; it returns the backend connection for the
// caller to close (nil if the session was closed already). Closing a
// connection may take a while (a stdio program is given time to exit
// before it is signalled).
func (s *Session) shut(retry time.Duration) backend.Conn {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	s.stopOutboundLocked()
	streams := make([]*Stream, 0, len(s.streams)+1)
	streams = append(streams, s.get)
	for _, st := range s.streams {
		streams = append(streams, st)
	}
	for _, c := range s.calls {
		if c.json {
			streams = append(streams, c.stream)
		}
	}
	s.mu.Unlock()
	for _, st := range streams {
		st.shut(retry)
	}
	return s.conn
}

// idle reports whether the session had no use since before t and no writer
// is attached.
func (s *Session) idle(t time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.lastUsed.Before(t) || len(s.calls) > 0 || len(s.outbound) > 0 {
		// Recently used, a request still running, or the backend waiting
		// for the client's reply: closing the backend would cut them off.
		return false
	}
	for _, st := range s.streams {
		if st.attached() {
			return false
		}
	}
	return !s.get.attached()
}

// progressToken returns the JSON text of params._meta.progressToken, or "".
// It is only decoded when the params mention it.
func progressToken(params json.RawMessage) string {
	if !bytes.Contains(params, []byte("progressToken")) {
		return ""
	}
	var p struct {
		Meta struct {
			Token json.RawMessage `json:"progressToken"`
		} `json:"_meta"`
		Token json.RawMessage `json:"progressToken"`
	}
	if json.Unmarshal(params, &p) != nil {
		return ""
	}
	if len(p.Meta.Token) > 0 {
		return string(p.Meta.Token)
	}
	return string(p.Token)
}

func idText(id jsonrpc.ID) string {
	switch v := id.Raw().(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	default:
		return fmt.Sprint(v)
	}
}
