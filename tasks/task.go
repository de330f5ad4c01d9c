package tasks

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mooring-dev/mooring/store"
)

// Status is a task's status, as both eras spell it on the wire.
type Status string

// The statuses. Completed, Failed and Cancelled are terminal.
const (
	Working       Status = "working"
	InputRequired Status = "input_required"
	Completed     Status = "completed"
	Failed        Status = "failed"
	Cancelled     Status = "cancelled"
)

// Terminal reports whether no status follows s.
func (s Status) Terminal() bool { return s == Completed || s == Failed || s == Cancelled }

// Errors of the Manager. ErrNotFound is store.ErrNotFound: unknown, expired,
// deleted, or in another scope.
var (
	ErrNotFound = store.ErrNotFound
	// ErrTerminal: Update on a task that is completed, failed or cancelled.
	ErrTerminal = errors.New("tasks: task is terminal")
	// ErrClosed: the Manager was closed.
	ErrClosed = errors.New("tasks: manager closed")
)

// Task is one task. The Manager returns fresh copies; changing one changes
// nothing until it goes through Update.
type Task struct {
	ID            string    `json:"id"`
	Scope         string    `json:"scope"`
	Status        Status    `json:"status"`
	StatusMessage string    `json:"statusMessage,omitempty"`
	CreatedAt     time.Time `json:"createdAt"`
	UpdatedAt     time.Time `json:"updatedAt"`
	// TTL counts from CreatedAt: the task is deleted at CreatedAt+TTL.
	TTL time.Duration `json:"ttl"`
	// PollInterval is what clients are told to poll at.
	PollInterval time.Duration `json:"pollInterval"`

	// Server is the mounted server's name ("" = the default one).
	Server string `json:"server,omitempty"`
	// Tool is the tool called; Params the tools/call params as received.
	Tool   string          `json:"tool,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	// Result is the tools/call result of a completed task (a tool error
	// is a completed task whose result has isError).
	Result json.RawMessage `json:"result,omitempty"`
	// Error is the protocol error of a failed task.
	Error *jsonrpc.Error `json:"error,omitempty"`
	// InputRequests are the pending input requests of an input_required
	// task (2026-07-28).
	InputRequests json.RawMessage `json:"inputRequests,omitempty"`
	// State is era-specific data, opaque to the Manager, kept with the
	// task (e.g. input responses on their way to the runner).
	State json.RawMessage `json:"state,omitempty"`

	// Runner names the process running the task, LeaseUntil how long its
	// lease lasts without renewal, Attempts how many runs were started.
	Runner     string    `json:"runner,omitempty"`
	LeaseUntil time.Time `json:"leaseUntil"`
	Attempts   int       `json:"attempts"`
	// Retryable: the tool is idempotent, so a run cut off by the death of
	// its process may be started again.
	Retryable bool `json:"retryable,omitempty"`

	// Version is the store's version of the record read (not stored).
	Version uint64 `json:"-"`
}

// Expires is when the task is deleted.
func (t *Task) Expires() time.Time { return t.CreatedAt.Add(t.TTL) }

func (t *Task) clone() *Task {
	c := *t
	return &c
}

// record encodes t for the store.
func (t *Task) record() (store.TaskRecord, error) {
	data, err := json.Marshal(t)
	if err != nil {
		return store.TaskRecord{}, fmt.Errorf("tasks: encode task %q: %w", t.ID, err)
	}
	return store.TaskRecord{ID: t.ID, Scope: t.Scope, Active: !t.Status.Terminal(), Version: t.Version, Expires: t.Expires(), Data: data}, nil
}

// decode reads a stored task.
func decode(rec store.TaskRecord) (*Task, error) {
	t := new(Task)
	if err := json.Unmarshal(rec.Data, t); err != nil {
		return nil, fmt.Errorf("tasks: decode task %q: %w", rec.ID, err)
	}
	t.ID, t.Scope, t.Version = rec.ID, rec.Scope, rec.Version
	return t, nil
}

// NewID returns a task id: 12 hex digits of the creation time in
// milliseconds (so that lists come out in creation order) and 128 random
// bits (so that nobody guesses one).
func NewID(now time.Time) string {
	var b [22]byte
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	if _, err := rand.Read(b[6:]); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return hex.EncodeToString(b[:])
}
