package tasks

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mooring-dev/mooring/store"
)

// Defaults for Options.
const (
	DefaultTTL          = time.Hour
	DefaultMaxTTL       = 24 * time.Hour
	DefaultPollInterval = time.Second
	DefaultLeaseTTL     = 10 * time.Second
	DefaultMaxAttempts  = 3
)

// Runner executes one tools/call for a task and returns its raw result or
// an error: a *jsonrpc.Error is the protocol error the task fails with;
// any other error fails it with an internal error (-32603) carrying its
// text. ctx ends on cancel, on the loss of the runner lease, on expiry and
// on Close; a Runner must return soon after. The era code supplies it.
type Runner func(ctx context.Context, t *Task) (result []byte, err error)

// Metrics receives the Manager's counts; metrics.Metrics implements it.
type Metrics interface {
	// TaskStatus counts a task entering status (working at creation and
	// on a re-run, then its terminal status) committed by this process;
	// for a terminal status, age is its time since creation.
	TaskStatus(status string, age time.Duration)
}

// Options configure a Manager. A zero field means its default.
type Options struct {
	// ReplicaID names this process in the tasks it runs (with a random
	// suffix per Manager). Default "mooring".
	ReplicaID string
	// DefaultTTL is the TTL of a task created without one; MaxTTL bounds
	// every TTL. Defaults DefaultTTL, DefaultMaxTTL.
	DefaultTTL, MaxTTL time.Duration
	// PollInterval is given to clients, and is how often Wait reads the
	// store. Default DefaultPollInterval.
	PollInterval time.Duration
	// LeaseTTL is how long a runner lease lasts without renewal: a task
	// of a dead process is settled this long after its last renewal.
	// Default DefaultLeaseTTL.
	LeaseTTL time.Duration
	// MaxAttempts bounds the runs of a Retryable task. Default
	// DefaultMaxAttempts.
	MaxAttempts int
	// SweepInterval is how often the Manager looks for tasks of dead
	// runners; negative turns the sweep off (Get and Wait still settle
	// what they see). Default LeaseTTL/2.
	SweepInterval time.Duration
	// Exclusive says this process is the store's only user (bolt,
	// memory): a task held by another runner is dead on sight, without
	// waiting for its lease.
	Exclusive bool
	Logger    *slog.Logger
	Metrics   Metrics
	// Now replaces time.Now, for tests.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.ReplicaID == "" {
		o.ReplicaID = "mooring"
	}
	if o.DefaultTTL <= 0 {
		o.DefaultTTL = DefaultTTL
	}
	if o.MaxTTL <= 0 {
		o.MaxTTL = DefaultMaxTTL
	}
	o.DefaultTTL = min(o.DefaultTTL, o.MaxTTL)
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultPollInterval
	}
	if o.LeaseTTL <= 0 {
		o.LeaseTTL = DefaultLeaseTTL
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = o.LeaseTTL / 2
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Manager creates, runs, settles and answers for tasks over a TaskStore.
// It is safe for concurrent use.
type Manager struct {
	st   store.TaskStore
	o    Options
	self string // Runner value of the tasks this Manager runs
	log  *slog.Logger

	ctx    context.Context // parent of runners and the sweep; ends on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup // runners, renewals and the sweep
	halted atomic.Bool    // no more store writes (Close, or a simulated crash)

	mu        sync.Mutex // guards the fields below
	closed    bool
	started   bool            // the sweep loop runs (Start)
	running   map[string]*run // tasks whose runner is in this process
	subs      map[int]func(*Task)
	nextSub   int
	watches   map[string]*watch // tasks that local waiters wait for
	runnerFor func(*Task) Runner

	settled settledCache // terminal tasks committed here, read without the store
}

// run is a task running here.
type run struct {
	attempt int
	ctx     context.Context // the runner's; ends on cancel, lease loss, Close
	cancel  context.CancelCauseFunc
	// last is the task as this run last wrote it (nil: unknown), the
	// starting point of its next write. Used by the run's renewals, then
	// by its outcome (after the renewals stopped), never at once.
	last *Task
}

// Causes of a runner's context ending.
var (
	errCancelled = errors.New("tasks: task cancelled")
	errLost      = errors.New("tasks: runner lease lost, task settled or expired")
	errShutdown  = errors.New("tasks: manager closing")
)

// NewManager returns a Manager over st. Its sweep for tasks of dead
// runners begins with Start, once the era code has registered the runners
// that re-run retryable tasks: a sweep before that would fail them.
func NewManager(st store.TaskStore, opts *Options) *Manager {
	var o Options
	if opts != nil {
		o = *opts
	}
	o = o.withDefaults()
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	m := &Manager{
		st: st, o: o, log: o.Logger,
		self:    o.ReplicaID + "/" + hex.EncodeToString(suffix[:]),
		running: make(map[string]*run),
		subs:    make(map[int]func(*Task)),
		watches: make(map[string]*watch),
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	return m
}

// Start begins the sweep (at once, then every SweepInterval) unless
// SweepInterval is negative. Calls after the first, or after Close, do
// nothing.
func (m *Manager) Start() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.started || m.closed || m.o.SweepInterval <= 0 {
		return
	}
	m.started = true
	m.wg.Add(1)
	go m.sweepLoop()
}

// Self is the Runner value of the tasks this Manager runs.
func (m *Manager) Self() string { return m.self }

// Options returns the options in force, defaults filled in.
func (m *Manager) Options() Options { return m.o }

// Running counts the tasks running in this process (0 on a nil Manager).
func (m *Manager) Running() int {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.running)
}

