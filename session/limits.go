package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Defaults of the limits in Options.
const (
	// DefaultMaxLive is the default of Options.MaxLive. An idle in-process
	// session costs about 15 KB and a goroutine (go-sdk's reader of its
	// connection): 10,000 of them about 150 MB.
	DefaultMaxLive = 10000
	// DefaultMaxStored is the default of Options.MaxStored.
	DefaultMaxStored = 100000
	// DefaultMaxRecordBytes is the default of Options.MaxRecordBytes: an
	// initialize request's params are a few hundred bytes in practice.
	DefaultMaxRecordBytes = 64 << 10
)

// ErrBusy: this process or the store holds as many sessions as it may;
// retry later (503 with Retry-After). The session, if any, is not lost.
var ErrBusy = errors.New("server at session capacity")

// ErrRecordTooLarge: a session's record (the client's initialize params,
// its subscriptions) would pass Options.MaxRecordBytes.
var ErrRecordTooLarge = errors.New("session record too large")

// BusyRetryAfter is the wait that a client is told to take after ErrBusy:
// long enough for idle sessions to be evicted or to expire.
const BusyRetryAfter = 5 * time.Second

// rejected notes a session refused at a cap (ErrBusy): it is counted
// (OnEvent "rejected") and logged at most every dropLogEvery, with the
// number refused in between, since a flood of initialize requests must not
// flood the log as well.
func (m *Manager) rejected(err error) {
	if m.onEvent != nil {
		m.onEvent("rejected")
	}
	more, ok := m.rejects.allow(m.now())
	if !ok {
		return
	}
	m.log.Warn("session refused at a cap (one line per 10s at most)", "err", err, "more_since_last_line", more)
}

// storeCount caches the store's session count for the MaxStored check, so
// that a flood of initialize requests costs at most one count a second.
type storeCount struct {
	mu sync.Mutex
	n  int       // sessions at the last count, plus those created since
	at time.Time // when the store was last counted
}

// CheckInitialize checks the params of a client's initialize request
// against MaxRecordBytes before anything is opened for it.
func (m *Manager) CheckInitialize(params json.RawMessage) error {
	if len(params) > m.maxRecord {
		return fmt.Errorf("%w: initialize params of %d bytes, at most %d", ErrRecordTooLarge, len(params), m.maxRecord)
	}
	return nil
}

// checkRecord checks an encoded record against MaxRecordBytes.
func (m *Manager) checkRecord(data []byte) error {
	if len(data) > m.maxRecord {
		return fmt.Errorf("%w: %d bytes, at most %d", ErrRecordTooLarge, len(data), m.maxRecord)
	}
	return nil
}

// checkStored refuses a new session when the store holds MaxStored
// sessions already. A count that fails is logged and lets the session
// through: the cap protects the disk, a broken count must not stop
// service.
func (m *Manager) checkStored(ctx context.Context) error {
	if m.counter == nil || m.maxStored <= 0 {
		return nil
	}
	c := &m.stored
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := m.now(); now.Sub(c.at) >= time.Second {
		n, err := m.counter.CountSessions(ctx)
		if err != nil {
			m.log.Warn("counting the store's sessions for --max-stored-sessions", "err", err)
			return nil
		}
		c.n, c.at = n, now
	}
	if c.n >= m.maxStored {
		err := fmt.Errorf("%w: the store holds %d sessions, at most %d (--max-stored-sessions); retry when some have ended or expired", ErrBusy, c.n, m.maxStored)
		m.rejected(err)
		return err
	}
	c.n++
	return nil
}

// makeRoomLocked makes room in the cache for one more session: at the cap
// it takes out the idle session unused longest, which the caller must
// close (evict) once m.mu is released; the store keeps it and its next
// request restores it. ErrBusy if every session is busy. m.mu must be held.
func (m *Manager) makeRoomLocked() (evict *Session, err error) {
	if len(m.sessions) < m.maxLive {
		return nil, nil
	}
	now := m.now().Add(time.Nanosecond) // unused since before now, at any age
	var oldest time.Time
	for _, e := range m.sessions {
		if e.s == nil {
			continue // a restore under way
		}
		if last, ok := e.s.idleSince(now); ok && (evict == nil || last.Before(oldest)) {
			evict, oldest = e.s, last
		}
	}
	if evict == nil {
		err := fmt.Errorf("%w: %d live sessions, all busy, at most %d (--max-live-sessions)", ErrBusy, len(m.sessions), m.maxLive)
		m.rejected(err)
		return nil, err
	}
	delete(m.sessions, evict.id)
	return evict, nil
}

// evict closes a session taken out of the cache by makeRoomLocked.
func (m *Manager) evict(s *Session) {
	if s == nil {
		return
	}
	s.close()
	m.release(s.id)
	m.log.Debug("idle session evicted from memory to make room; the store keeps it", "session", s.id)
}

// idleSince reports when the session was last used, if it was before t
// and nothing holds it (the janitor's idle test).
func (s *Session) idleSince(t time.Time) (time.Time, bool) {
	if !s.idle(t) {
		return time.Time{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastUsed, true
}
