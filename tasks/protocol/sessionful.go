package protocol

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/tasks"
)

// firstTasksVersion is the first sessionful revision with tasks.
const firstTasksVersion = "2025-11-25"

// SessionfulOptions configure NewSessionful.
type SessionfulOptions struct {
	// Server names the mounted server in its tasks ("" = the default).
	Server string
	// Policy says which tools support tasks, where the backend does not.
	Policy *Policy
	// Runners gets the runner of this server's tasks (see Runners).
	Runners *Runners
	Logger  *slog.Logger
}

// Sessionful serves tasks of 2025-11-25 (SEP-1686) inside the sessions of
// one mounted server: it is the session.Interceptor of its
// session.Manager. A task belongs to the session that created it (scope
// "session:<id>"); it runs at the gateway as the plain tools/call on the
// session's backend.
type Sessionful struct {
	m   *tasks.Manager
	o   SessionfulOptions
	log *slog.Logger

	sessions *session.Manager // set by Attach

	mu    sync.Mutex          // guards tools
	tools map[string]toolInfo // what the backend's tools/list said

	nmu     sync.Mutex               // guards the fields below
	notes   map[string][]*tasks.Task // status changes to tell, by session
	queued  int                      // notes held, over all sessions
	nclosed bool
	nwg     sync.WaitGroup  // the senders, one per session with notes
	nctx    context.Context // of the sends; ends on Close
	ncancel context.CancelFunc
	unsub   func()
	closed  sync.Once
}

// maxQueuedNotes bounds the status notifications waiting to be sent; past
// it they are dropped (best effort: clients poll).
const maxQueuedNotes = 1024

// toolInfo is what the backend declares of a tool.
type toolInfo struct {
	support    string // execution.taskSupport, "" if none
	idempotent bool   // annotations.idempotentHint
}

// NewSessionful returns the interceptor of one server's sessions; Attach
// it to their session.Manager once that exists, and Close it at the end.
func NewSessionful(m *tasks.Manager, opts *SessionfulOptions) (*Sessionful, error) {
	sf := &Sessionful{m: m, tools: map[string]toolInfo{}, notes: map[string][]*tasks.Task{}}
	sf.nctx, sf.ncancel = context.WithCancel(context.Background())
	if opts != nil {
		sf.o = *opts
	}
	if err := sf.o.Policy.Check(); err != nil {
		return nil, err
	}
	sf.log = sf.o.Logger
	if sf.log == nil {
		sf.log = slog.Default()
	}
	return sf, nil
}

// Attach gives sf the session manager its tasks' sessions live in, and
// starts telling sessions of their tasks' status changes.
func (sf *Sessionful) Attach(sessions *session.Manager) {
	sf.sessions = sessions
	if sf.o.Runners != nil {
		sf.o.Runners.set(sf.o.Server, true, sf.rerun)
	}
	sf.unsub = sf.m.Subscribe(func(t *tasks.Task) {
		if t.Server != sf.o.Server || !strings.HasPrefix(t.Scope, sessionScope) {
			return
		}
		if t.Version == 1 {
			// The creation (version 1 of the record): the CreateTaskResult
			// announces it. SEP-1686 has a server notify of status
			// changes (MAY), and a log append here would compete with
			// the response's on the task's critical path.
			return
		}
		sf.enqueue(t)
	})
}

// Close stops the notifications.
func (sf *Sessionful) Close() error {
	sf.closed.Do(func() {
		if sf.unsub != nil {
			sf.unsub()
			sf.nmu.Lock()
			sf.nclosed = true
			sf.nmu.Unlock()
		}
		sf.ncancel()
		sf.nwg.Wait()
	})
	return nil
}

