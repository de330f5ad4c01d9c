package session

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// ErrDraining: this process is shutting down and takes no new sessions and
// no sessions from the store (503: the client retries, and reaches another
// replica).
var ErrDraining = errors.New("this server is shutting down")

// drainPoll is how often Drain looks for sessions whose calls finished.
const drainPoll = 20 * time.Millisecond

// Drain hands this process's sessions over, for a shutdown that nobody
// notices: from now on no session is created or restored here; a session
// with no request in flight is closed at once, the others as soon as their
// requests are answered, or all that remain when ctx ends (see also
// AdmitWhileDraining). Each closed
// session's open streams end with the retry hint retry after an event id
// that their clients resume from, and its lease is released so that
// another replica takes the session at once. While it drains, the replica
// is marked draining in the shared store: peers that find its address
// closed wait for its hand-over instead of taking its sessions over.
// Drain returns when no session is left here.
func (m *Manager) Drain(ctx context.Context, retry time.Duration) {
	if !m.BeginDrain(ctx) {
		return
	}
	if m.own != nil {
		defer m.unmarkDraining()
	}
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for {
		m.mu.Lock()
		live := m.liveLocked()
		left := len(m.sessions) // restores under way too
		m.mu.Unlock()
		if left == 0 {
			return
		}
		late := ctx.Err() != nil
		for _, s := range live {
			if !late && s.busy() {
				continue
			}
			if late {
				m.log.Warn("drain: grace period over; a request still running is cut off (its client gets an interruption error from the next replica)", "session", s.id)
			}
			if m.uncache(s) {
				s.closeRetry(retry)
				m.release(s.id)
			}
		}
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
}

type admitKey struct{}

// AdmitWhileDraining marks ctx as a request's that reached this replica
// directly while it drains (it had read the request before it stopped
// reading): Get restores its session here rather than refusing it, and
// Drain hands it over once the request is answered. Requests that another
// replica forwarded are not admitted: that replica restores the session
// itself.
func AdmitWhileDraining(ctx context.Context) context.Context {
	return context.WithValue(ctx, admitKey{}, true)
}

// Draining reports whether BeginDrain was called: the sessions here are
// being handed over, and the process is going away.
func (m *Manager) Draining() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.draining
}

// BeginDrain is the start of Drain: no session is created or restored
// here from now on, and the replica is marked draining in the store. Call
// it before the replica stops accepting connections, so that a peer that
// finds them refused knows to wait. It reports false if the manager is
// closed.
func (m *Manager) BeginDrain(ctx context.Context) bool {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return false
	}
	begun := m.draining
	m.draining = true
	m.mu.Unlock()
	if m.own != nil && !begun {
		m.markDraining(ctx)
	}
	return true
}

// markDraining tells peers, through the store, that this replica is
// draining: for as long as a drain can last, and the lease after it.
func (m *Manager) markDraining(ctx context.Context) {
	ttl := 2 * m.own.TTL
	if dl, ok := ctx.Deadline(); ok {
		ttl += time.Until(dl)
	}
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := m.own.Lease.MarkDraining(c, m.own.owner(), ttl); err != nil {
		m.log.Warn("drain: marking this replica draining in the store", "err", err)
	}
}

func (m *Manager) unmarkDraining() {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := m.own.Lease.MarkDraining(c, m.own.owner(), 0); err != nil {
		m.log.Warn("drain: clearing this replica's draining mark", "err", err)
	}
}

// OwnerDraining reports whether the replica owner is marked draining.
func (m *Manager) OwnerDraining(ctx context.Context, owner string) (bool, error) {
	if m.own == nil {
		return false, nil
	}
	return m.own.Lease.Draining(ctx, owner)
}

// TakeOver takes the lease of session id from owner, whose address refuses
// connections: the process is gone (or no longer serves), so nothing waits
// for its lease to run out. The new lease has a new fencing token, which
// refuses any late write of the old owner. It reports whether the lease is
// this replica's now; false (no error) when owner is draining, and hands
// its sessions over itself, or when someone else took the lease first.
func (m *Manager) TakeOver(ctx context.Context, id, owner string) (bool, error) {
	if m.own == nil || owner == m.own.owner() {
		return false, nil
	}
	draining, err := m.OwnerDraining(ctx, owner)
	if err != nil {
		return false, fmt.Errorf("session %s: is its owner %s draining: %w", id, owner, err)
	}
	if draining {
		return false, nil
	}
	_, ok, err := m.own.Lease.TakeLease(ctx, id, owner, m.own.owner(), m.own.TTL)
	if err != nil {
		return false, fmt.Errorf("session %s: take the lease from %s: %w", id, owner, err)
	}
	if ok {
		m.log.Warn("session owner refuses connections: lease taken over", "session", id, "owner", owner)
	}
	return ok, nil
}

// busy reports whether a request of the client is still running or the
// backend waits for the client's reply to one of its own.
func (s *Session) busy() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running.Load() > 0 || len(s.outbound) > 0
}

// SafeToRepeat reports whether req, a call that may have been cut off with
// the process that ran it, may be sent again: a tools/call of a tool that
// this manager knows to be idempotent, or listed as retryable. A manager
// that has seen no tools/list yet (clients call tools without listing; a
// replica that forwards may serve few sessions itself) asks the backend
// once: that of a session live here, or of a connection of its own.
func (m *Manager) SafeToRepeat(ctx context.Context, req *jsonrpc.Request) bool {
	return m.safeToRepeat(ctx, req, nil)
}
