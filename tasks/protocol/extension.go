package protocol

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"strings"
	"time"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/auth"
	"github.com/mooring-dev/mooring/tasks"
)

// codeHeaderMismatch is -32020, HeaderMismatch (SEP-2243).
const codeHeaderMismatch = -32020

// ExtensionOptions configure NewExtension.
type ExtensionOptions struct {
	// Server names the mounted server in its tasks ("" = the default).
	Server string
	// Policy says which tools support tasks.
	Policy *Policy
	// Runners gets the runner of this server's tasks, for the re-runs of
	// retryable tasks whose process died (see Runners).
	Runners *Runners
	Logger  *slog.Logger
	// Heartbeat is the interval of comment lines on a quiet
	// subscriptions/listen stream of tasks, so that proxies do not cut
	// it. Default 15 s; negative disables them.
	Heartbeat time.Duration
}

// defaultHeartbeat is the default of ExtensionOptions.Heartbeat, as the
// transport's for its own streams.
const defaultHeartbeat = 15 * time.Second

// Extension serves the tasks extension of 2026-07-28 (SEP-2663) around a
// stateless handler of an in-process go-sdk server: it is itself the
// http.Handler of the stateless era, and passes every request on to the
// inner handler. A call that becomes a task runs as a plain tools/call
// through the inner handler, in this process.
type Extension struct {
	inner http.Handler
	m     *tasks.Manager
	o     ExtensionOptions
	log   *slog.Logger
	hints hints
}

// reqKey marks the context of a request that an Extension serves; the
// value is a *reqInfo. go-sdk passes the HTTP request's context values on
// to method handlers and middleware. A plain call of a task carries none,
// so the middleware lets it through.
type reqKey struct{}

type reqInfo struct {
	x     *Extension
	scope string
}

// NewExtension returns the stateless-era handler that serves tasks for
// srv around inner (its stateless handler, transport.NewStateless). It
// adds a receiving middleware and the custom methods tasks/get,
// tasks/update and tasks/cancel to srv; they answer only requests that
// pass through the Extension.
func NewExtension(srv *mcp.Server, inner http.Handler, m *tasks.Manager, opts *ExtensionOptions) (*Extension, error) {
	x := &Extension{inner: inner, m: m}
	if opts != nil {
		x.o = *opts
	}
	if err := x.o.Policy.Check(); err != nil {
		return nil, err
	}
	x.log = x.o.Logger
	if x.log == nil {
		x.log = slog.Default()
	}
	if x.o.Heartbeat == 0 {
		x.o.Heartbeat = defaultHeartbeat
	}
	for _, err := range []error{
		mcp.AddReceivingCustomMethod(srv, "tasks/get", x.get),
		mcp.AddReceivingCustomMethod(srv, "tasks/update", x.update),
		mcp.AddReceivingCustomMethod(srv, "tasks/cancel", x.cancel),
	} {
		if err != nil {
			return nil, err
		}
	}
	srv.AddReceivingMiddleware(x.middleware)
	if x.o.Runners != nil {
		x.o.Runners.set(x.o.Server, false, func(*tasks.Task) tasks.Runner { return x.runner(nil, nil) })
	}
	return x, nil
}

// ScopeOf is the scope of the 2026-07-28 tasks of r's caller: its
// principal, or "" without authentication (then the task id, 128 random
// bits, is the only key).
func ScopeOf(r *http.Request) string {
	if p := auth.PrincipalOf(r); p != "" {
		return PrincipalScope(p)
	}
	return ""
}

