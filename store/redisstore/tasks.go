package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/mooring-dev/mooring/store"
)

// Tasks; see "Tasks" in the package doc. Every task key shares the hash tag
// {tasks}: a task's record and the indexes change together in one script,
// which on a Cluster needs one slot. All tasks thus live on one shard:
// they are few and small next to the event logs.
//
//	<prefix>{tasks}:t:<id>   hash: s scope, a active (0/1), v version, x expiry (ms), d data;
//	                         PEXPIREAT x
//	<prefix>{tasks}:ids      zset, score 0, member <id>              (ListTasks of AnyScope)
//	<prefix>{tasks}:scope    zset, score 0, member <scope> 0x00 <id> (ListTasks of a scope)
//	<prefix>{tasks}:active   zset, score 0, member <id>              (ActiveTasks)
//	<prefix>{tasks}:exp      zset, score x, member <id> 0x00 <scope> (the janitor)
type taskKeys struct {
	ids, scope, active, exp string
}

func (k keys) tasks() taskKeys {
	b := k.prefix + "{tasks}:"
	return taskKeys{ids: b + "ids", scope: b + "scope", active: b + "active", exp: b + "exp"}
}

func (k keys) task(id string) string { return k.prefix + "{tasks}:t:" + id }

// all is the KEYS of the task scripts: the record, then the indexes.
func (k keys) taskScriptKeys(id string) []string {
	t := k.tasks()
	return []string{k.task(id), t.ids, t.scope, t.active, t.exp}
}

// createTaskLua: ARGV id, scope, active, expiry ms, data. Returns 0 if the
// id is taken by a live task. An expired task's index entries may still
// be there: readers check the record's scope, and these ZADDs refresh them.
const createTaskLua = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local id, scope, active, x = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
redis.call('HSET', KEYS[1], 's', scope, 'a', active, 'v', 1, 'x', x, 'd', ARGV[5])
redis.call('PEXPIREAT', KEYS[1], x)
redis.call('ZADD', KEYS[2], 0, id)
redis.call('ZADD', KEYS[3], 0, scope .. '\0' .. id)
if active == '1' then redis.call('ZADD', KEYS[4], 0, id) else redis.call('ZREM', KEYS[4], id) end
redis.call('ZADD', KEYS[5], x, id .. '\0' .. scope)
return 1
`

// updateTaskLua: ARGV id, version, active, expiry ms, data. Returns
// {-1} for a missing task, {-2, version} for a version that moved, else
// {new version, scope}.
const updateTaskLua = `
local cur = redis.call('HMGET', KEYS[1], 'v', 's')
if not cur[1] then return {-1} end
if cur[1] ~= ARGV[2] then return {-2, cur[1]} end
local id, active, x = ARGV[1], ARGV[3], ARGV[4]
redis.call('HSET', KEYS[1], 'a', active, 'x', x, 'd', ARGV[5])
local v = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('PEXPIREAT', KEYS[1], x)
if active == '1' then redis.call('ZADD', KEYS[4], 0, id) else redis.call('ZREM', KEYS[4], id) end
redis.call('ZADD', KEYS[5], x, id .. '\0' .. cur[2])
return {v, cur[2]}
`

// deleteTaskLua: ARGV id.
const deleteTaskLua = `
local id = ARGV[1]
local scope = redis.call('HGET', KEYS[1], 's')
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], id)
redis.call('ZREM', KEYS[4], id)
if scope then
  redis.call('ZREM', KEYS[3], scope .. '\0' .. id)
  redis.call('ZREM', KEYS[5], id .. '\0' .. scope)
end
return 1
`

// pruneTaskLua: ARGV id, scope (an exp entry that came due). It drops the
// index entries of that id and scope unless a live record holds them, and
// re-scores the entry if the record lives on.
const pruneTaskLua = `
local id, scope = ARGV[1], ARGV[2]
local cur = redis.call('HMGET', KEYS[1], 's', 'x', 'a')
if cur[1] == scope then
  redis.call('ZADD', KEYS[5], cur[2], id .. '\0' .. scope)
  return 0
