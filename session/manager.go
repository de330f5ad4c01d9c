// Package session owns mooring's sessions: the record that the store keeps,
// the manager that creates, finds, restores and ends them, and the routing of
// every message from the backend to exactly one stream, through the event
// log.
package session

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/store"
)

// DefaultPrimeDelay is the default of Options.PrimeDelay. Under load a
// quick answer takes a few milliseconds (p50 about 3 ms at 16 clients and 9
// ms at 64 in make bench), and a priming event that goes alone costs a
// second commit and a second write to the client for each request, which
// adds to the load: 20 ms keeps the common answer to one of each, while a
// slow call is still primed well before a client would notice.
const DefaultPrimeDelay = 20 * time.Millisecond

// DefaultIdleEvict is the default of Options.IdleEvict.
const DefaultIdleEvict = 2 * time.Minute

// Options configure a Manager. Zero fields take the documented defaults.
type Options struct {
	// TTL is how long an idle session lives. Default store.DefaultTTL. The
	// store enforces it for stored data; the manager closes idle backend
	// connections after it.
	TTL time.Duration
	// IdleEvict is how long a session may sit idle (no request, no open
	// stream) before this process closes its backend connection to free
	// memory. Its state stays in the store, and its next request restores
	// it. Default DefaultIdleEvict; never more than TTL.
	IdleEvict time.Duration
	// PrimeDelay is how long a new SSE stream's priming event may wait to be
	// logged together with the stream's first message (one commit instead
	// of two for a quick answer). Default DefaultPrimeDelay.
	PrimeDelay time.Duration
	// RestoreTimeout bounds the replay of a session's state into a fresh
	// backend connection. Default 10s.
	RestoreTimeout time.Duration
	Logger         *slog.Logger
	// Ownership, when set, coordinates replicas that share the store.
	Ownership *Ownership
	// LocalTools are answered by mooring itself, added to the backend's.
	LocalTools []LocalTool
	// Interceptor, if set, answers some requests itself (durable tasks).
	Interceptor Interceptor
	// OnEvent, if set, is told of every session event: "created",
	// "restored", "expired" or "ended"; of every session refused at a cap
	// (MaxLive, MaxStored): "rejected"; and of every client reply dropped
	// because no server request waits for it: "reply_dropped" (for
	// metrics).
	OnEvent func(event string)
	// Server names the backend server of this manager when several share
	// one store (mcpServers): each session belongs to the server that
	// created it, and a manager of another server finds no such session.
	Server string
	// ServerRequestTimeout bounds how long a request of the backend to the
	// client (sampling, elicitation, roots) waits for the client's reply;
	// then the backend gets a CodeRequestTimeout error and the client a
	// notifications/cancelled. Default DefaultServerRequestTimeout.
	ServerRequestTimeout time.Duration
	// MaxLive caps the sessions live in this manager (a backend connection
	// each). At the cap the idle session unused longest is evicted to make
	// room; if none is idle, new and restored sessions get ErrBusy.
	// Default DefaultMaxLive.
	MaxLive int
	// MaxStored caps the sessions in the store, counted with Counter (or
	// the store itself, if it is a store.Counter; else not capped): a new
	// session past it gets ErrBusy. Default DefaultMaxStored; negative
	// means no cap.
	MaxStored int
	// Counter counts the store's sessions for MaxStored, when the store
	// given to New is a wrapper that hides the Counter of the store
	// beneath it.
	Counter store.Counter
	// MaxRecordBytes caps a session's record: the client's initialize
	// params, its subscriptions. Default DefaultMaxRecordBytes.
	MaxRecordBytes int
	// RetryableTools are names (path.Match patterns) of tools whose calls
	// are safe to repeat: a call that a crash cut off is sent again to the
	// restored session's backend, as for a tool annotated idempotent.
	RetryableTools []string
	// Now replaces time.Now in tests.
	Now func() time.Time
}

