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
// PollInterval, and at once after a change made by this Manager, so it
// works across replicas; it ends with ctx. A store that is away
// (store.ErrUnavailable) does not end it.
func (m *Manager) WaitUntil(ctx context.Context, id, scope string, done func(*Task) bool) (*Task, error) {
	timer := time.NewTimer(m.o.PollInterval)
	defer timer.Stop()
	w := m.watch(id)
	defer m.unwatch(id, w)
	for {
		changed := m.changedCh(w) // before the read: no change slips between
		t, err := m.Get(ctx, id, scope)
		switch {
		case errors.Is(err, store.ErrUnavailable):
			// A store outage: the task is not gone, keep waiting.
		case err != nil:
			return nil, err
		case done(t):
			return t, nil
		}
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
		case <-timer.C:
		}
	}
}
