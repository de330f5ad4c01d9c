package memstore

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/mooring-dev/mooring/store"
)

// tasks holds the store's tasks; guarded by Store.mu. Expired tasks are
// dropped when read and by the sweep in CreateTask.
type tasks map[string]store.TaskRecord

func cloneTask(r store.TaskRecord) store.TaskRecord {
	r.Data = append([]byte(nil), r.Data...)
	return r
}

// liveTask returns the task if it exists and has not expired, dropping an
// expired one. Callers hold s.mu.
func (s *Store) liveTask(id string) (store.TaskRecord, bool) {
	r, ok := s.tasks[id]
	if !ok {
		return r, false
	}
	if !s.now().Before(r.Expires) {
		delete(s.tasks, id)
		return r, false
	}
	return r, true
}

// CreateTask implements store.TaskStore.
func (s *Store) CreateTask(ctx context.Context, rec store.TaskRecord) (store.TaskRecord, error) {
	if err := s.lock(); err != nil {
		return store.TaskRecord{}, err
	}
	defer s.mu.Unlock()
	now := s.now()
	if err := store.CheckNewTask(rec, now); err != nil {
		return store.TaskRecord{}, err
	}
	if s.tasks == nil {
		s.tasks = make(tasks)
	}
	if now.After(s.taskSweepAt) {
		// Tasks that nobody reads again would otherwise stay forever.
		for id := range s.tasks {
			s.liveTask(id)
		}
		s.taskSweepAt = now.Add(s.limits.TTL / 4)
	}
	if _, ok := s.liveTask(rec.ID); ok {
		return store.TaskRecord{}, fmt.Errorf("%w: task %q", store.ErrExists, rec.ID)
	}
	rec = cloneTask(rec)
	rec.Version = 1
	s.tasks[rec.ID] = rec
	return cloneTask(rec), nil
}

// GetTask implements store.TaskStore.
func (s *Store) GetTask(ctx context.Context, id string) (store.TaskRecord, error) {
	if err := s.lock(); err != nil {
		return store.TaskRecord{}, err
	}
	defer s.mu.Unlock()
	r, ok := s.liveTask(id)
	if !ok {
		return store.TaskRecord{}, fmt.Errorf("%w: task %q", store.ErrNotFound, id)
	}
	return cloneTask(r), nil
}

// UpdateTask implements store.TaskStore.
func (s *Store) UpdateTask(ctx context.Context, rec store.TaskRecord) (store.TaskRecord, error) {
	if err := s.lock(); err != nil {
		return store.TaskRecord{}, err
	}
	defer s.mu.Unlock()
	cur, ok := s.liveTask(rec.ID)
	if !ok {
		return store.TaskRecord{}, fmt.Errorf("%w: task %q", store.ErrNotFound, rec.ID)
	}
	if cur.Version != rec.Version {
		return store.TaskRecord{}, fmt.Errorf("%w: task %q is at version %d, not %d", store.ErrConflict, rec.ID, cur.Version, rec.Version)
	}
	cur.Active, cur.Expires, cur.Data = rec.Active, rec.Expires, append([]byte(nil), rec.Data...)
	cur.Version++
	s.tasks[rec.ID] = cur
	return cloneTask(cur), nil
}

// ListTasks implements store.TaskStore.
func (s *Store) ListTasks(ctx context.Context, scope, cursor string, limit int) ([]store.TaskRecord, string, error) {
	return s.listTasks(func(r store.TaskRecord) bool { return scope == store.AnyScope || r.Scope == scope }, cursor, limit)
}

// ActiveTasks implements store.TaskStore.
func (s *Store) ActiveTasks(ctx context.Context, cursor string, limit int) ([]store.TaskRecord, string, error) {
	return s.listTasks(func(r store.TaskRecord) bool { return r.Active }, cursor, limit)
}

func (s *Store) listTasks(keep func(store.TaskRecord) bool, cursor string, limit int) ([]store.TaskRecord, string, error) {
	if err := s.lock(); err != nil {
		return nil, "", err
	}
	defer s.mu.Unlock()
	limit = store.TaskLimit(limit)
	var ids []string
	for id := range s.tasks {
		if id > cursor {
			if r, ok := s.liveTask(id); ok && keep(r) {
				ids = append(ids, id)
			}
		}
	}
	slices.SortFunc(ids, strings.Compare)
	next := ""
	if len(ids) > limit {
		ids = ids[:limit]
		next = ids[limit-1]
	}
	recs := make([]store.TaskRecord, len(ids))
	for i, id := range ids {
		recs[i] = cloneTask(s.tasks[id])
	}
	return recs, next, nil
}

// DeleteTask implements store.TaskStore.
func (s *Store) DeleteTask(ctx context.Context, id string) error {
	if err := s.lock(); err != nil {
		return err
	}
	defer s.mu.Unlock()
	delete(s.tasks, id)
	return nil
}

var _ store.TaskStore = (*Store)(nil)

// Tasks returns a copy of every live task (the fallback store moves them
// into the primary with it).
func (s *Store) Tasks() []store.TaskRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.TaskRecord, 0, len(s.tasks))
	for id := range s.tasks {
		if r, ok := s.liveTask(id); ok {
			out = append(out, cloneTask(r))
		}
	}
	return out
}
