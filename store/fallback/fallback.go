// Package fallback keeps mooring serving when its primary store (Redis) is
// unreachable: it switches to an in-memory store, says so (Degraded, logs, a
// callback for metrics), keeps trying the primary, and when the primary
// answers again moves every session and event that it held in memory into
// it before leaving degraded mode. Nothing created during the outage is lost.
//
// While degraded, a session that only the primary knows cannot be read; that
// answers store.ErrUnavailable, never store.ErrNotFound: an outage is no
// reason to tell a client that its session is gone.
package fallback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/memstore"
)

// Options configure a Store.
type Options struct {
	// Open connects to the primary store. It is called at start and then
	// every RetryEvery while the primary is away.
	Open func(ctx context.Context) (store.Store, error)
	// Limits apply to the memory store.
	Limits store.Limits
	// RetryEvery defaults to 2s.
	RetryEvery time.Duration
	// OpTimeout bounds each operation on the primary before it counts as
	// an outage. Default 2s: a new client is served (degraded, or told
	// of the outage) within seconds.
	OpTimeout time.Duration
	// NoFallback keeps serving from the primary only: an outage answers
	// store.ErrUnavailable (503 to clients) within OpTimeout instead of
	// switching to memory (--store-fallback fail).
	NoFallback bool
	Logger     *slog.Logger
	// OnChange, if set, is called with the new state on every switch.
	OnChange func(degraded bool, reason error)
}

// Store is a store.Store over a primary with a memory fallback.
type Store struct {
	opts Options
	log  *slog.Logger

	mu       sync.RWMutex // guards the fields below; held for writing while sessions move
	primary  store.Store  // nil until the first successful Open
	mem      *memstore.Store
	degraded bool
	reason   error
	closed   bool
	// recovered is when the store last left degraded mode (zero if it
	// never was degraded): see settling.
	recovered time.Time

	delMu   sync.Mutex
	deleted map[string]bool // sessions ended while degraded: to delete from the primary
	// deletedTasks: tasks deleted while degraded, to delete from the primary.
	deletedTasks map[string]bool

	// degradedSeq is the clock (in microseconds, the memory store's seq
	// base) when the current outage began: smaller seqs came from the
	// primary.
	degradedSeq atomic.Uint64

	kick chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup
}

// New opens the primary; if that fails, it starts degraded on memory. It
// never fails for an unreachable primary.
func New(ctx context.Context, opts Options) *Store {
	s := &Store{opts: opts, log: opts.Logger, deleted: make(map[string]bool), deletedTasks: make(map[string]bool), kick: make(chan struct{}, 1), stop: make(chan struct{})}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.opts.RetryEvery <= 0 {
		s.opts.RetryEvery = 2 * time.Second
	}
	if s.opts.OpTimeout <= 0 {
		s.opts.OpTimeout = 2 * time.Second
	}
	s.mem = s.newMem()
	p, err := opts.Open(ctx)
	if err != nil {
		s.primary = nil
		s.setDegraded(fmt.Errorf("primary store unreachable at start: %w", err))
	} else {
		s.primary = p
	}
	s.wg.Add(1)
	go s.recoverLoop()
	return s
}

func (s *Store) newMem() *memstore.Store {
	// Events written during an outage are numbered from the clock, above
	// any sequence the primary issued, so that ids stay ordered across
	// the switch and back.
	return memstore.New(&memstore.Options{Limits: s.opts.Limits, SeqBase: func() uint64 { return uint64(time.Now().UnixMicro()) }})
}

// Degraded reports whether the store is serving from memory, and why.
func (s *Store) Degraded() (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.degraded, s.reason
}

// Primary returns the primary store, or nil if it never connected.
func (s *Store) Primary() store.Store {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.primary
}

func (s *Store) setDegraded(reason error) {
	s.mu.Lock()
	was := s.degraded
	if !was {
		s.degradedSeq.Store(uint64(time.Now().UnixMicro()))
	}
	s.degraded, s.reason = true, reason
	s.mu.Unlock()
	if !was {
		s.log.Error("STORE DEGRADED: serving sessions from memory until the primary store answers again; sessions created now are moved to it then", "err", reason)
		if s.opts.OnChange != nil {
			s.opts.OnChange(true, reason)
		}
		select {
		case s.kick <- struct{}{}:
		default:
		}
	}
}