// Manager creates, finds, restores and ends sessions.
type Manager struct {
	store            store.Store
	opener           backend.Opener
	ttl              time.Duration
	idleEvict        time.Duration
	primeDelay       time.Duration
	touchEvery       time.Duration
	restoreTTL       time.Duration
	serverReqTimeout time.Duration
	log              *slog.Logger
	now              func() time.Time
	localTools       []LocalTool
	interceptor      Interceptor
	onEvent          func(string)
	drops            dropLog
	own              *Ownership
	server           string
	retryable        []string // Options.RetryableTools
	tools            tools    // what tools/list said of idempotency

	maxLive   int
	maxStored int
	maxRecord int
	counter   store.Counter
	stored    storeCount
	rejects   dropLog // rate-limits the log lines of rejected sessions

	mu       sync.Mutex // guards the fields below
	sessions map[string]*entry
	// ending holds the sessions that End is ending: they are unknown
	// from the moment End begins, so that a request in the meantime (a
	// client's GET stream reconnecting) cannot restore one.
	ending map[string]bool
	closed bool
	// draining: Drain started, no session is created or restored.
	draining bool

	stop chan struct{}
	wg   sync.WaitGroup
	// closers are the goroutines of background: backend connections
	// that End closes, backend sessions that a restore ends. Close waits
	// for them.
	closers sync.WaitGroup
}

// entry is a session in the cache, or one being restored (ready open).
type entry struct {
	s     *Session
	ready chan struct{}
	err   error
}

// New returns a manager that keeps sessions in st and opens their backends
// with opener. Close it to stop its janitor and close every backend.
func New(st store.Store, opener backend.Opener, opts *Options) *Manager {
	m := &Manager{
		store:    st,
		opener:   opener,
		log:      slog.Default(),
		now:      time.Now,
		sessions: make(map[string]*entry),
		stop:     make(chan struct{}),
	}
	if opts != nil {
		m.ttl = opts.TTL
		m.idleEvict = opts.IdleEvict
		m.primeDelay = opts.PrimeDelay
		m.restoreTTL = opts.RestoreTimeout
		m.serverReqTimeout = opts.ServerRequestTimeout
		m.maxLive, m.maxStored, m.maxRecord = opts.MaxLive, opts.MaxStored, opts.MaxRecordBytes
		m.counter = opts.Counter
		if opts.Logger != nil {
			m.log = opts.Logger
		}
		if opts.Now != nil {
			m.now = opts.Now
		}
		m.localTools = opts.LocalTools
		m.interceptor = opts.Interceptor
		m.onEvent = opts.OnEvent
		m.server = opts.Server
		m.retryable = opts.RetryableTools
		if opts.Ownership != nil {
			own := *opts.Ownership
			if own.TTL <= 0 {
				own.TTL = DefaultLeaseTTL
			}
			m.own = &own
		}
	}
	if m.ttl <= 0 {
		m.ttl = store.DefaultTTL
	}
	if m.primeDelay <= 0 {
		m.primeDelay = DefaultPrimeDelay
	}
	if m.idleEvict <= 0 {
		m.idleEvict = DefaultIdleEvict
	}
	m.idleEvict = min(m.idleEvict, m.ttl)
	if m.maxLive <= 0 {
		m.maxLive = DefaultMaxLive
	}
	if m.maxStored == 0 {
		m.maxStored = DefaultMaxStored
	}
	if m.maxRecord <= 0 {
		m.maxRecord = DefaultMaxRecordBytes
	}
	if m.counter == nil {
		m.counter, _ = st.(store.Counter)
	}
	if m.serverReqTimeout <= 0 {
		m.serverReqTimeout = DefaultServerRequestTimeout
	}
	if m.restoreTTL <= 0 {
		m.restoreTTL = 10 * time.Second
	}
	// Sliding the store's TTL on every request would cost a write each; a
	// tenth of the TTL is precise enough.
	m.touchEvery = min(m.ttl/10, 30*time.Second)
	m.wg.Add(1)
	go m.janitor()
	if m.own != nil {
		m.wg.Add(1)
		go m.renewLeases()
	}
	return m
}

// Store returns the manager's store.
func (m *Manager) Store() store.Store { return m.store }