end
redis.call('ZREM', KEYS[5], id .. '\0' .. scope)
redis.call('ZREM', KEYS[3], scope .. '\0' .. id)
if not cur[1] then
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZREM', KEYS[4], id)
end
return 1
`

var (
	// Not retryable: a resent create after a lost reply would answer
	// ErrExists for the caller's own task, a resent update ErrConflict.
	createTaskScript = newScript(createTaskLua, false)
	updateTaskScript = newScript(updateTaskLua, false)
	deleteTaskScript = newScript(deleteTaskLua, true)
	pruneTaskScript  = newScript(pruneTaskLua, true)
)

// expiryMS is t in whole milliseconds, rounded up: Redis must not expire a
// task before its Expires.
func expiryMS(t time.Time) string {
	ms := t.UnixMilli()
	if t.Sub(time.UnixMilli(ms)) > 0 {
		ms++
	}
	return strconv.FormatInt(ms, 10)
}

func activeArg(a bool) string {
	if a {
		return "1"
	}
	return "0"
}

// CreateTask implements store.TaskStore.
func (s *Store) CreateTask(ctx context.Context, rec store.TaskRecord) (store.TaskRecord, error) {
	if err := store.CheckNewTask(rec, time.Now()); err != nil {
		return store.TaskRecord{}, err
	}
	if s.closed.Load() {
		return store.TaskRecord{}, store.ErrClosed
	}
	args := []string{rec.ID, rec.Scope, activeArg(rec.Active), expiryMS(rec.Expires), string(rec.Data)}
	n, err := createTaskScript.exec(ctx, s.client, s.keys.taskScriptKeys(rec.ID), args).AsInt64()
	if err != nil {
		return store.TaskRecord{}, s.fail(err, "create task %q", rec.ID)
	}
	if n == 0 {
		return store.TaskRecord{}, fmt.Errorf("redisstore: %w: task %q", store.ErrExists, rec.ID)
	}
	rec.Version, rec.Data = 1, append([]byte(nil), rec.Data...)
	return rec, nil
}

// UpdateTask implements store.TaskStore.
func (s *Store) UpdateTask(ctx context.Context, rec store.TaskRecord) (store.TaskRecord, error) {
	if !store.ValidTaskID(rec.ID) {
		return store.TaskRecord{}, fmt.Errorf("redisstore: %w: task %q", store.ErrNotFound, rec.ID)
	}
	if s.closed.Load() {
		return store.TaskRecord{}, store.ErrClosed
	}
	args := []string{rec.ID, strconv.FormatUint(rec.Version, 10), activeArg(rec.Active), expiryMS(rec.Expires), string(rec.Data)}
	vals, err := updateTaskScript.exec(ctx, s.client, s.keys.taskScriptKeys(rec.ID), args).ToArray()
	if err != nil {
		return store.TaskRecord{}, s.fail(err, "update task %q", rec.ID)
	}
	code, _ := vals[0].AsInt64()
	switch code {
	case -1:
		return store.TaskRecord{}, fmt.Errorf("redisstore: %w: task %q", store.ErrNotFound, rec.ID)
	case -2:
		cur, _ := vals[1].ToString()
		return store.TaskRecord{}, fmt.Errorf("redisstore: %w: task %q is at version %s, not %d", store.ErrConflict, rec.ID, cur, rec.Version)
	}
	if len(vals) != 2 {
		return store.TaskRecord{}, fmt.Errorf("redisstore: update task %q: %d values", rec.ID, len(vals))
	}
	rec.Version = uint64(code)
	rec.Scope, _ = vals[1].ToString()
	rec.Data = append([]byte(nil), rec.Data...)
	return rec, nil
}

// DeleteTask implements store.TaskStore.
func (s *Store) DeleteTask(ctx context.Context, id string) error {
	if !store.ValidTaskID(id) {
		return nil
	}
	if s.closed.Load() {
		return store.ErrClosed
	}
	if err := deleteTaskScript.exec(ctx, s.client, s.keys.taskScriptKeys(id), []string{id}).Error(); err != nil {
		return s.fail(err, "delete task %q", id)
	}
	return nil
}

// GetTask implements store.TaskStore.
func (s *Store) GetTask(ctx context.Context, id string) (store.TaskRecord, error) {
	if s.closed.Load() {
		return store.TaskRecord{}, store.ErrClosed
	}
	if !store.ValidTaskID(id) {
		return store.TaskRecord{}, fmt.Errorf("redisstore: %w: task %q", store.ErrNotFound, id)
	}
	rec, ok, err := parseTask(id, s.client.Do(ctx, s.hmgetTask(id)))
	if err != nil {
		return store.TaskRecord{}, s.fail(err, "get task %q", id)
	}
	if !ok {
		return store.TaskRecord{}, fmt.Errorf("redisstore: %w: task %q", store.ErrNotFound, id)
	}
	return rec, nil
}

func (s *Store) hmgetTask(id string) rueidis.Completed {
	return s.client.B().Hmget().Key(s.keys.task(id)).Field("s", "a", "v", "x", "d").Build()
}

// parseTask reads an HMGET s a v x d; ok is false for a missing task.
func parseTask(id string, res rueidis.RedisResult) (store.TaskRecord, bool, error) {
	vals, err := res.ToArray()
	if err != nil {
		return store.TaskRecord{}, false, err
	}
	if len(vals) != 5 || vals[0].IsNil() {
		return store.TaskRecord{}, false, nil
	}
	rec := store.TaskRecord{ID: id}
	var a, v, x, d string
	for i, dst := range []*string{&rec.Scope, &a, &v, &x, &d} {
		if *dst, err = vals[i].ToString(); err != nil {
			return store.TaskRecord{}, false, fmt.Errorf("task %q field %d: %w", id, i, err)
		}
	}
	rec.Active, rec.Data = a == "1", []byte(d)
	if rec.Version, err = strconv.ParseUint(v, 10, 64); err != nil {
		return store.TaskRecord{}, false, fmt.Errorf("task %q version: %w", id, err)
	}
	ms, err := strconv.ParseInt(x, 10, 64)
	if err != nil {
		return store.TaskRecord{}, false, fmt.Errorf("task %q expiry: %w", id, err)
	}
	rec.Expires = time.UnixMilli(ms)
	return rec, true, nil
}

// ListTasks implements store.TaskStore.
func (s *Store) ListTasks(ctx context.Context, scope, cursor string, limit int) ([]store.TaskRecord, string, error) {
	if scope == store.AnyScope {
		return s.listTasks(ctx, s.keys.tasks().ids, "", cursor, limit, func(store.TaskRecord) bool { return true })
	}
	return s.listTasks(ctx, s.keys.tasks().scope, scope+"\x00", cursor, limit, func(r store.TaskRecord) bool { return r.Scope == scope })
}

// ActiveTasks implements store.TaskStore.
func (s *Store) ActiveTasks(ctx context.Context, cursor string, limit int) ([]store.TaskRecord, string, error) {
	return s.listTasks(ctx, s.keys.tasks().active, "", cursor, limit, func(r store.TaskRecord) bool { return r.Active })
}

// listTasks reads a page of an index (members prefix+id, in lexical
// order) and the records it names, in one round trip for the records.
// Entries whose record is gone, or belongs to another scope or state now,
// are left out (the janitor removes them).
func (s *Store) listTasks(ctx context.Context, index, prefix, cursor string, limit int, keep func(store.TaskRecord) bool) ([]store.TaskRecord, string, error) {
	if s.closed.Load() {
		return nil, "", store.ErrClosed
	}
	limit = store.TaskLimit(limit)
	minArg := "[" + prefix
	if cursor != "" {
		minArg = "(" + prefix + cursor
	}
	maxArg := "+"
	if prefix != "" { // ids are printable: 0x01 sorts after every id of the scope
		maxArg = "(" + prefix[:len(prefix)-1] + "\x01"
	}
	cmd := s.client.B().Zrange().Key(index).Min(minArg).Max(maxArg).Bylex().Limit(0, int64(limit)+1).Build()
	members, err := s.client.Do(ctx, cmd).AsStrSlice()
	if err != nil {
		return nil, "", s.fail(err, "list tasks")
	}
	next := ""
	if len(members) > limit {
		members = members[:limit]
		next = strings.TrimPrefix(members[limit-1], prefix)
	}
	if len(members) == 0 {
		return nil, next, nil
	}
	cmds := make(rueidis.Commands, len(members))
	for i, m := range members {
		cmds[i] = s.hmgetTask(strings.TrimPrefix(m, prefix))
	}
	recs := make([]store.TaskRecord, 0, len(members))
	for i, res := range s.client.DoMulti(ctx, cmds...) {
		rec, ok, err := parseTask(strings.TrimPrefix(members[i], prefix), res)
		if err != nil {
			return nil, "", s.fail(err, "list tasks")
		}
		if ok && keep(rec) {
			recs = append(recs, rec)
		}
	}
	return recs, next, nil
}

// SweepTasks drops the index entries of expired tasks, up to 64 batches of
// sweepBatch. The janitor calls it after Sweep; exported for tests.
func (s *Store) SweepTasks(ctx context.Context) (removed int64, err error) {
	if s.closed.Load() {
		return 0, store.ErrClosed
	}
	tk := s.keys.tasks()
	for range 64 {
		now := strconv.FormatInt(time.Now().UnixMilli(), 10)
		cmd := s.client.B().Zrangebyscore().Key(tk.exp).Min("-inf").Max(now).Limit(0, sweepBatch).Build()
		due, err := s.client.Do(ctx, cmd).AsStrSlice()
		if err != nil {
			return removed, s.fail(err, "sweep task index")
		}
		if len(due) == 0 {
			return removed, nil
		}
		calls := make([]call, 0, len(due))
		for _, m := range due {
			id, scope, _ := strings.Cut(m, "\x00")
			calls = append(calls, call{script: pruneTaskScript, keys: s.keys.taskScriptKeys(id), args: []string{id, scope}})
		}
		for _, res := range execMulti(ctx, s.client, calls...) {
			n, err := res.AsInt64()
			if err != nil {
				return removed, s.fail(err, "sweep task index")
			}
			removed += n
		}
		if len(due) < sweepBatch {
			return removed, nil
		}
	}
	return removed, nil
}

var _ store.TaskStore = (*Store)(nil)
