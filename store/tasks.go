package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Task errors, beside the sentinels of store.go (ErrNotFound, ErrClosed,
// ErrUnavailable apply to tasks as well).
var (
	// ErrExists: CreateTask found the id taken.
	ErrExists = errors.New("store: task id exists")
	// ErrConflict: UpdateTask found the task at another version than the
	// one it was read at (another writer came first); nothing was written.
	// Read it again and retry.
	ErrConflict = errors.New("store: task changed since it was read")
	// ErrBadTask: a record that the store cannot take (empty or malformed
	// id, an expiry in the past, the AnyScope scope).
	ErrBadTask = errors.New("store: invalid task record")
)

// AnyScope passed to ListTasks lists the tasks of every scope (operators'
// tools). It is never a task's own scope: CreateTask refuses it.
const AnyScope = "*"

// MaxTaskIDLen bounds task ids: they end up in keys and URLs.
const MaxTaskIDLen = 128

// TaskRecord is one task as stored. Data is opaque to the store (the tasks
// package's JSON); the other fields are what the store needs to index,
// expire and guard it.
type TaskRecord struct {
	// ID names the task; see ValidTaskID. Immutable.
	ID string
	// Scope says who may see the task ("session:<id>", "principal:<...>",
	// or "" for no principal). Immutable: UpdateTask keeps the stored one.
	Scope string
	// Active is true while the task is not terminal: ActiveTasks returns
	// only these (what a settle sweep looks at).
	Active bool
	// Version is assigned by the store: 1 at CreateTask, +1 on every
	// UpdateTask. UpdateTask compares it (compare-and-swap).
	Version uint64
	// Expires is when the store deletes the task. Never earlier: until
	// Expires every read returns it; from Expires on none does.
	Expires time.Time
	// Data is the task itself, opaque to the store.
	Data []byte
}

// TaskStore keeps tasks: durable records with their own absolute expiry,
// updated by compare-and-swap, listed by scope.
//
// Every method is safe for concurrent use, by goroutines of one process and
// (Redis) by several processes on one store; it honours ctx. A method that
// returns nil has made its write durable as far as the backend goes (bolt:
// synced to disk; Redis: acknowledged by the server, which keeps it as its
// persistence settings say, see docs/deployment.md; memory: until the
// process ends). Errors are the sentinels (ErrNotFound, ErrExists,
// ErrConflict, ErrBadTask, ErrClosed, ErrUnavailable), wrapped with
// context, or the backend's own I/O errors.
//
// Expiry: a record is returned by every read until its Expires and by none
// from then on (expired records are ErrNotFound, left out of lists, and
// their space is reclaimed by the backend's own sweeping). The store never
// shortens Expires; bounding it (a configured maximum TTL) is the caller's
// job, done before CreateTask.
//
// Lists are ordered by id (byte order), and their cursor is the last id of
// the previous page: a task appears on at most one page of one listing,
// and a page may be shorter than limit (records that expired while it was
// read) without the listing being over; only next == "" ends it.
type TaskStore interface {
	// CreateTask writes a new task: rec.Version is ignored and the stored
	// record (Version 1) is returned. ErrExists if a live task has the id.
	CreateTask(ctx context.Context, rec TaskRecord) (TaskRecord, error)
	// GetTask reads a task; ErrNotFound if it does not exist or expired.
	GetTask(ctx context.Context, id string) (TaskRecord, error)
	// UpdateTask replaces Active, Expires and Data of a task if its stored
	// Version still equals rec.Version, and returns the stored record with
	// the new Version. ErrConflict if the version moved, ErrNotFound if the
	// task is gone.
	UpdateTask(ctx context.Context, rec TaskRecord) (TaskRecord, error)
	// ListTasks returns up to limit live tasks of scope (AnyScope: all)
	// with an id greater than cursor (start with ""), and the cursor of
	// the next page ("" when done).
	ListTasks(ctx context.Context, scope, cursor string, limit int) (recs []TaskRecord, next string, err error)
	// ActiveTasks is ListTasks over every scope, of the tasks whose Active
	// is true.
	ActiveTasks(ctx context.Context, cursor string, limit int) (recs []TaskRecord, next string, err error)
	// DeleteTask removes a task; a missing task is not an error.
	DeleteTask(ctx context.Context, id string) error
}

// ValidTaskID reports whether id can name a task: 1 to MaxTaskIDLen
// printable ASCII characters other than space, '{' and '}' (which would
// upset Redis hash tags and index entries).
func ValidTaskID(id string) bool {
	if len(id) == 0 || len(id) > MaxTaskIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' || c == '{' || c == '}' {
			return false
		}
	}
	return true
}

// CheckNewTask validates a record for CreateTask at time now; backends call
// it before they write anything.
func CheckNewTask(rec TaskRecord, now time.Time) error {
	switch {
	case !ValidTaskID(rec.ID):
		return fmt.Errorf("%w: id %q", ErrBadTask, rec.ID)
	case rec.Scope == AnyScope:
		return fmt.Errorf("%w: task %q: scope %q is reserved", ErrBadTask, rec.ID, AnyScope)
	case !rec.Expires.After(now):
		return fmt.Errorf("%w: task %q: expiry %v is not in the future", ErrBadTask, rec.ID, rec.Expires)
	case strings.IndexByte(rec.Scope, 0) >= 0:
		return fmt.Errorf("%w: task %q: scope contains NUL", ErrBadTask, rec.ID)
	}
	return nil
}

// TaskLimit clamps a list limit: non-positive means 100, and no page holds
// more than 1000.
func TaskLimit(limit int) int {
	if limit <= 0 {
		return 100
	}
	return min(limit, 1000)
}
