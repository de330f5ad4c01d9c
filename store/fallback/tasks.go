package fallback

import (
	"context"
	"errors"
	"fmt"

	"github.com/mooring-dev/mooring/store"
)

// Tasks in degraded mode. While the primary is away:
//
//   - new tasks are created in memory, and moved into the primary (with
//     their data; versions start again at 1) when it is back;
//   - a task that only the primary holds cannot be read or updated: that
//     answers store.ErrUnavailable, never ErrNotFound. A runner that
//     finishes during the outage cannot store its outcome; the tasks
//     package retries for a while, then leaves the task to be settled as
//     the task of a stopped process;
//   - ListTasks answers store.ErrUnavailable rather than a list that would
//     silently leave out the primary's tasks; ActiveTasks lists memory's.
//
// Lost if this process dies during the outage: every task created or
// changed in memory meanwhile.

// taskRun is run for task methods: both stores must keep tasks.
func (s *Store) taskRun(ctx context.Context, fn func(context.Context, store.TaskStore) error, missing bool) error {
	return s.run(ctx, func(ctx context.Context, st store.Store) error {
		ts, ok := st.(store.TaskStore)
		if !ok {
			return fmt.Errorf("fallback: the %s store keeps no tasks", st.Kind())
		}
		return fn(ctx, ts)
	}, missing)
}

func (s *Store) CreateTask(ctx context.Context, rec store.TaskRecord) (out store.TaskRecord, err error) {
	err = s.taskRun(ctx, func(ctx context.Context, st store.TaskStore) error { out, err = st.CreateTask(ctx, rec); return err }, false)
	return out, err
}

func (s *Store) GetTask(ctx context.Context, id string) (out store.TaskRecord, err error) {
	err = s.taskRun(ctx, func(ctx context.Context, st store.TaskStore) error { out, err = st.GetTask(ctx, id); return err }, true)
	return out, err
}

func (s *Store) UpdateTask(ctx context.Context, rec store.TaskRecord) (out store.TaskRecord, err error) {
	err = s.taskRun(ctx, func(ctx context.Context, st store.TaskStore) error { out, err = st.UpdateTask(ctx, rec); return err }, true)
	return out, err
}

func (s *Store) ListTasks(ctx context.Context, scope, cursor string, limit int) (recs []store.TaskRecord, next string, err error) {
	err = s.taskRun(ctx, func(ctx context.Context, st store.TaskStore) error {
		if st == store.TaskStore(s.mem) {
			return fmt.Errorf("%w: primary store is away; its tasks cannot be listed: %v", store.ErrUnavailable, s.reason)
		}
		recs, next, err = st.ListTasks(ctx, scope, cursor, limit)
		return err
	}, false)
	return recs, next, err
}

func (s *Store) ActiveTasks(ctx context.Context, cursor string, limit int) (recs []store.TaskRecord, next string, err error) {
	err = s.taskRun(ctx, func(ctx context.Context, st store.TaskStore) error {
		recs, next, err = st.ActiveTasks(ctx, cursor, limit)
		return err
	}, false)
	return recs, next, err
}

func (s *Store) DeleteTask(ctx context.Context, id string) error {
	return s.taskRun(ctx, func(ctx context.Context, st store.TaskStore) error {
		if st == store.TaskStore(s.mem) {
			s.delMu.Lock()
			s.deletedTasks[id] = true
			s.delMu.Unlock()
		}
		return st.DeleteTask(ctx, id)
	}, false)
}

// moveTasksLocked moves memory's tasks into the primary; callers hold
// s.mu for writing and s.delMu.
func (s *Store) moveTasksLocked(ctx context.Context, p store.Store) error {
	recs := s.mem.Tasks()
	if len(recs) == 0 && len(s.deletedTasks) == 0 {
		return nil
	}
	ts, ok := p.(store.TaskStore)
	if !ok {
		return fmt.Errorf("primary store %s keeps no tasks", p.Kind())
	}
	for _, rec := range recs {
		if _, err := ts.CreateTask(ctx, rec); err != nil && !errors.Is(err, store.ErrBadTask) {
			if errors.Is(err, store.ErrExists) {
				s.log.Error("a task created during the outage has the id of one in the primary store; the primary's is kept", "task", rec.ID)
				continue
			}
			return fmt.Errorf("task %s: %w", rec.ID, err)
		}
	}
	for id := range s.deletedTasks {
		if err := ts.DeleteTask(ctx, id); err != nil {
			return fmt.Errorf("task %s: %w", id, err)
		}
	}
	s.log.Info("tasks moved from memory to the primary store", "tasks", len(recs), "deleted", len(s.deletedTasks))
	s.deletedTasks = make(map[string]bool)
	return nil
}

var _ store.TaskStore = (*Store)(nil)
