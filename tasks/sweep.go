package tasks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mooring-dev/mooring/store"
)

// dead reports whether t is active and its runner is gone: its lease ran
// out, or (Exclusive) another process of this store held it.
func (m *Manager) dead(t *Task) bool {
	if t.Status.Terminal() {
		return false
	}
	if t.Runner == m.self {
		m.mu.Lock()
		r := m.running[t.ID]
		m.mu.Unlock()
		return r == nil || r.attempt != t.Attempts
	}
	return m.o.Exclusive || !m.o.Now().Before(t.LeaseUntil)
}

// settleDead settles a task whose runner is gone: it runs again here if
// it is Retryable, has attempts left and the era code gives a Runner;
// otherwise it fails with an error saying why. ErrConflict if someone
// else changed the task first.
func (m *Manager) settleDead(ctx context.Context, seen *Task) (*Task, error) {
	var runner Runner
	if seen.Retryable && seen.Attempts < m.o.MaxAttempts {
		m.mu.Lock()
		f := m.runnerFor
		m.mu.Unlock()
		if f != nil {
			runner = f(seen.clone())
		}
	}
	var r *run
	if runner != nil {
		var err error
		if r, err = m.register(seen.ID, seen.Attempts+1); err != nil {
			return nil, err
		}
	}
	t, err := m.modify(ctx, seen.ID, store.AnyScope, func(cur *Task) (bool, error) {
		if cur.Version != seen.Version {
			return false, store.ErrConflict
		}
		now := m.o.Now()
		cur.UpdatedAt = now
		if runner != nil {
			cur.Status, cur.Runner, cur.LeaseUntil = Working, m.self, now.Add(m.o.LeaseTTL)
			cur.InputRequests = nil // the new run asks again if it needs to
			cur.Attempts++
			cur.StatusMessage = fmt.Sprintf("The process running the task stopped; running it again (attempt %d of %d).", cur.Attempts, m.o.MaxAttempts)
			return true, nil
		}
		msg := fmt.Sprintf("The process running this task (%s) stopped before the task finished", cur.Runner)
		if cur.Retryable && cur.Attempts >= m.o.MaxAttempts {
			msg += fmt.Sprintf("; gave up after %d attempts", cur.Attempts)
		}
		msg += "."
		cur.Status, cur.StatusMessage, cur.Error = Failed, msg, internalError(msg)
		return true, nil
	})
	if runner != nil {
		if err != nil || t.Runner != m.self {
			m.abort(seen.ID, r)
		} else {
			m.log.Info("tasks: re-running a task whose process stopped", "task", t.ID, "attempt", t.Attempts)
			if seen.Status == Working && m.o.Metrics != nil {
				m.o.Metrics.TaskStatus(string(Working), 0) // no status change: modify did not count it
			}
			r.last = t.clone()
			m.start(t, r, runner)
		}
	}
	if err == nil && runner == nil {
		m.log.Warn("tasks: settled a task whose process stopped", "task", t.ID, "runner", seen.Runner)
	}
	return t, err
}

// sweepLoop settles the tasks of dead runners: once at start, then every
// SweepInterval, until Close.
func (m *Manager) sweepLoop() {
	defer m.wg.Done()
	tick := time.NewTicker(m.o.SweepInterval)
	defer tick.Stop()
	for {
		if err := m.Sweep(m.ctx); err != nil && m.ctx.Err() == nil {
			m.log.Warn("tasks: sweep for tasks of dead runners", "err", err)
		}
		select {
		case <-m.ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Sweep looks once through the active tasks and settles those of dead
// runners.
func (m *Manager) Sweep(ctx context.Context) error {
	cursor := ""
	for {
		recs, next, err := m.st.ActiveTasks(ctx, cursor, 256)
		if err != nil {
			return fmt.Errorf("tasks: sweep: %w", err)
		}
		for _, rec := range recs {
			t, err := decode(rec)
			if err != nil {
				m.log.Error("tasks: unreadable task record", "task", rec.ID, "err", err)
				continue
			}
			if m.dead(t) {
				if _, err := m.settleDead(ctx, t); err != nil && !errors.Is(err, store.ErrConflict) && !errors.Is(err, store.ErrNotFound) {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					m.log.Warn("tasks: settle a task of a dead runner", "task", t.ID, "err", err)
				}
			}
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
}
