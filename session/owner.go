package session

import (
	"context"
	"errors"
	"fmt"
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
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("session %s is owned by the replica at %s", e.Session, e.OwnerURL)
}

func (o *Ownership) owner() string { return o.SelfURL }

// claim takes or renews the lease of session id. It returns a *RemoteError
// if another live replica holds it. When the lease cannot be read (the
// store is away) the session is served here: availability over
// coordination, and the outage shows in health.
func (m *Manager) claim(ctx context.Context, id string) error {
	o := m.own
	if o == nil {
		return nil
	}
	l, ok, err := o.Lease.AcquireLease(ctx, id, o.owner(), o.TTL)
	if err != nil {
		m.log.Warn("session lease unavailable; serving it here", "session", id, "err", err)
		return nil
	}
	if ok {
		return nil
	}
	return &RemoteError{Session: id, OwnerURL: l.Owner}
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
		var live []*Session
		for _, e := range m.sessions {
			if e.s != nil {
				live = append(live, e.s)
			}
		}
		m.mu.Unlock()
		for _, s := range live {
			ctx, cancel := context.WithTimeout(context.Background(), m.own.TTL/3)
			err := m.claim(ctx, s.id)
			cancel()
			var re *RemoteError
			if errors.As(err, &re) {
				m.log.Warn("session taken over by another replica", "session", s.id, "owner", re.OwnerURL)
				m.mu.Lock()
				if e := m.sessions[s.id]; e != nil && e.s == s {
					delete(m.sessions, s.id)
				}
				m.mu.Unlock()
				s.close()
			}
		}
	}
}