// SetRunnerFor sets the factory that gives a Runner for a Retryable task
// whose process died; a nil Runner from it (or no factory) fails the task.
func (m *Manager) SetRunnerFor(f func(*Task) Runner) {
	m.mu.Lock()
	m.runnerFor = f
	m.mu.Unlock()
}

// Subscribe calls fn with every status change (and creation) that this
// Manager commits, after the commit. fn must not block. Changes made by
// other processes are not seen: the wire's notifications are best effort.
func (m *Manager) Subscribe(fn func(*Task)) (unsubscribe func()) {
	m.mu.Lock()
	id := m.nextSub
	m.nextSub++
	m.subs[id] = fn
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		delete(m.subs, id)
		m.mu.Unlock()
	}
}

// ClampTTL returns the TTL a task asking for ttl gets: DefaultTTL for 0
// or less, at most MaxTTL, whole milliseconds.
func (m *Manager) ClampTTL(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		ttl = m.o.DefaultTTL
	}
	return min(ttl, m.o.MaxTTL).Truncate(time.Millisecond)
}

// Create commits a new task and starts run for it in the background. From
// t it takes Scope, ID (NewID if empty), TTL (clamped), PollInterval
// (default if zero), Server, Tool, Params, State, Retryable and
// StatusMessage; the status is working. The returned task is in the store.
func (m *Manager) Create(ctx context.Context, t *Task, run Runner) (*Task, error) {
	if run == nil {
		return nil, errors.New("tasks: Create without a Runner")
	}
	now := m.o.Now()
	nt := &Task{
		ID: t.ID, Scope: t.Scope, Status: Working, StatusMessage: t.StatusMessage,
		CreatedAt: now, UpdatedAt: now, TTL: m.ClampTTL(t.TTL), PollInterval: t.PollInterval,
		Server: t.Server, Tool: t.Tool, Params: t.Params, State: t.State,
		Runner: m.self, LeaseUntil: now.Add(m.o.LeaseTTL), Attempts: 1, Retryable: t.Retryable,
	}
	if nt.ID == "" {
		nt.ID = NewID(now)
	}
	if nt.PollInterval <= 0 {
		nt.PollInterval = m.o.PollInterval
	}
	rec, err := nt.record()
	if err != nil {
		return nil, err
	}
	// Registered before the commit, so that the sweep never takes a task
	// of this Manager for an orphan.
	r, err := m.register(nt.ID, 1)
	if errors.Is(err, store.ErrConflict) {
		return nil, fmt.Errorf("tasks: create task: %w: %q", store.ErrExists, nt.ID)
	}
	if err != nil {
		return nil, err
	}
	stored, err := m.st.CreateTask(ctx, rec)
	if err != nil {
		m.abort(nt.ID, r)
		return nil, fmt.Errorf("tasks: create task: %w", err)
	}
	nt.Version = stored.Version
	r.last = nt.clone()
	m.changedTo(nt)
	m.start(nt, r, run)
	return nt.clone(), nil
}

// Get reads a task of scope (store.AnyScope: any). A task whose runner
// died is settled on the way.
func (m *Manager) Get(ctx context.Context, id, scope string) (*Task, error) {
	t, err := m.get(ctx, id, scope)
	if err != nil {
		return nil, err
	}
	if m.dead(t) {
		if s, err := m.settleDead(ctx, t); err == nil {
			return s, nil
		} else if !errors.Is(err, store.ErrConflict) {
			m.log.Warn("tasks: settle a task of a dead runner", "task", id, "err", err)
		}
		return m.get(ctx, id, scope)
	}
	return t, nil
}

