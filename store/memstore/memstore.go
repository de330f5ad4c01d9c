// Package memstore is the in-memory store: for tests, and the explicit
// fallback when the configured store is unreachable. Nothing survives the
// process.
package memstore

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/mooring-dev/mooring/store"
)

// Store is an in-memory store.Store.
type Store struct {
	limits  store.Limits
	now     func() time.Time
	seqBase func() uint64

	mu       sync.Mutex // guards the fields below
	closed   bool
	sessions map[string]*session
	sweepAt  time.Time // next time PutSession drops every expired session

	tasks       tasks     // see tasks.go
	taskSweepAt time.Time // next time CreateTask drops every expired task
}

type session struct {
	record   []byte // nil while only events exist
	hasRec   bool
	expires  time.Time
	seq      uint64
	events   []store.Event // oldest first
	bytes    int64
	purgedTo map[string]uint64 // stream -> highest seq removed by a cap
}

// Options configure a Store. The zero value is usable.
type Options struct {
	Limits store.Limits
	// Now replaces time.Now, for tests of expiry.
	Now func() time.Time
	// SeqBase, when set, gives the sequence number after which a new
	// session's events are numbered. The fallback store sets it from the
	// clock so that events written during an outage sort after every event
	// that the primary store issued before it.
	SeqBase func() uint64
}

// New returns an empty store.
func New(opts *Options) *Store {
	s := &Store{now: time.Now, sessions: make(map[string]*session)}
	if opts != nil {
		s.limits = opts.Limits
		if opts.Now != nil {
			s.now = opts.Now
		}
		s.seqBase = opts.SeqBase
	}
	s.limits = s.limits.WithDefaults()
	return s
}

// Kind implements store.Store.
func (s *Store) Kind() string { return "memory" }

// live returns the session if it exists and has not expired; it drops an
// expired one. Callers hold s.mu.
func (s *Store) live(id string) *session {
	ss := s.sessions[id]
	if ss == nil {
		return nil
	}
	if !s.now().Before(ss.expires) {
		delete(s.sessions, id)
		return nil
	}
	return ss
}

// liveOrNew returns the live session, or a new one (numbered from
// SeqBase) in place of a missing or expired one. Callers hold s.mu.
func (s *Store) liveOrNew(id string) *session {
	ss := s.live(id)
	if ss == nil {
		ss = &session{}
		if s.seqBase != nil {
			ss.seq = s.seqBase()
		}
		s.sessions[id] = ss
	}
	return ss
}

func (s *Store) lock() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return store.ErrClosed
	}
	return nil
}

// PutSession implements store.Store.
func (s *Store) PutSession(ctx context.Context, rec store.Record) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	if now := s.now(); now.After(s.sweepAt) {
		// Sessions that nobody asks for again would otherwise stay forever.
		for id := range s.sessions {
			s.live(id)
		}
		s.sweepAt = now.Add(s.limits.TTL / 4)
	}
	ss := s.liveOrNew(rec.ID)
	ss.record = append([]byte(nil), rec.Data...)
	ss.hasRec = true
	ss.expires = s.now().Add(s.limits.TTL)
	return nil
}

// GetSession implements store.Store.
func (s *Store) GetSession(ctx context.Context, id string) (store.Record, error) {
	if err := s.lock(); err != nil {
		return store.Record{}, err
	}
	defer s.mu.Unlock()
	ss := s.live(id)
	if ss == nil || !ss.hasRec {
		return store.Record{}, fmt.Errorf("%w: session %q", store.ErrNotFound, id)
	}
	return store.Record{ID: id, Data: append([]byte(nil), ss.record...)}, nil
}

// TouchSession implements store.Store.
func (s *Store) TouchSession(ctx context.Context, id string) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	ss := s.live(id)
	if ss == nil || !ss.hasRec {
		return fmt.Errorf("%w: session %q", store.ErrNotFound, id)
	}
	ss.expires = s.now().Add(s.limits.TTL)
	return nil
}

// DeleteSession implements store.Store.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	delete(s.sessions, id)
	return nil
}

// ListSessions implements store.Store. Ids come in lexical order; the cursor
// is the last id of the previous page.
func (s *Store) ListSessions(ctx context.Context, cursor string, limit int) ([]string, string, error) {
	if err := s.lock(); err != nil {
		return nil, "", err
	}
	var ids []string
	for id := range s.sessions {
		if id > cursor && s.live(id) != nil && s.sessions[id].hasRec {
			ids = append(ids, id)
		}
	}
	s.mu.Unlock()
	sort.Strings(ids)
	if limit <= 0 || len(ids) <= limit {
		return ids, "", nil
	}
	ids = ids[:limit]
	return ids, ids[len(ids)-1], nil
}

// Append implements store.Store.
func (s *Store) Append(ctx context.Context, sessionID, stream string, data []byte) (store.EventID, error) {
	if !store.ValidStreamID(stream) {
		return store.EventID{}, fmt.Errorf("memstore: invalid stream id %q", stream)
	}
	if err := s.lock(); err != nil {
		return store.EventID{}, err
	}
	defer s.mu.Unlock()
	return s.appendLocked(sessionID, stream, data), nil
}

// AppendBatch implements store.Store.
func (s *Store) AppendBatch(ctx context.Context, sessionID, stream string, data [][]byte) ([]store.EventID, error) {
	if !store.ValidStreamID(stream) {
		return nil, fmt.Errorf("memstore: invalid stream id %q", stream)
	}
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	ids := make([]store.EventID, len(data))
	for i, d := range data {
		ids[i] = s.appendLocked(sessionID, stream, d)
	}
	return ids, nil
}