// isOutage tells errors of the store's state (not found, purged, a write
// fenced by another replica's lease...) from errors of reaching it.
func isOutage(err error) bool {
	return err != nil &&
		!errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrPurged) &&
		!errors.Is(err, store.ErrBadEventID) && !errors.Is(err, store.ErrClosed) &&
		!errors.Is(err, store.ErrFenced) && !errors.Is(err, context.Canceled) &&
		!errors.Is(err, store.ErrExists) && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrBadTask)
}

// run calls fn on the primary, and on memory when degraded or when the
// primary fails with an outage. missing maps a memory miss to
// ErrUnavailable for reads of sessions that only the primary may know.
func (s *Store) run(ctx context.Context, fn func(context.Context, store.Store) error, missing bool) error {
	s.mu.RLock()
	p, degraded := s.primary, s.degraded
	s.mu.RUnlock()
	if !degraded && p != nil {
		// A client library may retry for as long as ctx lives; an outage
		// must show within OpTimeout, not when the caller gives up.
		pctx, cancel := context.WithTimeout(ctx, s.opts.OpTimeout)
		err := fn(pctx, p)
		if s.opts.NoFallback {
			err = s.retry(pctx, p, fn, err)
		}
		cancel()
		if missing && errors.Is(err, store.ErrNotFound) && s.settling() {
			return fmt.Errorf("%w: not in the primary store yet after its outage (another replica may still be moving it there from its memory fallback): %v", store.ErrUnavailable, err)
		}
		if !isOutage(err) || ctx.Err() != nil {
			return err
		}
		if s.opts.NoFallback {
			return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
		}
		s.setDegraded(err)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	err := fn(ctx, s.mem)
	if missing && errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: primary store is away and the session is not in the fallback: %v", store.ErrUnavailable, s.reason)
	}
	return err
}

// settling reports whether the store left degraded mode less than two
// RetryEvery ago. Other replicas on the same primary may not have moved
// the sessions created in their memory during the outage yet (each sees
// the primary back at its next retry, up to RetryEvery later, then moves
// them): until then a session that only the primary may know is not
// "gone" (404, which ends the client's session) but unavailable (503,
// which the client retries).
func (s *Store) settling() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return !s.recovered.IsZero() && time.Since(s.recovered) < 2*s.opts.RetryEvery
}

// retry sends a call that the primary surely did not run
// (store.ErrUnavailable: it was loading after a restart, or could not be
// reached) again until it is run or ctx (OpTimeout) ends. Without a
// fallback an outage of a second or two, a restart of Redis, is then
// waited out instead of failing the call; a message that a session could
// not log would otherwise be lost.
func (s *Store) retry(ctx context.Context, p store.Store, fn func(context.Context, store.Store) error, err error) error {
	wait := 50 * time.Millisecond
	for errors.Is(err, store.ErrUnavailable) {
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(wait*2, 500*time.Millisecond)
		err = fn(ctx, p)
	}
	return err
}

// Kind implements store.Store: the primary's kind.
func (s *Store) Kind() string {
	if p := s.Primary(); p != nil {
		return p.Kind()
	}
	return "memory"
}

func (s *Store) PutSession(ctx context.Context, rec store.Record) error {
	return s.run(ctx, func(ctx context.Context, st store.Store) error { return st.PutSession(ctx, rec) }, false)
}

func (s *Store) GetSession(ctx context.Context, id string) (rec store.Record, err error) {
	err = s.run(ctx, func(ctx context.Context, st store.Store) error { rec, err = st.GetSession(ctx, id); return err }, true)
	return rec, err
}

func (s *Store) TouchSession(ctx context.Context, id string) error {
	return s.run(ctx, func(ctx context.Context, st store.Store) error { return st.TouchSession(ctx, id) }, true)
}

