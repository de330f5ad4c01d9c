package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mooring-dev/mooring/store"
)

// Tasks live in three root buckets of their own:
//
//	tasks        <id> → version (8), expires (8, unix ns), active (1),
//	             scope (uvarint length + bytes), data (the rest)
//	task-scopes  <scope> 0x00 <id> → "": ListTasks of one scope
//	task-active  <id> → "": ActiveTasks, what a settle sweep reads
//
// Their writes are ops like any other (taskCreate, taskUpdate,
// taskDelete, taskExpire; see ops.go), logged and synced before they
// return. The compare-and-swap of UpdateTask is decided inside the op, on
// the state it applies to, so a replay decides it the same way.
var (
	bucketTasks      = []byte("tasks")
	bucketTaskScopes = []byte("task-scopes")
	bucketTaskActive = []byte("task-active")
)

// Outcomes of task ops, in opResult.task.
const (
	taskOK = iota
	taskExists
	taskMissing
	taskConflict
)

// taskArgs are the decoded arguments of a task op: session holds the id,
// stream the scope, items[0] the data.
type taskArgs struct {
	version uint64
	expires int64
	active  bool
}

// taskResult is what a task op reports back.
type taskResult struct {
	code    int
	version uint64
	scope   string
}

type taskValue struct {
	version uint64
	expires int64
	active  bool
	scope   []byte
	data    []byte
}

func (v taskValue) encode() []byte {
	b := make([]byte, 0, 17+binary.MaxVarintLen64+len(v.scope)+len(v.data))
	b = binary.BigEndian.AppendUint64(b, v.version)
	b = binary.BigEndian.AppendUint64(b, uint64(v.expires))
	if v.active {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(v.scope)))
	b = append(b, v.scope...)
	return append(b, v.data...)
}

// decodeTaskValue reads a stored task; its slices alias raw.
func decodeTaskValue(raw []byte) (taskValue, error) {
	if len(raw) < 18 {
		return taskValue{}, fmt.Errorf("task value of %d bytes", len(raw))
	}
	v := taskValue{version: binary.BigEndian.Uint64(raw), expires: int64(binary.BigEndian.Uint64(raw[8:])), active: raw[16] == 1}
	n, k := binary.Uvarint(raw[17:])
	if k <= 0 || n > uint64(len(raw)-17-k) {
		return taskValue{}, errors.New("task value: bad scope length")
	}
	rest := raw[17+k:]
	v.scope, v.data = rest[:n], rest[n:]
	return v, nil
}

func scopeKey(scope, id []byte) []byte {
	k := make([]byte, 0, len(scope)+1+len(id))
	k = append(append(append(k, scope...), 0), id...)
	return k
}

func encodeTaskCreate(lim store.Limits, rec store.TaskRecord) []byte {
	return encodeTaskWrite(opTaskCreate, lim, rec)
}

func encodeTaskUpdate(lim store.Limits, rec store.TaskRecord) []byte {
	return encodeTaskWrite(opTaskUpdate, lim, rec)
}

func encodeTaskWrite(kind opKind, lim store.Limits, rec store.TaskRecord) []byte {
	active := uint64(0)
	if rec.Active {
		active = 1
	}
	n := sized(len(rec.ID)) + sized(len(rec.Scope)) + 3*binary.MaxVarintLen64 + sized(len(rec.Data))
	return newBody(kind, lim, n).str(rec.ID).str(rec.Scope).uint(rec.Version).uint(uint64(rec.Expires.UnixNano())).uint(active).bytes(rec.Data)
}

func encodeTaskDelete(lim store.Limits, id string) []byte {
	return newBody(opTaskDelete, lim, sized(len(id))).str(id)
}

func encodeTaskExpire(lim store.Limits, ids []string) []byte {
	e := encodeExpire(lim, ids)
	e[0] = byte(opTaskExpire)
	return e
}

// decodeTask reads the args of a task op into o.
func (o *op) decodeTask(d *decoder) {
	switch o.kind {
	case opTaskCreate, opTaskUpdate:
		o.session, o.stream = d.bytes(), d.bytes()
		o.task.version, o.task.expires, o.task.active = d.uint(), int64(d.uint()), d.uint() == 1
		o.items = append(o.items, d.bytes())
	case opTaskDelete:
		o.session = d.bytes()
	case opTaskExpire:
		for n := d.count(); n > 0 && d.err == nil; n-- {
			o.items = append(o.items, d.bytes())
		}
	}
}