func (s *Store) appendLocked(sessionID, stream string, data []byte) store.EventID {
	ss := s.liveOrNew(sessionID)
	ss.seq++
	id := store.EventID{Stream: stream, Seq: ss.seq}
	ss.events = append(ss.events, store.Event{ID: id, Data: append([]byte(nil), data...)})
	ss.bytes += int64(len(data))
	ss.expires = s.now().Add(s.limits.TTL)
	// Trim the oldest events past either cap, but never the one just added.
	n := 0
	for len(ss.events)-n > 1 && (len(ss.events)-n > s.limits.MaxEvents || ss.bytes > s.limits.MaxBytes) {
		old := ss.events[n]
		ss.bytes -= int64(len(old.Data))
		if ss.purgedTo == nil {
			ss.purgedTo = make(map[string]uint64)
		}
		ss.purgedTo[old.ID.Stream] = old.ID.Seq
		ss.events[n] = store.Event{}
		n++
	}
	if n > 0 {
		ss.events = ss.events[n:]
	}
	return id
}

// After implements store.Store.
func (s *Store) After(ctx context.Context, sessionID string, after store.EventID) ([]store.Event, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	ss := s.live(sessionID)
	if ss == nil {
		return nil, fmt.Errorf("%w: session %q", store.ErrNotFound, sessionID)
	}
	if ss.purgedTo[after.Stream] > after.Seq {
		return nil, fmt.Errorf("%w: session %q stream %q after %d", store.ErrPurged, sessionID, after.Stream, after.Seq)
	}
	// Events are in seq order: find the first one past after.Seq.
	i := sort.Search(len(ss.events), func(i int) bool { return ss.events[i].ID.Seq > after.Seq })
	var out []store.Event
	for _, ev := range ss.events[i:] {
		if ev.ID.Stream == after.Stream {
			out = append(out, store.Event{ID: ev.ID, Data: append([]byte(nil), ev.Data...)})
		}
	}
	return out, nil
}

// Streams implements store.Store.
func (s *Store) Streams(ctx context.Context, sessionID string) ([]string, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	ss := s.live(sessionID)
	if ss == nil {
		return nil, nil
	}
	seen := make(map[string]bool)
	var out []string
	for _, ev := range ss.events {
		if !seen[ev.ID.Stream] {
			seen[ev.ID.Stream] = true
			out = append(out, ev.ID.Stream)
		}
	}
	return out, nil
}

// Log implements store.Store.
func (s *Store) Log(ctx context.Context, sessionID string) ([]store.Event, error) {
	if err := s.lock(); err != nil {
		return nil, err
	}
	defer s.mu.Unlock()
	ss := s.live(sessionID)
	if ss == nil {
		return nil, fmt.Errorf("%w: session %q", store.ErrNotFound, sessionID)
	}
	out := make([]store.Event, len(ss.events))
	for i, ev := range ss.events {
		out[i] = store.Event{ID: ev.ID, Data: append([]byte(nil), ev.Data...)}
	}
	return out, nil
}

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.lock(); err != nil {
		return err
	}
	s.mu.Unlock()
	return nil
}

// Close implements store.Store.
func (s *Store) Close() error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	s.closed = true
	s.sessions = nil
	return nil
}

// Import implements store.Importer. It does not apply the caps: the
// memory store is the source of imports in production, and a target only
// in tests.
func (s *Store) Import(ctx context.Context, sessionID string, events []store.Event) error {
	// Checked and sorted as the other stores do: an event out of order
	// would otherwise be dropped as "present already".
	events, err := store.ImportOrder(events)
	if err != nil {
		return fmt.Errorf("memstore: import into session %q: %w", sessionID, err)
	}
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	ss := s.live(sessionID)
	if ss == nil {
		ss = &session{}
		s.sessions[sessionID] = ss
	}
	for _, ev := range events {
		if ev.ID.Seq <= ss.seq {
			continue // present already, or older than what this store holds
		}
		ss.seq = ev.ID.Seq
		ss.events = append(ss.events, store.Event{ID: ev.ID, Data: append([]byte(nil), ev.Data...)})
		ss.bytes += int64(len(ev.Data))
	}
	ss.expires = s.now().Add(s.limits.TTL)
	return nil
}

// Snapshot returns every live session's record (nil if it has none) and
// events, for moving them to another store.
func (s *Store) Snapshot() map[string]Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]Session, len(s.sessions))
	for id := range s.sessions {
		ss := s.live(id)
		if ss == nil {
			continue
		}
		var rec []byte
		if ss.hasRec {
			rec = append([]byte(nil), ss.record...)
		}
		out[id] = Session{Record: rec, Events: append([]store.Event(nil), ss.events...)}
	}
	return out
}

// Session is one session's content in a Snapshot.
type Session struct {
	Record []byte // nil when the session has only events
	Events []store.Event
}

var (
	_ store.Store    = (*Store)(nil)
	_ store.Importer = (*Store)(nil)
)

// CountSessions implements store.Counter.
func (s *Store) CountSessions(ctx context.Context) (int, error) {
	if err := s.lock(); err != nil {
		return 0, err
	}
	defer s.mu.Unlock()
	return len(s.sessions), nil
}

var _ store.Counter = (*Store)(nil)