// Create opens a new session with a fresh id and its backend connection. The
// session is stored once its initialize request is answered.
func (m *Manager) Create(ctx context.Context) (*Session, error) {
	m.mu.Lock()
	draining := m.draining && ctx.Value(admitKey{}) == nil
	var evict *Session
	var err error
	if !draining {
		// Room first, before a backend is opened for nothing.
		evict, err = m.makeRoomLocked()
	}
	m.mu.Unlock()
	if draining {
		return nil, ErrDraining
	}
	m.evict(evict)
	if err != nil {
		return nil, err
	}
	if err := m.checkStored(ctx); err != nil {
		return nil, err
	}
	rec := &Record{ID: randomHex(16), Server: m.server, CreatedAt: m.now()}
	s := newSession(m, rec)
	tok, err := m.claim(ctx, rec.ID)
	if err != nil {
		return nil, err // a fresh random id: held by someone else means broken
	}
	s.fence.Store(tok)
	conn, err := m.opener.Open(ctx, s.id, s.fromBackend)
	if err != nil {
		return nil, fmt.Errorf("session: open backend: %w", err)
	}
	s.conn = conn
	s.watchBackend()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		s.close()
		return nil, ErrClosed
	}
	// Others may have filled the room while the backend opened.
	evict, err = m.makeRoomLocked()
	if err == nil {
		m.sessions[s.id] = &entry{s: s, ready: closedChan}
	}
	m.mu.Unlock()
	m.evict(evict)
	if err != nil {
		s.close()
		m.release(s.id)
		return nil, err
	}
	m.event("created", s.id)
	return s, nil
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Get returns the live session id: from the cache, or restored from the
// store into a fresh backend connection. ErrNotFound if the store does not
// have it.
func (m *Manager) Get(ctx context.Context, id string) (*Session, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	e := m.sessions[id]
	if e == nil && m.ending[id] {
		m.mu.Unlock()
		return nil, fmt.Errorf("%w: %s (ended)", ErrNotFound, id)
	}
	if e == nil && m.draining && ctx.Value(admitKey{}) == nil {
		m.mu.Unlock()
		return nil, fmt.Errorf("%w: session %s is not restored here", ErrDraining, id)
	}
	if e == nil {
		evict, err := m.makeRoomLocked()
		if err != nil {
			m.mu.Unlock()
			return nil, err
		}
		e = &entry{ready: make(chan struct{})}
		m.sessions[id] = e
		m.mu.Unlock()
		m.evict(evict)
		s, err := m.restore(ctx, id)
		// e.s is written under m.mu, so that whoever reads it under m.mu
		// (Close, drop, uncache) sees nil or the finished session, never
		// a write in progress.
		m.mu.Lock()
		if err == nil && m.closed {
			// Close ran during the restore and did not see s.
			m.mu.Unlock()
			s.close()
			m.release(id)
			s, err = nil, ErrClosed
			m.mu.Lock()
		}
		e.s, e.err = s, err
		if err != nil {
			delete(m.sessions, id)
		}
		close(e.ready)
		m.mu.Unlock()
		return s, err
	}
	m.mu.Unlock()
	select {
	case <-e.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if e.err != nil {
		return nil, e.err
	}
	return e.s, nil
}

// restore rebuilds a session from its record: a fresh backend connection is
// initialized with the client's original params and given its log level and
// subscriptions back; requests that were in flight are answered with an
// interruption error on their streams.
func (m *Manager) restore(ctx context.Context, id string) (*Session, error) {
	raw, err := m.store.GetSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("session %s: load: %w", id, err)
	}
	rec, err := unmarshalRecord(id, raw.Data)
	if err != nil {
		return nil, err
	}
	if rec.Server != m.server {
		// Another server's session: restoring it here would hand one
		// server's client to another server.
		return nil, fmt.Errorf("%w: %s (a session of server %q, not %q)", ErrNotFound, id, rec.Server, m.server)
	}
	tok, err := m.claim(ctx, id)
	if err != nil {
		var re *RemoteError
		if errors.As(err, &re) {
			re.Principal = rec.Principal
		}
		return nil, err
	}
	s := newSession(m, rec)
	s.saved = true
	s.fence.Store(tok)
	s.replaying.Store(true)
	// The restore outlives a client that gives up waiting.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.restoreTTL)
	defer cancel()
	conn, err := m.opener.Open(rctx, id, s.fromBackend)
	if err != nil {
		m.release(id)
		return nil, fmt.Errorf("session %s: open backend: %w", id, err)
	}
	s.conn = conn
	s.watchBackend()
	if err := s.replayState(rctx); err != nil {
		s.close()
		m.release(id)
		return nil, fmt.Errorf("session %s: restore: %w", id, err)
	}
	s.replaying.Store(false)
	if err := s.adoptRemote(rctx, rec.RemoteSession); err != nil {
		if errors.Is(err, store.ErrFenced) {
			s.close()
			return nil, fmt.Errorf("session %s: restore: %w", id, err)
		}
		m.log.Error("saving the new backend session's id", "session", id, "err", err)
	}
	if err := s.interruptOrphans(rctx); err != nil {
		if errors.Is(err, store.ErrFenced) {
			// Taken over while it was being restored.
			s.close()
			return nil, fmt.Errorf("session %s: restore: %w", id, err)
		}
		m.log.Error("answering interrupted requests", "session", id, "err", err)
	}
	m.event("restored", id)
	return s, nil
}

