package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/tasks"
)

// taskConfig is what serve is told about durable tasks.
type taskConfig struct {
	TaskTTLMax       time.Duration
	TaskPollInterval time.Duration
	TaskMaxAttempts  int
}

func (c *config) taskFlags(fs *flagSet) {
	fs.duration(&c.TaskTTLMax, "task-ttl-max", "MOORING_TASK_TTL_MAX", tasks.DefaultMaxTTL,
		"longest a task is kept after its creation, whatever TTL its client asks for (a task without one gets 1h, or this if shorter)")
	fs.duration(&c.TaskPollInterval, "task-poll-interval", "MOORING_TASK_POLL_INTERVAL", tasks.DefaultPollInterval,
		"poll interval given to task clients; also how often a replica waiting for a task another one runs reads the store")
	fs.integer(&c.TaskMaxAttempts, "task-max-attempts", "MOORING_TASK_MAX_ATTEMPTS", tasks.DefaultMaxAttempts,
		"runs of an idempotent task whose process died before it gives up and fails")
}

func (c *config) validateTasks() error {
	switch {
	case c.TaskTTLMax < time.Second:
		return fmt.Errorf("--task-ttl-max %s: at least 1s", c.TaskTTLMax)
	case c.TaskPollInterval < 10*time.Millisecond:
		return fmt.Errorf("--task-poll-interval %s: at least 10ms", c.TaskPollInterval)
	case c.TaskMaxAttempts < 1:
		return fmt.Errorf("--task-max-attempts %d: at least 1", c.TaskMaxAttempts)
	}
	return nil
}

// newTaskManager builds the process's one task Manager over the opened
// store. replica names this process in runner leases (the advertise URL
// on Redis, else the host name).
func newTaskManager(c *config, opened *openedStore, replica string, log *slog.Logger, met tasks.Metrics) (*tasks.Manager, error) {
	ts, ok := opened.Store.(store.TaskStore)
	if !ok {
		return nil, fmt.Errorf("the %s store keeps no tasks", opened.Kind())
	}
	if replica == "" {
		replica, _ = os.Hostname()
	}
	return tasks.NewManager(ts, &tasks.Options{
		ReplicaID:    replica,
		MaxTTL:       c.TaskTTLMax,
		PollInterval: c.TaskPollInterval,
		LeaseTTL:     c.LeaseTTL,
		MaxAttempts:  c.TaskMaxAttempts,
		// One process per bolt file (or memory): a task run by another
		// process is dead on sight, and a restart settles it at once.
		Exclusive: c.Store != "redis",
		Logger:    log,
		Metrics:   met,
	}), nil
}

// The admin API's tasks: GET /admin/tasks[?scope=S&cursor=C&limit=N],
// GET /admin/tasks/{id}, DELETE /admin/tasks/{id} (cancel). Loopback only,
// like /admin/sessions.
func (a *admin) registerTasks(mux *http.ServeMux) {
	if a.tasks == nil {
		return
	}
	mux.HandleFunc("GET /admin/tasks", a.local(a.listTasks))
	mux.HandleFunc("GET /admin/tasks/{id}", a.local(a.showTask))
	mux.HandleFunc("DELETE /admin/tasks/{id}", a.local(a.cancelTask))
}

type taskPage struct {
	Tasks []*tasks.Task `json:"tasks"`
	Next  string        `json:"next,omitempty"`
}

func (a *admin) listTasks(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit, _ := strconv.Atoi(q.Get("limit"))
	scope := store.AnyScope
	if q.Has("scope") {
		scope = q.Get("scope")
	}
	list, next, err := a.tasks.List(r.Context(), scope, q.Get("cursor"), limit)
	if err != nil {
		adminError(w, err)
		return
	}
	writeJSON(w, taskPage{Tasks: list, Next: next})
}

func (a *admin) showTask(w http.ResponseWriter, r *http.Request) {
	t, err := a.tasks.Get(r.Context(), r.PathValue("id"), store.AnyScope)
	if err != nil {
		adminError(w, err)
		return
	}
	writeJSON(w, t)
}