// enqueue queues a status notification for t's session, and starts the
// session's sender if it has none. Each session's notifications go out in
// order, and the sessions' in parallel: one session's slow append holds
// up no other, and concurrent appends share the store's commits.
func (sf *Sessionful) enqueue(t *tasks.Task) {
	sid := strings.TrimPrefix(t.Scope, sessionScope)
	sf.nmu.Lock()
	defer sf.nmu.Unlock()
	if sf.nclosed {
		return
	}
	if sf.queued >= maxQueuedNotes {
		sf.log.Warn("tasks: status notification dropped (queue full)", "task", t.ID, "status", t.Status)
		return
	}
	sf.queued++
	sf.notes[sid] = append(sf.notes[sid], t)
	if len(sf.notes[sid]) == 1 {
		sf.nwg.Add(1)
		go sf.send(sid)
	}
}

// send sends notifications/tasks/status to session sid while it has some
// queued (best effort: clients poll), then returns; it ends early on
// Close.
func (sf *Sessionful) send(sid string) {
	defer sf.nwg.Done()
	for {
		sf.nmu.Lock()
		t := sf.notes[sid][0] // popped after the send: enqueue starts no second sender meanwhile
		sf.nmu.Unlock()
		if sf.nctx.Err() == nil {
			sf.notify(sid, t)
		}
		sf.nmu.Lock()
		sf.queued--
		if q := sf.notes[sid][1:]; len(q) > 0 {
			sf.notes[sid] = q
			sf.nmu.Unlock()
			continue
		}
		delete(sf.notes, sid)
		sf.nmu.Unlock()
		return
	}
}

// notify sends one notification to session sid, if it is open here.
func (sf *Sessionful) notify(sid string, t *tasks.Task) {
	s := sf.sessions.Open(sid)
	if s == nil {
		return
	}
	params, _ := json.Marshal(sepTaskOf(t))
	ctx, cancel := context.WithTimeout(sf.nctx, writeTimeout)
	defer cancel()
	if err := s.NotifyClient(ctx, "notifications/tasks/status", params); err != nil {
		sf.log.Debug("tasks: status notification not sent", "task", t.ID, "err", err)
	}
}

func scopeOf(s *session.Session) string { return SessionScope(s.ID()) }

// Intercept answers tools/call with params.task and the task methods of
// sessions at 2025-11-25 or later.
func (sf *Sessionful) Intercept(s *session.Session, req *jsonrpc.Request) func(context.Context) *jsonrpc.Response {
	if s.ProtocolVersion() < firstTasksVersion {
		return nil
	}
	switch req.Method {
	case "tools/call":
		return sf.call(s, req)
	case "tasks/get", "tasks/result", "tasks/cancel":
		var p struct {
			TaskID string `json:"taskId"`
		}
		if err := json.Unmarshal(req.Params, &p); err != nil || p.TaskID == "" {
			return fail(&jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: req.Method + ": params.taskId is required"})
		}
		return func(ctx context.Context) *jsonrpc.Response { return sf.task(ctx, s, req.Method, p.TaskID) }
	case "tasks/list":
		return func(ctx context.Context) *jsonrpc.Response { return sf.list(ctx, s, req.Params) }
	}
	return nil
}

func fail(e *jsonrpc.Error) func(context.Context) *jsonrpc.Response {
	return func(context.Context) *jsonrpc.Response { return &jsonrpc.Response{Error: e} }
}

func reply(v any) *jsonrpc.Response {
	data, err := json.Marshal(v)
	if err != nil {
		return &jsonrpc.Response{Error: &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: err.Error()}}
	}
	return &jsonrpc.Response{Result: data}
}

