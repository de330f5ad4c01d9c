package tasks

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mooring-dev/mooring/store"
)

// writeTimeout bounds the store writes that settle a runner's outcome or
// release its lease: they are made after the runner's context ended.
const writeTimeout = 10 * time.Second

// settleFor is how long a runner's outcome waits for a store that is away.
const settleFor = time.Minute

// register claims the task for a runner here, before the store says so,
// with the context the runner will run under (so that Cancel and Close
// can end it even before it starts), and counts it in m.wg. One run per
// task at a time: a second claim (a duplicate id, or two settles of one
// dead task racing) gets store.ErrConflict. The claim ends with start, or
// with abort.
func (m *Manager) register(id string, attempt int) (*run, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	if m.running[id] != nil {
		return nil, fmt.Errorf("tasks: %w: task %q runs here already", store.ErrConflict, id)
	}
	r := &run{attempt: attempt}
	r.ctx, r.cancel = context.WithCancelCause(m.ctx)
	m.running[id] = r
	m.wg.Add(1)
	return r, nil
}

// abort gives up a claim that will not run (its store write failed).
func (m *Manager) abort(id string, r *run) {
	r.cancel(nil)
	m.unregister(id, r)
	m.wg.Done()
}

func (m *Manager) unregister(id string, r *run) {
	m.mu.Lock()
	if m.running[id] == r {
		delete(m.running, id)
	}
	m.mu.Unlock()
}

// start runs a registered task in a goroutine owned by the Manager.
func (m *Manager) start(t *Task, r *run, runner Runner) {
	go m.execute(r.ctx, r.cancel, t.clone(), r, runner)
}

func (m *Manager) execute(ctx context.Context, cancel context.CancelCauseFunc, t *Task, r *run, runner Runner) {
	defer m.wg.Done()
	defer m.unregister(t.ID, r)
	defer cancel(nil)

	done := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		m.renewLoop(ctx, cancel, t.ID, r, done)
	}()
	res, err := runOne(ctx, runner, t)
	close(done)
	<-renewed

	wctx, wcancel := context.WithTimeout(context.Background(), writeTimeout+settleFor)
	defer wcancel()
	cause := context.Cause(ctx)
	switch {
	case err == nil:
		m.settle(wctx, t.ID, r, Completed, res, nil)
	case errors.Is(cause, errCancelled), errors.Is(cause, errLost):
		// Settled by Cancel, or no longer ours: nothing to write.
	case errors.Is(cause, errShutdown):
		m.release(wctx, t.ID, r)
	default:
		var rpcErr *jsonrpc.Error
		if !errors.As(err, &rpcErr) {
			rpcErr = internalError(err.Error())
		}
		m.settle(wctx, t.ID, r, Failed, nil, rpcErr)
	}
}

// runOne calls the runner, turning a panic into an error: a bad tool
// must not take the process, and every task down with it.
func runOne(ctx context.Context, runner Runner, t *Task) (res []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, internalError("the task's runner panicked")
		}
	}()
	return runner(ctx, t)
}

// ours reports whether cur is still run by this Manager's attempt.
func (m *Manager) ours(cur *Task, attempt int) bool {
	return !cur.Status.Terminal() && cur.Runner == m.self && cur.Attempts == attempt
}

// renewLoop extends the runner lease every LeaseTTL/3 until done, and
// ends the runner's context once the task is no longer ours.
func (m *Manager) renewLoop(ctx context.Context, cancel context.CancelCauseFunc, id string, r *run, done <-chan struct{}) {
	tick := time.NewTicker(m.o.LeaseTTL / 3)
	defer tick.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		lost := false
		t, err := m.modifyFrom(ctx, id, store.AnyScope, r.last, func(cur *Task) (bool, error) {
			lost = false // fn may run again after a conflict
			if !m.ours(cur, r.attempt) {
				lost = true
				return false, nil
			}
			cur.LeaseUntil = m.o.Now().Add(m.o.LeaseTTL)
			return true, nil
		})
		if err == nil && !lost {
			r.last = t
		}
		switch {
		case lost, errors.Is(err, store.ErrNotFound):
			cancel(errLost)
			return
		case err != nil && ctx.Err() == nil:
			// The store may be back before the lease runs out.
			m.log.Warn("tasks: renew a runner lease", "task", id, "err", err)
		}
	}
}

// settle commits the runner's outcome if the task is still ours. A store
// that is away (an outage) is retried every second for settleFor: if it
// stays away the outcome is lost, and the task is settled later as the
// task of a stopped process.
func (m *Manager) settle(ctx context.Context, id string, r *run, st Status, res []byte, rpcErr *jsonrpc.Error) {
	ctx, cancel := context.WithTimeout(ctx, settleFor)
	defer cancel()
	for {
		_, err := m.modifyFrom(ctx, id, store.AnyScope, r.last, func(cur *Task) (bool, error) {
			if !m.ours(cur, r.attempt) {
				return false, nil
			}
			cur.Status, cur.Result, cur.Error, cur.InputRequests = st, res, rpcErr, nil
			cur.StatusMessage, cur.UpdatedAt = "", m.o.Now()
			if st == Failed && rpcErr != nil {
				cur.StatusMessage = rpcErr.Message
			}
			return true, nil
		})
		if err == nil || errors.Is(err, store.ErrNotFound) || errors.Is(err, ErrClosed) {
			return
		}
		select {
		case <-ctx.Done():
			m.log.Error("tasks: the outcome of a task could not be stored and is lost", "task", id, "status", st, "err", err)
			return
		case <-m.ctx.Done():
			m.log.Error("tasks: the outcome of a task could not be stored before shutdown and is lost", "task", id, "status", st, "err", err)
			return
		case <-time.After(time.Second):
			m.log.Warn("tasks: store a task's outcome; retrying", "task", id, "err", err)
		}
	}
}

// release gives the runner lease up (shutdown), so that the next process
// need not wait for it to run out.
func (m *Manager) release(ctx context.Context, id string, r *run) {
	_, err := m.modifyFrom(ctx, id, store.AnyScope, r.last, func(cur *Task) (bool, error) {
		if !m.ours(cur, r.attempt) {
			return false, nil
		}
		cur.LeaseUntil = time.Time{}
		return true, nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, ErrClosed) {
		m.log.Warn("tasks: release a runner lease", "task", id, "err", err)
	}
}

// drainPoll is how often Drain looks whether runners are left.
const drainPoll = 50 * time.Millisecond

// Drain waits until no task runs in this process, or ctx ends: on
// SIGTERM, tasks that finish within the grace period store their outcome
// instead of being cut off by Close (which the next process would settle
// as the task of a stopped process). New tasks may still be created
// meanwhile; Drain waits for them too.
func (m *Manager) Drain(ctx context.Context) {
	t := time.NewTicker(drainPoll)
	defer t.Stop()
	for m.Running() > 0 {
		select {
		case <-ctx.Done():
			m.log.Warn("tasks: drain grace over; tasks still running give their leases up", "running", m.Running())
			return
		case <-t.C:
		}
	}
}