func (x *Extension) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	var head struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
		Params struct {
			TaskID        *string        `json:"taskId"`
			Meta          map[string]any `json:"_meta"`
			Notifications *listenHead    `json:"notifications"`
		} `json:"params"`
	}
	_ = json.Unmarshal(body, &head)
	// Mcp-Name carries the task id of task methods, for routing (SEP-2663):
	// one that names another task is a HeaderMismatch.
	if strings.HasPrefix(head.Method, "tasks/") && head.Params.TaskID != nil {
		if name := strings.TrimSpace(r.Header.Get("Mcp-Name")); name != "" && name != *head.Params.TaskID {
			writeError(w, http.StatusBadRequest, head.ID, &jsonrpc.Error{
				Code:    codeHeaderMismatch,
				Message: "header mismatch: Mcp-Name " + quote(name) + " is not params.taskId " + quote(*head.Params.TaskID),
			})
			return
		}
	}
	if head.Method == "subscriptions/listen" && head.Params.Notifications.wantsTasks() {
		x.listen(w, r, body, head.ID, head.Params.Meta, head.Params.Notifications)
		return
	}
	ctx := context.WithValue(r.Context(), reqKey{}, &reqInfo{x: x, scope: ScopeOf(r)})
	r2 := r.WithContext(ctx)
	r2.Body = io.NopCloser(bytes.NewReader(body))
	x.inner.ServeHTTP(w, r2)
}

func writeError(w http.ResponseWriter, status int, id json.RawMessage, e *jsonrpc.Error) {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	data, _ := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   *jsonrpc.Error  `json:"error"`
	}{"2.0", id, e})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// info returns the request's reqInfo if this Extension serves it.
func (x *Extension) info(ctx context.Context) (*reqInfo, bool) {
	ri, ok := ctx.Value(reqKey{}).(*reqInfo)
	return ri, ok && ri.x == x
}

func (x *Extension) middleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		ri, ok := x.info(ctx)
		if !ok {
			return next(ctx, method, req)
		}
		switch method {
		case "server/discover":
			res, err := next(ctx, method, req)
			if dr, ok := res.(*mcp.DiscoverResult); ok && err == nil {
				caps := &mcp.ServerCapabilities{}
				if dr.Capabilities != nil {
					c := *dr.Capabilities
					caps = &c
				}
				caps.Extensions = maps.Clone(caps.Extensions)
				if caps.Extensions == nil {
					caps.Extensions = map[string]any{}
				}
				caps.Extensions[ExtensionID] = map[string]any{}
				dr.Capabilities = caps
			}
			return res, err
		case "tools/call":
			if r, ok := req.(*mcp.CallToolRequest); ok && r.Params != nil {
				return x.call(ctx, ri, r, func() (mcp.Result, error) { return next(ctx, method, req) })
			}
		}
		return next(ctx, method, req)
	}
}

// declared reports whether a request's _meta declares the extension in
// its client capabilities.
func declared(meta map[string]any) bool {
	caps, _ := meta["io.modelcontextprotocol/clientCapabilities"].(map[string]any)
	ext, _ := caps["extensions"].(map[string]any)
	_, ok := ext[ExtensionID]
	return ok
}

