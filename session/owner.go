package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/mooring-dev/mooring/store"
)

// DefaultLeaseTTL is how long a replica's ownership of a session lasts
// without renewal: how long a dead replica's sessions wait to be taken over.
const DefaultLeaseTTL = 10 * time.Second

// Ownership makes replicas that share a store take turns: one owner per
// session backend at a time (DESIGN.md, invariant 6).
type Ownership struct {
	// Lease is the shared store's lease.
	Lease store.Leaser
	// SelfURL is where other replicas reach this replica's MCP endpoint.
	// It is the replica's identity in leases: a replica that restarts at
	// the same URL takes its sessions back at once instead of waiting for
	// its old leases to run out (two processes cannot hold one address).
	SelfURL string
	// TTL defaults to DefaultLeaseTTL; leases are renewed every TTL/3.
	TTL time.Duration
}

// RemoteError says that another replica owns the session: the request is to
// be forwarded to OwnerURL.
type RemoteError struct {
	Session  string
	OwnerURL string
	// Principal is the session's, from its record: a replica refuses a
	// request of another principal without passing it on.
	Principal string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("session %s is owned by the replica at %s", e.Session, e.OwnerURL)
}

func (o *Ownership) owner() string { return o.SelfURL }

// claim takes or renews the lease of session id and returns its fencing
// token, which the session's writes carry (Session.fenced). It returns a
// *RemoteError if another live replica holds it. When the lease cannot be
// read (the store is away) the session is served here, unfenced (token 0):
// availability over coordination, and the outage shows in health.
func (m *Manager) claim(ctx context.Context, id string) (uint64, error) {
	o := m.own
	if o == nil {
		return 0, nil
	}
	// Bounded whatever the store does: a store client that retries for as
	// long as ctx lives would hold the request until its client gives up.
	ctx, cancel := context.WithTimeout(ctx, o.TTL/3)
	defer cancel()
	l, ok, err := o.Lease.AcquireLease(ctx, id, o.owner(), o.TTL)
	if err != nil {
		level := slog.LevelWarn
		if errors.Is(err, store.ErrUnavailable) {
			// A store outage, which the store reports itself (loudly,
			// once): a line per session and renewal would drown it.
			level = slog.LevelDebug
		}
		m.log.Log(ctx, level, "session lease unavailable; serving it here", "session", id, "err", err)
		return 0, nil
	}
	if ok {
		return l.Token, nil
	}
	return 0, &RemoteError{Session: id, OwnerURL: l.Owner}
}

// release gives up the lease of a session this process no longer serves.
func (m *Manager) release(id string) {
	if m.own == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := m.own.Lease.ReleaseLease(ctx, id, m.own.owner()); err != nil {
		m.log.Warn("releasing session lease", "session", id, "err", err)
	}
}

// renewLeases keeps this replica's leases alive, and drops the sessions
// whose lease another replica took (after a pause longer than the TTL).
func (m *Manager) renewLeases() {
	defer m.wg.Done()
	t := time.NewTicker(m.own.TTL / 3)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		m.mu.Lock()
		live := m.liveLocked()
		m.mu.Unlock()
		for _, s := range live {
			ctx, cancel := context.WithTimeout(context.Background(), m.own.TTL/3)
			tok, err := m.claim(ctx, s.id)
			cancel()
			var re *RemoteError
			switch {
			case errors.As(err, &re):
				m.log.Warn("session taken over by another replica", "session", s.id, "owner", re.OwnerURL)
				m.drop(s)
			case tok != 0 && !s.refence(tok):
				m.log.Warn("session lease lost and taken again after another replica held it", "session", s.id)
				m.drop(s)
			}
		}
	}
}

// refence adopts the token of a renewal. A renewal keeps the token; a new
// one means the lease ran out (this process paused) and was taken again.
// If it is the next token, nobody held the lease in between (the counter
// grows by one per holder) and the session goes on under it; otherwise
// another replica may have written to the session meanwhile, and refence
// reports false. A session served unfenced (the store was away when it
// was claimed) takes any token.
func (s *Session) refence(tok uint64) bool {
	old := s.fence.Load()
	if tok == old {
		return true
	}
	if old != 0 && tok != old+1 {
		return false
	}
	return s.fence.CompareAndSwap(old, tok)
}

// drop removes a session that another replica owns now from this process,
// without releasing the lease (it is not this replica's). The backend is
// closed in the background: the caller may be the backend's own message
// handler, or hold one of the session's streams. It reports whether this
// call dropped it (false if it was gone already).
func (m *Manager) drop(s *Session) bool {
	mine := m.uncache(s)
	go s.close()
	return mine
}

// fencedOut reports whether err is the store's refusal of a write under a
// lease token that another replica's lease superseded (this replica paused
// past its lease, and the session moved). If so the session is dropped from
// this process at once, as renewLeases drops one it finds taken: its next
// request restores or forwards it. Callers deliver their error first,
// since closing the session ends its streams.
func (s *Session) fencedOut(err error) bool {
	if !errors.Is(err, store.ErrFenced) {
		return false
	}
	if s.m.drop(s) {
		s.m.log.Warn("session taken over by another replica: its write was refused by the lease's fencing token", "session", s.id, "err", err)
	}
	return true
}

// fenced returns ctx for a write of the session to the store: under its
// lease token, so that the store refuses it with store.ErrFenced once
// another replica holds the lease.
func (s *Session) fenced(ctx context.Context) context.Context {
	return store.WithFence(ctx, s.fence.Load())
}