func (m *Manager) get(ctx context.Context, id, scope string) (*Task, error) {
	if t, ok := m.settled.get(id, m.o.Now()); ok {
		if scope != store.AnyScope && t.Scope != scope {
			return nil, fmt.Errorf("tasks: get task %q: %w", id, ErrNotFound)
		}
		return t, nil
	}
	rec, err := m.st.GetTask(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("tasks: get task %q: %w", id, err)
	}
	if scope != store.AnyScope && rec.Scope != scope {
		return nil, fmt.Errorf("tasks: get task %q: %w", id, ErrNotFound)
	}
	return decode(rec)
}

// List returns up to limit tasks of scope (store.AnyScope: all) after
// cursor ("" to start), in creation order, and the next cursor ("" at
// the end).
func (m *Manager) List(ctx context.Context, scope, cursor string, limit int) ([]*Task, string, error) {
	recs, next, err := m.st.ListTasks(ctx, scope, cursor, limit)
	if err != nil {
		return nil, "", fmt.Errorf("tasks: list: %w", err)
	}
	out := make([]*Task, 0, len(recs))
	for _, rec := range recs {
		t, err := decode(rec)
		if err != nil {
			m.log.Error("tasks: unreadable task record left out of a list", "task", rec.ID, "err", err)
			continue
		}
		out = append(out, t)
	}
	return out, next, nil
}

// Update changes a non-terminal task of scope through fn, which may set
// Status (a terminal one settles the task), StatusMessage, Result, Error,
// InputRequests and State; the Manager's own fields (ID, Scope,
// CreatedAt, TTL, Runner, LeaseUntil, Attempts) are kept. fn may be called
// more than once (on write conflicts). ErrTerminal if the task is
// terminal.
func (m *Manager) Update(ctx context.Context, id, scope string, fn func(*Task) error) (*Task, error) {
	return m.modify(ctx, id, scope, func(cur *Task) (bool, error) {
		if cur.Status.Terminal() {
			return false, fmt.Errorf("%w: task %q is %s", ErrTerminal, id, cur.Status)
		}
		nt := cur.clone()
		if err := fn(nt); err != nil {
			return false, err
		}
		nt.ID, nt.Scope, nt.CreatedAt, nt.TTL = cur.ID, cur.Scope, cur.CreatedAt, cur.TTL
		nt.Runner, nt.LeaseUntil, nt.Attempts, nt.Version = cur.Runner, cur.LeaseUntil, cur.Attempts, cur.Version
		nt.UpdatedAt = m.o.Now()
		*cur = *nt
		return true, nil
	})
}

// Cancel settles a task of scope cancelled and ends its runner's context
// if it runs here. A terminal task is returned as it is (2026-07-28:
// cancel is idempotent); see TryCancel to tell the two apart.
func (m *Manager) Cancel(ctx context.Context, id, scope string) (*Task, error) {
	t, _, err := m.TryCancel(ctx, id, scope)
	return t, err
}

// TryCancel is Cancel that also reports whether this call cancelled the
// task: false for a task that was terminal already (2025-11-25 answers
// that with -32602).
func (m *Manager) TryCancel(ctx context.Context, id, scope string) (t *Task, cancelled bool, err error) {
	t, err = m.modify(ctx, id, scope, func(cur *Task) (bool, error) {
		cancelled = false // fn may run again after a conflict
		if cur.Status.Terminal() {
			return false, nil
		}
		cur.Status, cur.StatusMessage, cur.UpdatedAt = Cancelled, "The task was cancelled by request.", m.o.Now()
		cancelled = true
		return true, nil
	})
	if err != nil {
		return nil, false, err
	}
	m.mu.Lock()
	if r := m.running[id]; r != nil && t.Status == Cancelled {
		r.cancel(errCancelled)
	}
	m.mu.Unlock()
	return t, cancelled, nil
}

// maxConflicts bounds the read-modify-write retries of one change.
const maxConflicts = 16

// modify reads a task of scope, lets fn change it, and writes it back
// under compare-and-swap, retrying on conflicts. fn returns false to
// write nothing. Subscribers hear of status changes.
func (m *Manager) modify(ctx context.Context, id, scope string, fn func(*Task) (bool, error)) (*Task, error) {
	return m.modifyFrom(ctx, id, scope, nil, fn)
}