func (s *Store) DeleteSession(ctx context.Context, id string) error {
	return s.run(ctx, func(ctx context.Context, st store.Store) error {
		if st == store.Store(s.mem) {
			s.delMu.Lock()
			s.deleted[id] = true
			s.delMu.Unlock()
		}
		return st.DeleteSession(ctx, id)
	}, false)
}

func (s *Store) ListSessions(ctx context.Context, cursor string, limit int) (ids []string, next string, err error) {
	err = s.run(ctx, func(ctx context.Context, st store.Store) error {
		ids, next, err = st.ListSessions(ctx, cursor, limit)
		return err
	}, false)
	return ids, next, err
}

func (s *Store) Append(ctx context.Context, session, stream string, data []byte) (id store.EventID, err error) {
	err = s.run(ctx, func(ctx context.Context, st store.Store) error {
		id, err = st.Append(ctx, session, stream, data)
		return err
	}, false)
	return id, err
}

func (s *Store) AppendBatch(ctx context.Context, session, stream string, data [][]byte) (ids []store.EventID, err error) {
	err = s.run(ctx, func(ctx context.Context, st store.Store) error {
		ids, err = st.AppendBatch(ctx, session, stream, data)
		return err
	}, false)
	return ids, err
}

func (s *Store) After(ctx context.Context, session string, after store.EventID) (evs []store.Event, err error) {
	err = s.run(ctx, func(ctx context.Context, st store.Store) error {
		if st == store.Store(s.mem) && after.Seq != 0 && after.Seq < s.degradedSeq.Load() {
			// The id was issued by the primary: what follows it there
			// cannot be read now, and memory alone would be a gap.
			return fmt.Errorf("%w: event %s is in the primary store, which is away", store.ErrUnavailable, after)
		}
		evs, err = st.After(ctx, session, after)
		return err
	}, true)
	return evs, err
}

func (s *Store) Streams(ctx context.Context, session string) (ids []string, err error) {
	err = s.run(ctx, func(ctx context.Context, st store.Store) error { ids, err = st.Streams(ctx, session); return err }, false)
	return ids, err
}

func (s *Store) Log(ctx context.Context, session string) (evs []store.Event, err error) {
	err = s.run(ctx, func(ctx context.Context, st store.Store) error { evs, err = st.Log(ctx, session); return err }, true)
	return evs, err
}

// AcquireLease implements store.Leaser over the primary's leases, bounded
// by OpTimeout like every other call: a client library that retries for as
// long as ctx lives must not hold a new client's initialize for ever. While
// degraded (or with a primary without leases) there is nobody to share
// sessions with, and the error says so: the caller serves the session
// itself. An outage met here degrades the store as any other call does.
func (s *Store) AcquireLease(ctx context.Context, session, owner string, ttl time.Duration) (l store.Lease, acquired bool, err error) {
	err = s.lease(ctx, func(ctx context.Context, le store.Leaser) error {
		l, acquired, err = le.AcquireLease(ctx, session, owner, ttl)
		return err
	})
	return l, acquired, err
}

// ReleaseLease implements store.Leaser, as AcquireLease.
func (s *Store) ReleaseLease(ctx context.Context, session, owner string) error {
	return s.lease(ctx, func(ctx context.Context, le store.Leaser) error { return le.ReleaseLease(ctx, session, owner) })
}

// TakeLease implements store.Leaser, as AcquireLease.
func (s *Store) TakeLease(ctx context.Context, session, from, owner string, ttl time.Duration) (l store.Lease, acquired bool, err error) {
	err = s.lease(ctx, func(ctx context.Context, le store.Leaser) error {
		l, acquired, err = le.TakeLease(ctx, session, from, owner, ttl)
		return err
	})
	return l, acquired, err
}

// MarkDraining implements store.Leaser, as AcquireLease.
func (s *Store) MarkDraining(ctx context.Context, owner string, ttl time.Duration) error {
	return s.lease(ctx, func(ctx context.Context, le store.Leaser) error { return le.MarkDraining(ctx, owner, ttl) })
}

// Draining implements store.Leaser, as AcquireLease.
func (s *Store) Draining(ctx context.Context, owner string) (draining bool, err error) {
	err = s.lease(ctx, func(ctx context.Context, le store.Leaser) error {
		draining, err = le.Draining(ctx, owner)
		return err
	})
	return draining, err
}