// call answers a tools/call: directly (plain), or as a task.
func (x *Extension) call(ctx context.Context, ri *reqInfo, r *mcp.CallToolRequest, plain func() (mcp.Result, error)) (mcp.Result, error) {
	name := r.Params.Name
	support := x.o.Policy.Support(name, "")
	if support == Forbidden {
		return plain()
	}
	if !declared(r.Params.Meta) {
		if support == Required {
			return nil, needExtension("tool " + quote(name))
		}
		return plain()
	}
	params, err := json.Marshal(r.Params)
	if err != nil {
		return nil, err
	}
	var ti *sdkauth.TokenInfo
	if ex := r.GetExtra(); ex != nil {
		ti = ex.TokenInfo
	}
	t := &tasks.Task{Scope: ri.scope, Server: x.o.Server, Tool: name, Params: params}
	// Looked up only for a call that becomes a task.
	retryable := func() bool { return x.o.Policy.Retry(name, false) || x.idempotent(ctx, ti, r.Params.Meta, name) }
	after := x.o.Policy.after()
	if after == 0 {
		t.Retryable = retryable()
		return x.create(ctx, t, x.runner(nil, nil))
	}
	// The call runs at once; it becomes a task if it is still running
	// after the window. Until then this function owns it, then the
	// task's runner.
	cctx, stop := context.WithCancel(context.Background())
	first := make(chan outcome, 1)
	go func() { first <- x.plain(cctx, ti, params) }()
	timer := time.NewTimer(after)
	defer timer.Stop()
	select {
	case o := <-first:
		stop()
		if _, _, asks := o.inputRequired(); asks || support == Optional {
			// A first round of input requests is answered directly
			// (multi round-trip before the task); so is a quick result.
			return o.direct()
		}
		// Required: the client gets a task, whose outcome is known.
		t.Retryable = retryable()
		return x.create(ctx, t, func(context.Context, *tasks.Task) ([]byte, error) { return o.result, o.err })
	case <-timer.C:
		t.Retryable = retryable()
		res, err := x.create(ctx, t, x.runner(first, stop))
		if err != nil {
			stop()
		}
		return res, err
	case <-ctx.Done():
		stop()
		return nil, ctx.Err()
	}
}

// create commits the task and answers its CreateTaskResult.
func (x *Extension) create(ctx context.Context, t *tasks.Task, run tasks.Runner) (mcp.Result, error) {
	nt, err := x.m.Create(ctx, t, run)
	if err != nil {
		x.log.Error("tasks: create a task", "tool", t.Tool, "err", err)
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "mooring could not store the task: " + err.Error()}
	}
	return created(nt), nil
}

// taskParams are the params of tasks/get, tasks/update and tasks/cancel.
type taskParams struct {
	mcp.ParamsBase
	TaskID         string                     `json:"taskId"`
	InputResponses map[string]json.RawMessage `json:"inputResponses,omitempty"`
	RequestState   string                     `json:"requestState,omitempty"`
}

// gate checks that the request is ours and declares the extension.
func (x *Extension) gate(ctx context.Context, method string, p *taskParams) (*reqInfo, error) {
	ri, ok := x.info(ctx)
	if !ok {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: "method " + quote(method) + " not found"}
	}
	if !declared(p.Meta) {
		return nil, needExtension(method)
	}
	if p.TaskID == "" {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: method + ": params.taskId is required"}
	}
	return ri, nil
}

func (x *Extension) get(ctx context.Context, _ *mcp.ServerSession, p *taskParams) (*flatTask, error) {
	ri, err := x.gate(ctx, "tasks/get", p)
	if err != nil {
		return nil, err
	}
	t, err := x.m.Get(ctx, p.TaskID, ri.scope)
	if err != nil {
		return nil, rpcError(p.TaskID, err)
	}
	return detailed(t), nil
}

func (x *Extension) cancel(ctx context.Context, _ *mcp.ServerSession, p *taskParams) (*ack, error) {
	ri, err := x.gate(ctx, "tasks/cancel", p)
	if err != nil {
		return nil, err
	}
	// Idempotent: a terminal task is acknowledged as it is.
	if _, err := x.m.Cancel(ctx, p.TaskID, ri.scope); err != nil {
		return nil, rpcError(p.TaskID, err)
	}
	return complete(), nil
}

func (x *Extension) update(ctx context.Context, _ *mcp.ServerSession, p *taskParams) (*ack, error) {
	ri, err := x.gate(ctx, "tasks/update", p)
	if err != nil {
		return nil, err
	}
	_, err = x.m.Update(ctx, p.TaskID, ri.scope, func(t *tasks.Task) error { return answer(t, p.InputResponses) })
	switch {
	case err == nil, errors.Is(err, errNothingAnswered), errors.Is(err, tasks.ErrTerminal):
		// Responses to requests that are not outstanding are ignored
		// (SEP-2663): the ack says they arrived, not that they were used.
		return complete(), nil
	}
	return nil, rpcError(p.TaskID, err)
}