// call handles a tools/call: a task when params.task asks for one; an
// error when the tool's task support says the call is not allowed as
// made; else nil (the backend answers the plain call).
func (sf *Sessionful) call(s *session.Session, req *jsonrpc.Request) func(context.Context) *jsonrpc.Response {
	// Every tools/call passes here, most of them plain: only the fields
	// looked at are decoded, not a map of every field; a task's params
	// are taken apart below.
	var p struct {
		Name json.RawMessage `json:"name"`
		Task json.RawMessage `json:"task"` // "null" if present as null
	}
	if json.Unmarshal(req.Params, &p) != nil {
		return nil
	}
	var name string
	_ = json.Unmarshal(p.Name, &name)
	asks := p.Task != nil
	info, known := sf.tool(name)
	if !asks {
		// Decided here, without a round trip: a plain call goes to the
		// backend as it is, unless the tool requires a task.
		if sf.o.Policy.Support(name, info.support) == Required {
			return fail(&jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: "tool " + quote(name) + " must be called as a task (params.task)"})
		}
		return nil
	}
	return func(ctx context.Context) *jsonrpc.Response {
		if !known {
			info = sf.learn(ctx, s, name)
		}
		if sf.o.Policy.Support(name, info.support) == Forbidden {
			return &jsonrpc.Response{Error: &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: "tool " + quote(name) + " does not support tasks"}}
		}
		var tp struct {
			TTL *float64 `json:"ttl"`
		}
		_ = json.Unmarshal(p.Task, &tp)
		var all map[string]json.RawMessage
		_ = json.Unmarshal(req.Params, &all) // an object: decoded above
		delete(all, "task")
		plain, err := json.Marshal(all)
		if err != nil {
			return &jsonrpc.Response{Error: &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: err.Error()}}
		}
		t := &tasks.Task{Scope: scopeOf(s), Server: sf.o.Server, Tool: name, Params: plain, Retryable: sf.o.Policy.Retry(name, info.idempotent)}
		if tp.TTL != nil && *tp.TTL > 0 {
			t.TTL = msDuration(*tp.TTL)
		}
		nt, err := sf.m.Create(ctx, t, sf.runner(s))
		if err != nil {
			sf.log.Error("tasks: create a task", "session", s.ID(), "tool", name, "err", err)
			return &jsonrpc.Response{Error: &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "mooring could not store the task: " + err.Error()}}
		}
		return reply(struct {
			Task sepTask `json:"task"`
		}{sepTaskOf(nt)})
	}
}

// runner makes the plain call on s's backend.
func (sf *Sessionful) runner(s *session.Session) tasks.Runner {
	return func(ctx context.Context, t *tasks.Task) ([]byte, error) {
		related := map[string]any{metaRelatedTask: map[string]string{"taskId": t.ID}}
		resp, err := s.CallBackendWith(ctx, "tools/call", t.Params, session.BackendCall{
			Related: related,
			Waiting: func(waiting bool) { sf.waiting(t, waiting) },
		})
		if errors.Is(err, session.ErrClosed) && sf.sessions.Draining() {
			// A drain handed the session over under the call: the
			// process is going away. The task is the next process's
			// to settle or run again (the Manager's Close gives its
			// lease up), not failed here.
			return nil, sf.leftToNext(ctx, err)
		}
		if err != nil {
			return nil, err
		}
		if resp.Error != nil {
			var re *jsonrpc.Error
			if errors.As(resp.Error, &re) {
				return nil, re
			}
			return nil, resp.Error
		}
		return resp.Result, nil
	}
}

// drainWait bounds how long a task whose session a drain closed waits for
// its Manager's Close, should it not come.
const drainWait = time.Minute

// leftToNext waits for the end of a task's run whose session a drain
// closed under it: the Manager's Close (its lease given up), or a cancel;
// err if neither comes within drainWait.
func (sf *Sessionful) leftToNext(ctx context.Context, err error) error {
	timer := time.NewTimer(drainWait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-timer.C:
		return err
	}
}

