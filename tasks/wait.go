package tasks

import (
	"context"
	"errors"
	"time"

	"github.com/mooring-dev/mooring/store"
)

// Wait returns the task of scope once it is terminal.
func (m *Manager) Wait(ctx context.Context, id, scope string) (*Task, error) {
	return m.WaitUntil(ctx, id, scope, func(t *Task) bool { return t.Status.Terminal() })
}

// WaitUntil returns the task of scope once done reports true for it (to
// wait for any change, compare Version). It reads the store every
// PollInterval, so it works across replicas; a change made by this
// Manager wakes it at once, with the task as committed (no read). It ends
// with ctx. A store that is away (store.ErrUnavailable) does not end it.
func (m *Manager) WaitUntil(ctx context.Context, id, scope string, done func(*Task) bool) (*Task, error) {
	timer := time.NewTimer(m.o.PollInterval)
	defer timer.Stop()
	w := m.watch(id)
	defer m.unwatch(id, w)
	var seen uint64 // the newest version looked at
	var t *Task     // a local change to look at, instead of a read
	for {
		changed := m.changedCh(w) // before the read: no change slips between
		var err error
		if t == nil {
			t, err = m.Get(ctx, id, scope)
		}
		switch {
		case errors.Is(err, store.ErrUnavailable):
			// A store outage: the task is not gone, keep waiting.
		case err != nil:
			return nil, err
		case done(t):
			return t, nil
		default:
			seen = max(seen, t.Version)
		}
		t = nil
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(m.o.PollInterval)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
			// Newer than what was looked at (wakes of concurrent changes
			// may come out of order), and of the waiter's scope (a
			// first read that failed did not check it): else read.
			if l := m.lastChange(w); l != nil && l.Version > seen && (scope == store.AnyScope || l.Scope == scope) {
				t = l.clone()
			}
		case <-timer.C:
		}
	}
}