func (s *Store) lease(ctx context.Context, fn func(context.Context, store.Leaser) error) error {
	s.mu.RLock()
	p, degraded, reason := s.primary, s.degraded, s.reason
	s.mu.RUnlock()
	le, ok := p.(store.Leaser)
	switch {
	case degraded:
		return fmt.Errorf("%w: degraded, no leases: %v", store.ErrUnavailable, reason)
	case !ok:
		return fmt.Errorf("%w: the primary store has no leases", store.ErrUnavailable)
	}
	pctx, cancel := context.WithTimeout(ctx, s.opts.OpTimeout)
	err := fn(pctx, le)
	cancel()
	if !isOutage(err) || ctx.Err() != nil {
		return err
	}
	if !s.opts.NoFallback {
		s.setDegraded(err)
	}
	return fmt.Errorf("%w: %v", store.ErrUnavailable, err)
}

// Ping implements store.Store: it fails while degraded, so that readiness
// shows the outage.
func (s *Store) Ping(ctx context.Context) error {
	s.mu.RLock()
	p, degraded, reason := s.primary, s.degraded, s.reason
	s.mu.RUnlock()
	if degraded || p == nil {
		return fmt.Errorf("%w: degraded: %v", store.ErrUnavailable, reason)
	}
	if err := p.Ping(ctx); err != nil {
		s.setDegraded(err)
		return err
	}
	return nil
}

// recoverLoop tries the primary while degraded and moves sessions back.
func (s *Store) recoverLoop() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.RetryEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		case <-s.kick:
			continue // wait a full period before the first retry
		}
		if d, _ := s.Degraded(); !d {
			continue
		}
		if err := s.tryRecover(); err != nil {
			s.log.Warn("primary store still away", "err", err)
		}
	}
}

func (s *Store) tryRecover() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := s.Primary()
	if p == nil {
		np, err := s.opts.Open(ctx)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.primary = np
		s.mu.Unlock()
		p = np
	} else if err := p.Ping(ctx); err != nil {
		return err
	}
	// Hold writes while the sessions move, so that none is left behind.
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.moveLocked(ctx, p); err != nil {
		return fmt.Errorf("moving sessions to the primary store: %w", err)
	}
	s.degraded, s.reason = false, nil
	s.recovered = time.Now()
	s.log.Warn("store recovered: serving from the primary store again")
	if s.opts.OnChange != nil {
		s.opts.OnChange(false, nil)
	}
	return nil
}

func (s *Store) moveLocked(ctx context.Context, p store.Store) error {
	imp, ok := p.(store.Importer)
	snap := s.mem.Snapshot()
	for id, sess := range snap {
		if len(sess.Events) > 0 {
			if !ok {
				return fmt.Errorf("primary store %s cannot import events", p.Kind())
			}
			if err := imp.Import(ctx, id, sess.Events); err != nil {
				return fmt.Errorf("session %s: %w", id, err)
			}
		}
		if sess.Record != nil {
			if err := p.PutSession(ctx, store.Record{ID: id, Data: sess.Record}); err != nil {
				return fmt.Errorf("session %s: %w", id, err)
			}
		}
	}
	s.delMu.Lock()
	defer s.delMu.Unlock()
	for id := range s.deleted {
		if err := p.DeleteSession(ctx, id); err != nil {
			return fmt.Errorf("session %s: %w", id, err)
		}
	}
	s.log.Info("sessions moved from memory to the primary store", "sessions", len(snap), "deleted", len(s.deleted))
	s.deleted = make(map[string]bool)
	if err := s.moveTasksLocked(ctx, p); err != nil {
		return err
	}
	s.mem.Close()
	s.mem = s.newMem()
	return nil
}

// Close stops the retry loop and closes both stores.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return store.ErrClosed
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mem.Close()
	if s.primary != nil {
		return s.primary.Close()
	}
	return nil
}

var (
	_ store.Store  = (*Store)(nil)
	_ store.Leaser = (*Store)(nil)
)