// modifyFrom is modify starting from cached, the task as this Manager
// last wrote it, instead of a read: the compare-and-swap on its version
// catches a cached task that is out of date, and the next round reads.
// A runner saves a store read per renewal and for its outcome this way.
func (m *Manager) modifyFrom(ctx context.Context, id, scope string, cached *Task, fn func(*Task) (bool, error)) (*Task, error) {
	for i := range maxConflicts {
		if m.halted.Load() {
			return nil, ErrClosed
		}
		var cur *Task
		var err error
		if i == 0 && cached != nil {
			cur = cached.clone()
		} else if cur, err = m.get(ctx, id, scope); err != nil {
			return nil, err
		}
		before := cur.Status
		write, err := fn(cur)
		if err != nil || !write {
			return cur, err
		}
		rec, err := cur.record()
		if err != nil {
			return nil, err
		}
		stored, err := m.st.UpdateTask(ctx, rec)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("tasks: update task %q: %w", id, err)
		}
		cur.Version = stored.Version
		if cur.Status.Terminal() {
			m.settled.put(cur, m.o.Now())
		}
		if cur.Status != before {
			m.changedTo(cur)
		} else {
			m.wake(cur)
		}
		return cur.clone(), nil
	}
	return nil, fmt.Errorf("tasks: update task %q: %w (%d times)", id, store.ErrConflict, maxConflicts)
}

// changedTo tells metrics, subscribers and local waiters of t's new status.
func (m *Manager) changedTo(t *Task) {
	if m.o.Metrics != nil {
		var age time.Duration
		if t.Status.Terminal() {
			age = m.o.Now().Sub(t.CreatedAt)
		}
		m.o.Metrics.TaskStatus(string(t.Status), age)
	}
	m.mu.Lock()
	subs := make([]func(*Task), 0, len(m.subs))
	for _, fn := range m.subs {
		subs = append(subs, fn)
	}
	m.mu.Unlock()
	for _, fn := range subs {
		fn(t.clone())
	}
	m.wake(t)
}

// watch is what the local waiters of one task share: ch is closed at the
// task's next change made here (and replaced), last is the task as that
// change committed it, n counts the waiters.
type watch struct {
	ch   chan struct{}
	last *Task
	n    int
}

// watch registers a waiter of task id; it must call unwatch.
func (m *Manager) watch(id string) *watch {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.watches[id]
	if w == nil {
		w = &watch{ch: make(chan struct{})}
		m.watches[id] = w
	}
	w.n++
	return w
}

func (m *Manager) unwatch(id string, w *watch) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w.n--; w.n == 0 {
		delete(m.watches, id)
	}
}

// changedCh is the channel that the next change of the watched task
// closes.
func (m *Manager) changedCh(w *watch) <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return w.ch
}

// lastChange is the task as the latest change made here committed it (nil
// if none since the watch began).
func (m *Manager) lastChange(w *watch) *Task {
	m.mu.Lock()
	defer m.mu.Unlock()
	return w.last
}

// wake hands t, as just committed, to the local waiters of its task.
func (m *Manager) wake(t *Task) {
	m.mu.Lock()
	if w := m.watches[t.ID]; w != nil {
		w.last = t.clone()
		close(w.ch)
		w.ch = make(chan struct{})
	}
	m.mu.Unlock()
}

// Close stops the sweep and the runners here, and gives up their leases
// so that the next process settles (or re-runs) their tasks at once. It
// waits for the runners to return. Later calls return ErrClosed.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	m.closed = true
	for _, r := range m.running {
		r.cancel(errShutdown)
	}
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	m.halted.Store(true)
	return nil
}

// internalError is the error a failed task reports for a Runner's plain
// (non-JSON-RPC) error.
func internalError(msg string) *jsonrpc.Error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: msg}
}

// Read reads a task of any scope from st as it is stored, settling
// nothing (operators' tools).
func Read(ctx context.Context, st store.TaskStore, id string) (*Task, error) {
	rec, err := st.GetTask(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("tasks: get task %q: %w", id, err)
	}
	return decode(rec)
}

// List lists the tasks of scope (store.AnyScope: all) from st as they are
// stored, settling nothing (operators' tools); see Manager.List.
func List(ctx context.Context, st store.TaskStore, scope, cursor string, limit int) ([]*Task, string, error) {
	recs, next, err := st.ListTasks(ctx, scope, cursor, limit)
	if err != nil {
		return nil, "", fmt.Errorf("tasks: list: %w", err)
	}
	out := make([]*Task, 0, len(recs))
	for _, rec := range recs {
		t, err := decode(rec)
		if err != nil {
			return nil, "", err
		}
		out = append(out, t)
	}
	return out, next, nil
}