// applyTask runs a task op in tx.
func (o *op) applyTask(tx *bolt.Tx) (opResult, error) {
	tasks := tx.Bucket(bucketTasks)
	switch o.kind {
	case opTaskCreate:
		if cur, ok, err := loadTask(tasks, o.session); err != nil {
			return opResult{}, err
		} else if ok {
			if cur.expires > o.now {
				return opResult{task: taskResult{code: taskExists}}, nil
			}
			if err := deleteTask(tx, o.session, cur); err != nil { // expired, not swept yet
				return opResult{}, err
			}
		}
		v := taskValue{version: 1, expires: o.task.expires, active: o.task.active, scope: o.stream, data: o.items[0]}
		return opResult{task: taskResult{version: 1}}, putTask(tx, o.session, v)
	case opTaskUpdate:
		cur, ok, err := loadTask(tasks, o.session)
		if err != nil {
			return opResult{}, err
		}
		if !ok || cur.expires <= o.now {
			return opResult{task: taskResult{code: taskMissing}}, nil
		}
		if cur.version != o.task.version {
			return opResult{task: taskResult{code: taskConflict, version: cur.version}}, nil
		}
		if cur.active && !o.task.active {
			if err := tx.Bucket(bucketTaskActive).Delete(o.session); err != nil {
				return opResult{}, err
			}
		}
		scope := bytes.Clone(cur.scope) // cur aliases the page that Put replaces
		v := taskValue{version: cur.version + 1, expires: o.task.expires, active: o.task.active, scope: scope, data: o.items[0]}
		return opResult{task: taskResult{version: v.version, scope: string(scope)}}, putTask(tx, o.session, v)
	case opTaskDelete:
		cur, ok, err := loadTask(tasks, o.session)
		if err != nil || !ok {
			return opResult{}, err
		}
		return opResult{}, deleteTask(tx, o.session, cur)
	case opTaskExpire:
		n := 0
		for _, id := range o.items {
			cur, ok, err := loadTask(tasks, id)
			if err != nil {
				return opResult{n: n}, err
			}
			if !ok || cur.expires > o.now {
				continue
			}
			if err := deleteTask(tx, id, cur); err != nil {
				return opResult{n: n}, err
			}
			n++
		}
		return opResult{n: n}, nil
	}
	return opResult{}, fmt.Errorf("%w: unknown kind %d", errCorruptOp, o.kind)
}

func loadTask(tasks *bolt.Bucket, id []byte) (taskValue, bool, error) {
	raw := tasks.Get(id)
	if raw == nil {
		return taskValue{}, false, nil
	}
	v, err := decodeTaskValue(raw)
	if err != nil {
		return taskValue{}, false, fmt.Errorf("task %q: %w", id, err)
	}
	return v, true, nil
}

func putTask(tx *bolt.Tx, id []byte, v taskValue) error {
	if err := tx.Bucket(bucketTasks).Put(id, v.encode()); err != nil {
		return err
	}
	if err := tx.Bucket(bucketTaskScopes).Put(scopeKey(v.scope, id), nil); err != nil {
		return err
	}
	if v.active {
		return tx.Bucket(bucketTaskActive).Put(id, nil)
	}
	return nil
}

func deleteTask(tx *bolt.Tx, id []byte, cur taskValue) error {
	if err := tx.Bucket(bucketTaskScopes).Delete(scopeKey(cur.scope, id)); err != nil {
		return err
	}
	if err := tx.Bucket(bucketTaskActive).Delete(id); err != nil {
		return err
	}
	return tx.Bucket(bucketTasks).Delete(id)
}

// CreateTask implements store.TaskStore.
func (s *Store) CreateTask(ctx context.Context, rec store.TaskRecord) (store.TaskRecord, error) {
	if err := store.CheckNewTask(rec, time.Now()); err != nil {
		return store.TaskRecord{}, err
	}
	if err := s.enter(ctx); err != nil {
		return store.TaskRecord{}, err
	}
	defer s.leave()
	res, err := s.write(encodeTaskCreate(s.limits, rec))
	if err != nil {
		return store.TaskRecord{}, fmt.Errorf("boltstore: create task %q: %w", rec.ID, err)
	}
	if res.task.code == taskExists {
		return store.TaskRecord{}, fmt.Errorf("boltstore: %w: task %q", store.ErrExists, rec.ID)
	}
	rec.Version, rec.Data = 1, bytes.Clone(rec.Data)
	return rec, nil
}

// UpdateTask implements store.TaskStore.
func (s *Store) UpdateTask(ctx context.Context, rec store.TaskRecord) (store.TaskRecord, error) {
	if !store.ValidTaskID(rec.ID) {
		return store.TaskRecord{}, fmt.Errorf("boltstore: %w: task %q", store.ErrNotFound, rec.ID)
	}
	if err := s.enter(ctx); err != nil {
		return store.TaskRecord{}, err
	}
	defer s.leave()
	res, err := s.write(encodeTaskUpdate(s.limits, rec))
	if err != nil {
		return store.TaskRecord{}, fmt.Errorf("boltstore: update task %q: %w", rec.ID, err)
	}
	switch res.task.code {
	case taskMissing:
		return store.TaskRecord{}, fmt.Errorf("boltstore: %w: task %q", store.ErrNotFound, rec.ID)
	case taskConflict:
		return store.TaskRecord{}, fmt.Errorf("boltstore: %w: task %q is at version %d, not %d", store.ErrConflict, rec.ID, res.task.version, rec.Version)
	}
	rec.Version, rec.Scope, rec.Data = res.task.version, res.task.scope, bytes.Clone(rec.Data)
	return rec, nil
}