func (a *admin) cancelTask(w http.ResponseWriter, r *http.Request) {
	t, err := a.tasks.Cancel(r.Context(), r.PathValue("id"), store.AnyScope)
	if err != nil {
		adminError(w, err)
		return
	}
	writeJSON(w, t)
}

// tasks: mooring tasks list|show ID|cancel ID [--scope S] [--url URL | store flags]
func tasksCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := new(config)
	fs := newFlagSet("mooring tasks", stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: mooring tasks list [--scope S] [--cursor C] [--limit N] | show ID | cancel ID\n"+
			"Reads the configured store directly, or asks a running mooring with --url.\n\n")
		fs.PrintDefaults()
	}
	var o operatorFlags
	o.register(fs, c, "tasks")
	var scope string
	fs.str(&scope, "scope", "MOORING_TASK_SCOPE", store.AnyScope, "list: only the tasks of this scope (session:<id>, principal:<...>, or empty for tasks without one); default all")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	verb, id, err := verbAndID(fs, pos, "show", "cancel")
	if err != nil {
		return err
	}
	if o.base != "" {
		return tasksRemote(ctx, o, verb, id, scope, stdout)
	}
	if err := c.validateStore(); err != nil {
		return err
	}
	opened, quiet, err := openForCLI(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer opened.Close()
	ts, ok := opened.Store.(store.TaskStore)
	if !ok {
		return fmt.Errorf("the %s store keeps no tasks", opened.Kind())
	}
	// A Manager that only reads and cancels: no sweep, and it settles
	// nothing it reads (that is for the serving processes, which can also
	// re-run what is idempotent).
	m := tasks.NewManager(ts, &tasks.Options{ReplicaID: "mooring-cli", SweepInterval: -1, Logger: quiet})
	defer m.Close()
	switch verb {
	case "list":
		list, next, err := tasks.List(ctx, ts, scope, o.cursor, o.limit)
		if err != nil {
			return err
		}
		printTasks(stdout, taskPage{Tasks: list, Next: next})
	case "show":
		t, err := tasks.Read(ctx, ts, id)
		if err != nil {
			return err
		}
		return printJSON(stdout, showTask(t))
	case "cancel":
		t, err := m.Cancel(ctx, id, store.AnyScope)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %s\n", t.ID, t.Status)
	}
	return nil
}

// shownTask is a task as `mooring tasks show` prints it: its durations as
// text ("1h0m0s"), not the nanoseconds of the stored form.
type shownTask struct {
	*tasks.Task
	TTL          string `json:"ttl"`
	PollInterval string `json:"pollInterval"`
}

func showTask(t *tasks.Task) shownTask {
	return shownTask{Task: t, TTL: t.TTL.String(), PollInterval: t.PollInterval.String()}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printTasks(w io.Writer, p taskPage) {
	for _, t := range p.Tasks {
		scope := t.Scope
		if scope == "" {
			scope = "-"
		}
		fmt.Fprintf(w, "%s  %-14s %s  %s  %s\n", t.ID, t.Status, t.CreatedAt.UTC().Format(time.RFC3339), scope, t.Tool)
	}
	if p.Next != "" {
		fmt.Fprintf(w, "more: --cursor %s\n", p.Next)
	}
}

func tasksRemote(ctx context.Context, o operatorFlags, verb, id, scope string, stdout io.Writer) error {
	q := o.listQuery()
	if scope != store.AnyScope {
		q.Set("scope", scope)
	}
	body, err := adminCall(ctx, o.base, "/admin/tasks", verb, id, q)
	if err != nil {
		return err
	}
	switch verb {
	case "list":
		var p taskPage
		if err := json.Unmarshal(body, &p); err != nil {
			return fmt.Errorf("reading the task list: %w", err)
		}
		printTasks(stdout, p)
	case "show":
		var t tasks.Task
		if err := json.Unmarshal(body, &t); err != nil {
			return fmt.Errorf("reading the task: %w", err)
		}
		return printJSON(stdout, showTask(&t))
	case "cancel":
		var t tasks.Task
		if err := json.Unmarshal(body, &t); err != nil {
			return fmt.Errorf("reading the cancelled task: %w", err)
		}
		fmt.Fprintf(stdout, "%s %s\n", t.ID, t.Status)
	}
	return nil
}
