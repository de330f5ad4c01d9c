package session

import (
	"context"
	"fmt"
	"time"

	"github.com/mooring-dev/mooring/backend"
)

// End ends a session for good: its backend is closed and its data deleted.
// Its id answers ErrNotFound from then on.
//
// It does not wait for the backend to end: a stdio program that outlives
// its closed stdin is given its grace period and then signalled (SIGTERM,
// then SIGKILL) in the background, and Close waits for that.
func (m *Manager) End(ctx context.Context, id string) error {
	s, err := m.Get(ctx, id)
	if err != nil {
		return err
	}
	m.mu.Lock()
	put(&m.ending, id, true)
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.ending, id)
		m.mu.Unlock()
	}()
	mine := m.uncache(s)
	if conn := s.shut(0); conn != nil {
		m.closeConn(conn)
	}
	if err := m.store.DeleteSession(ctx, id); err != nil {
		if mine {
			m.release(id)
		}
		return fmt.Errorf("session %s: delete: %w", id, err)
	}
	if mine {
		// Only now: another replica must not restore it before the
		// record is gone.
		m.release(id)
	}
	m.event("ended", id)
	return nil
}

// closeConn closes a backend connection in the background.
func (m *Manager) closeConn(conn backend.Conn) {
	m.background(func() { _ = conn.Close() })
}

// background runs fn in a goroutine that Close waits for (at once, in the
// caller's, if the manager is closing).
func (m *Manager) background(fn func()) {
	m.mu.Lock()
	closed := m.closed
	if !closed {
		m.closers.Add(1)
	}
	m.mu.Unlock()
	if closed {
		fn()
		return
	}
	go func() {
		defer m.closers.Done()
		fn()
	}()
}

// adoptRemote records the id of the backend server's session that the
// restore opened, and ends old, the one that the session's previous
// process left behind (it died without ending it), in the background.
func (s *Session) adoptRemote(ctx context.Context, old string) error {
	r, ok := s.conn.(backend.Remote)
	if !ok {
		return nil
	}
	cur := r.RemoteSession()
	if cur == old {
		return nil
	}
	if ender, ok := s.m.opener.(backend.RemoteEnder); ok && old != "" {
		version := s.ProtocolVersion()
		s.m.background(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := ender.EndRemote(ctx, old, version); err != nil {
				s.m.log.Warn("ending the backend session that a previous process left behind", "session", s.id, "remote", old, "err", err)
				return
			}
			s.m.log.Info("ended the backend session that a previous process left behind", "session", s.id, "remote", old)
		})
	}
	s.mu.Lock()
	s.rec.RemoteSession = cur
	s.mu.Unlock()
	return s.save(ctx)
}