// DeleteTask implements store.TaskStore.
func (s *Store) DeleteTask(ctx context.Context, id string) error {
	if !store.ValidTaskID(id) {
		return nil
	}
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.leave()
	if _, err := s.write(encodeTaskDelete(s.limits, id)); err != nil {
		return fmt.Errorf("boltstore: delete task %q: %w", id, err)
	}
	return nil
}

// GetTask implements store.TaskStore.
func (s *Store) GetTask(ctx context.Context, id string) (store.TaskRecord, error) {
	if err := s.enter(ctx); err != nil {
		return store.TaskRecord{}, err
	}
	defer s.leave()
	var rec store.TaskRecord
	found := false
	err := s.read(func(tx *bolt.Tx) error {
		v, ok, err := loadTask(tx.Bucket(bucketTasks), []byte(id))
		if err != nil || !ok || v.expires <= nowNano() {
			return err
		}
		rec, found = v.record(id), true
		return nil
	})
	if err != nil {
		return store.TaskRecord{}, fmt.Errorf("boltstore: get task %q: %w", id, err)
	}
	if !found {
		return store.TaskRecord{}, fmt.Errorf("boltstore: %w: task %q", store.ErrNotFound, id)
	}
	return rec, nil
}

// record copies v out of bbolt's memory map.
func (v taskValue) record(id string) store.TaskRecord {
	return store.TaskRecord{ID: id, Scope: string(v.scope), Active: v.active, Version: v.version, Expires: time.Unix(0, v.expires), Data: bytes.Clone(v.data)}
}

// ListTasks implements store.TaskStore.
func (s *Store) ListTasks(ctx context.Context, scope, cursor string, limit int) ([]store.TaskRecord, string, error) {
	if scope == store.AnyScope {
		return s.listTasks(ctx, bucketTasks, nil, cursor, limit)
	}
	return s.listTasks(ctx, bucketTaskScopes, append([]byte(scope), 0), cursor, limit)
}

// ActiveTasks implements store.TaskStore.
func (s *Store) ActiveTasks(ctx context.Context, cursor string, limit int) ([]store.TaskRecord, string, error) {
	return s.listTasks(ctx, bucketTaskActive, nil, cursor, limit)
}

// listTasks walks the index bucket's keys that start with prefix (the id
// follows it), after prefix+cursor, reading each live task.
func (s *Store) listTasks(ctx context.Context, index, prefix []byte, cursor string, limit int) ([]store.TaskRecord, string, error) {
	if err := s.enter(ctx); err != nil {
		return nil, "", err
	}
	defer s.leave()
	limit = store.TaskLimit(limit)
	var recs []store.TaskRecord
	next := ""
	err := s.read(func(tx *bolt.Tx) error {
		now := nowNano()
		tasks := tx.Bucket(bucketTasks)
		c := tx.Bucket(index).Cursor()
		start := append(bytes.Clone(prefix), cursor...)
		k, _ := c.Seek(start)
		if k != nil && cursor != "" && bytes.Equal(k, start) {
			k, _ = c.Next()
		}
		for ; k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			id := k[len(prefix):]
			v, ok, err := loadTask(tasks, id)
			if err != nil {
				return err
			}
			if !ok || v.expires <= now {
				continue
			}
			if len(recs) == limit {
				next = recs[len(recs)-1].ID
				return nil
			}
			recs = append(recs, v.record(string(id)))
		}
		return nil
	})
	if err != nil {
		return nil, "", fmt.Errorf("boltstore: list tasks: %w", err)
	}
	return recs, next, nil
}

// sweepTasks deletes up to sweepScan expired tasks. It stops early when
// Close is waiting.
func (s *Store) sweepTasks() (int, error) {
	var ids []string
	err := s.read(func(tx *bolt.Tx) error {
		now := nowNano()
		c := tx.Bucket(bucketTasks).Cursor()
		for k, raw := c.First(); k != nil && len(ids) < sweepScan; k, raw = c.Next() {
			v, err := decodeTaskValue(raw)
			if err != nil {
				return fmt.Errorf("task %q: %w", k, err)
			}
			if v.expires <= now {
				ids = append(ids, string(k))
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("scan tasks: %w", err)
	}
	n, err := s.deleteChunks(ids, encodeTaskExpire)
	if err != nil {
		return n, fmt.Errorf("tasks: %w", err)
	}
	return n, nil
}

var _ store.TaskStore = (*Store)(nil)