// replayState brings a fresh backend connection to the state in the record.
// The backend's replies go to mooring, never to the client.
func (s *Session) replayState(ctx context.Context) error {
	rec := s.Record()
	if _, err := s.internalCall(ctx, "initialize", rec.InitializeParams); err != nil {
		return err
	}
	if rec.Initialized {
		if err := s.conn.Send(ctx, &jsonrpc.Request{Method: "notifications/initialized", Params: json.RawMessage("{}")}); err != nil {
			return fmt.Errorf("notifications/initialized: %w", err)
		}
	}
	if rec.LogLevel != "" {
		p, _ := json.Marshal(map[string]string{"level": rec.LogLevel})
		if _, err := s.internalCall(ctx, "logging/setLevel", p); err != nil {
			return err
		}
	}
	for _, uri := range rec.Subscriptions {
		p, _ := json.Marshal(map[string]string{"uri": uri})
		if _, err := s.internalCall(ctx, "resources/subscribe", p); err != nil {
			return err
		}
	}
	// A round trip after the replay, so that what the backend said in
	// answer to it (to notifications/initialized above all, which has no
	// answer) arrives while replaying holds and is dropped. A server that
	// does not answer ping only costs the short wait.
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, _ = s.internalCall(pctx, "ping", json.RawMessage("{}"))
	return nil
}

// Discard drops a session whose initialize failed: nothing of it is kept.
func (m *Manager) Discard(s *Session) {
	m.forget(s)
	_ = m.store.DeleteSession(context.Background(), s.id)
}

// forget removes a session from this process and closes its backend; the
// store is left alone. Only the caller that takes s out of the cache gives
// up its lease: a second caller (the backend's watcher and a failed send
// both noticing that it is gone, say) must not release the lease of the
// session that a restore put in its place.
func (m *Manager) forget(s *Session) {
	mine := m.uncache(s)
	s.close()
	if mine {
		m.release(s.id)
	}
}

// uncache removes s from the cache if it is still there (not replaced by a
// restore) and reports whether this call removed it.
func (m *Manager) uncache(s *Session) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.sessions[s.id]
	if e == nil || e.s != s {
		return false
	}
	delete(m.sessions, s.id)
	return true
}

// liveLocked returns the sessions in the cache; restores under way are left
// out. m.mu must be held.
func (m *Manager) liveLocked() []*Session {
	all := make([]*Session, 0, len(m.sessions))
	for _, e := range m.sessions {
		if e.s != nil {
			all = append(all, e.s)
		}
	}
	return all
}

// janitor closes the backends of idle sessions: an idle session costs this
// process nothing, and its next request restores it from the store. Past
// the TTL the store has expired it too.
func (m *Manager) janitor() {
	defer m.wg.Done()
	t := time.NewTicker(m.sweepEvery())
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.sweep()
		}
	}
}

// sweepEvery is how often the janitor looks at the live sessions.
func (m *Manager) sweepEvery() time.Duration {
	return min(max(m.idleEvict/4, time.Second), time.Minute)
}

func (m *Manager) sweep() {
	now := m.now()
	var idle []*Session
	m.mu.Lock()
	for id, e := range m.sessions {
		if e.s == nil {
			continue // a restore under way
		}
		if e.s.idle(now.Add(-m.idleEvict)) {
			idle = append(idle, e.s)
			delete(m.sessions, id)
			continue
		}
		// Unused since the last sweep: let go of its empty tables.
		e.s.compact(now.Add(-m.sweepEvery()))
	}
	m.mu.Unlock()
	for _, s := range idle {
		s.close()
		m.release(s.id)
		if s.idle(now.Add(-m.ttl)) {
			m.event("expired", s.id)
		} else {
			m.log.Debug("idle session evicted from memory; the store keeps it", "session", s.id)
		}
	}
}

// Len returns the number of live sessions in this process.
func (m *Manager) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.sessions)
}

// Close closes every live session's backend (their stored data stays) and
// stops the janitor. It is idempotent.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	all := m.liveLocked()
	m.sessions = nil
	m.mu.Unlock()
	close(m.stop)
	m.wg.Wait()
	for _, s := range all {
		s.close()
		// Another replica may take the session over at once.
		m.release(s.id)
	}
	m.closers.Wait()
	return nil
}

// event logs a session event (one line, with the session id) and counts it.
func (m *Manager) event(kind, id string) {
	m.log.Info("session "+kind, "session", id)
	if m.onEvent != nil {
		m.onEvent(kind)
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}