// waiting sets t input_required while a request that its call sent the
// client waits for the client's answer, and working again once answered
// (2025-11-25: the client sees the request on the session's GET stream,
// with the related-task _meta).
func (sf *Sessionful) waiting(t *tasks.Task, waiting bool) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	_, err := sf.m.Update(ctx, t.ID, t.Scope, func(t *tasks.Task) error {
		switch {
		case waiting:
			t.Status, t.StatusMessage = tasks.InputRequired, "waiting for the client's answer to a request of the server"
		case t.Status == tasks.InputRequired:
			t.Status, t.StatusMessage = tasks.Working, ""
		}
		return nil
	})
	if err != nil && !errors.Is(err, tasks.ErrTerminal) {
		sf.log.Warn("tasks: status of a task waiting for the client", "task", t.ID, "input_required", waiting, "err", err)
	}
}

// rerun is the runner of a retryable task whose process died: on its
// session, restored here.
func (sf *Sessionful) rerun(t *tasks.Task) tasks.Runner {
	return func(ctx context.Context, t *tasks.Task) ([]byte, error) {
		s, err := sf.sessions.Get(ctx, strings.TrimPrefix(t.Scope, sessionScope))
		if err != nil {
			return nil, err
		}
		return sf.runner(s)(ctx, t)
	}
}

// task answers tasks/get, tasks/result and tasks/cancel.
func (sf *Sessionful) task(ctx context.Context, s *session.Session, method, id string) *jsonrpc.Response {
	scope := scopeOf(s)
	var t *tasks.Task
	var err error
	switch method {
	case "tasks/get":
		t, err = sf.m.Get(ctx, id, scope)
	case "tasks/cancel":
		var cancelled bool
		if t, cancelled, err = sf.m.TryCancel(ctx, id, scope); err == nil && !cancelled {
			return &jsonrpc.Response{Error: &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "task " + quote(id) + " is already " + string(t.Status)}}
		}
	case "tasks/result":
		t, err = sf.m.Wait(ctx, id, scope)
		if err == nil {
			return resultOf(t)
		}
		if ctx.Err() != nil {
			// The session closed here (drain, eviction): the task goes on.
			return &jsonrpc.Response{Error: &jsonrpc.Error{Code: session.CodeInterrupted, Message: "tasks/result interrupted: the session moved or closed while it waited; the task goes on, retry it"}}
		}
	}
	if err != nil {
		return &jsonrpc.Response{Error: rpcError(id, err)}
	}
	return reply(sepTaskOf(t))
}

// resultOf is what the plain call answered, for tasks/result: its result
// with the related-task _meta, or its error.
func resultOf(t *tasks.Task) *jsonrpc.Response {
	switch t.Status {
	case tasks.Completed:
		var res map[string]json.RawMessage
		if err := json.Unmarshal(t.Result, &res); err != nil || res == nil {
			return &jsonrpc.Response{Result: t.Result}
		}
		meta := map[string]any{}
		if raw, ok := res["_meta"]; ok {
			_ = json.Unmarshal(raw, &meta)
		}
		meta[metaRelatedTask] = map[string]string{"taskId": t.ID}
		res["_meta"], _ = json.Marshal(meta)
		return reply(res)
	case tasks.Failed:
		e := t.Error
		if e == nil {
			e = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: t.StatusMessage}
		}
		return &jsonrpc.Response{Error: e}
	}
	return &jsonrpc.Response{Error: &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "task " + quote(t.ID) + " was cancelled"}}
}

// list answers tasks/list: the session's own tasks.
func (sf *Sessionful) list(ctx context.Context, s *session.Session, params json.RawMessage) *jsonrpc.Response {
	var p struct {
		Cursor string `json:"cursor"`
	}
	_ = json.Unmarshal(params, &p)
	ts, next, err := sf.m.List(ctx, scopeOf(s), p.Cursor, 100)
	if err != nil {
		return &jsonrpc.Response{Error: &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: err.Error()}}
	}
	out := struct {
		Tasks      []sepTask `json:"tasks"`
		NextCursor string    `json:"nextCursor,omitempty"`
	}{Tasks: []sepTask{}, NextCursor: next}
	for _, t := range ts {
		out.Tasks = append(out.Tasks, sepTaskOf(t))
	}
	return reply(out)
}
