package protocol

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/tasks"
)

// outcome is what a plain tools/call answered: a raw result, or an error
// (a *jsonrpc.Error is the protocol error of the call).
type outcome struct {
	result json.RawMessage
	err    error
}

// inputRequired returns the input requests and request state of a result
// that asks the client for input (multi round-trip, SEP-2322).
func (o outcome) inputRequired() (json.RawMessage, string, bool) {
	if o.err != nil {
		return nil, "", false
	}
	var r struct {
		ResultType    string          `json:"resultType"`
		InputRequests json.RawMessage `json:"inputRequests"`
		RequestState  string          `json:"requestState"`
	}
	if json.Unmarshal(o.result, &r) != nil || r.ResultType != "input_required" || len(r.InputRequests) == 0 || string(r.InputRequests) == "null" {
		return nil, "", false
	}
	return r.InputRequests, r.RequestState, true
}

// direct is the outcome as the answer of the request itself.
func (o outcome) direct() (mcp.Result, error) {
	if o.err != nil {
		return nil, o.err
	}
	return &rawResult{raw: o.result}, nil
}

// rawResult is a result passed on as the backend encoded it.
type rawResult struct {
	mcp.ResultBase
	raw json.RawMessage
}

func (r *rawResult) MarshalJSON() ([]byte, error) { return r.raw, nil }

// plain makes the plain tools/call of params through the inner handler,
// in this process, and returns what it answered. ctx ends the call (go-sdk
// cancels the handler). ti, if not nil, is the caller's verified token,
// which the server's handlers see as on the caller's own request (and
// auth.BindRequestState seals and opens request states with).
func (x *Extension) plain(ctx context.Context, ti *sdkauth.TokenInfo, params json.RawMessage) outcome {
	return x.rpc(ctx, ti, "tools/call", params)
}

// rpc makes one request of method through the inner handler, as plain
// does; params carry the request's _meta.
func (x *Extension) rpc(ctx context.Context, ti *sdkauth.TokenInfo, method string, params json.RawMessage) outcome {
	var p struct {
		Name string         `json:"name"`
		Meta map[string]any `json:"_meta"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		return outcome{err: fmt.Errorf("tasks: bad %s params: %w", method, err)}
	}
	version, _ := p.Meta["io.modelcontextprotocol/protocolVersion"].(string)
	if version == "" {
		version = "2026-07-28"
	}
	var idb [8]byte
	_, _ = rand.Read(idb[:])
	id, _ := jsonrpc.MakeID("mooring-task-" + hex.EncodeToString(idb[:]))
	body, err := jsonrpc.EncodeMessage(&jsonrpc.Request{ID: id, Method: method, Params: params})
	if err != nil {
		return outcome{err: fmt.Errorf("tasks: encode %s: %w", method, err)}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/", bytes.NewReader(body))
	if err != nil {
		return outcome{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", version)
	req.Header.Set("Mcp-Method", method)
	if method == "tools/call" {
		req.Header.Set("Mcp-Name", p.Name)
	}
	h := x.inner
	if ti != nil {
		// go-sdk takes a request's TokenInfo only from its own bearer
		// middleware: it is given the caller's.
		req.Header.Set("Authorization", "Bearer mooring-task")
		h = sdkauth.RequireBearerToken(func(context.Context, string, *http.Request) (*sdkauth.TokenInfo, error) { return ti, nil },
			&sdkauth.RequireBearerTokenOptions{AllowMissingExpiration: true})(h)
	}
	rec := &recorder{h: http.Header{}}
	h.ServeHTTP(rec, req)
	resp, err := rec.response()
	if err != nil {
		if ctx.Err() != nil {
			return outcome{err: context.Cause(ctx)}
		}
		return outcome{err: &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "the server's answer to the task's call: " + err.Error()}}
	}
	if resp.Error != nil {
		var re *jsonrpc.Error
		if errors.As(resp.Error, &re) {
			return outcome{err: re}
		}
		return outcome{err: &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: resp.Error.Error()}}
	}
	return outcome{result: resp.Result}
}

// recorder is the ResponseWriter of a plain call made in this process.
type recorder struct {
	h      http.Header
	status int
	buf    bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.h }
func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}
func (r *recorder) Write(p []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	return r.buf.Write(p)
}
func (r *recorder) Flush() {}

// response finds the JSON-RPC response in what was written: a JSON body or
// an SSE stream's events.
func (r *recorder) response() (*jsonrpc.Response, error) {
	body := r.buf.Bytes()
	var datas [][]byte
	if strings.HasPrefix(r.h.Get("Content-Type"), "text/event-stream") {
		for _, ev := range bytes.Split(bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")), []byte("\n\n")) {
			var data [][]byte
			for _, line := range bytes.Split(ev, []byte("\n")) {
				if d, ok := bytes.CutPrefix(line, []byte("data:")); ok {
					data = append(data, bytes.TrimPrefix(d, []byte(" ")))
				}
			}
			if len(data) > 0 {
				datas = append(datas, bytes.Join(data, []byte("\n")))
			}
		}
	} else {
		datas = [][]byte{body}
	}
	for _, d := range datas {
		if msg, err := jsonrpc.DecodeMessage(d); err == nil {
			if resp, ok := msg.(*jsonrpc.Response); ok {
				return resp, nil
			}
		}
	}
	return nil, fmt.Errorf("HTTP %d without a JSON-RPC response: %.200s", r.status, body)
}

// round is the multi round-trip state of a task (Task.State): the
// responses given so far to the pending input requests, and the request
// state of the round that asked for them.
type round struct {
	Responses    map[string]json.RawMessage `json:"responses,omitempty"`
	RequestState string                     `json:"requestState,omitempty"`
}

func roundOf(t *tasks.Task) round {
	var r round
	if len(t.State) > 0 {
		_ = json.Unmarshal(t.State, &r)
	}
	return r
}

// errNothingAnswered: a tasks/update answered no outstanding request.
var errNothingAnswered = errors.New("tasks: no outstanding input request answered")

// answer records input responses to t's outstanding input requests; once
// every one has its response, the task is working again (and its runner
// makes the next round). Responses to keys that are not outstanding are
// ignored.
func answer(t *tasks.Task, responses map[string]json.RawMessage) error {
	if t.Status != tasks.InputRequired {
		return errNothingAnswered
	}
	var pending map[string]json.RawMessage
	if err := json.Unmarshal(t.InputRequests, &pending); err != nil {
		return fmt.Errorf("tasks: stored input requests: %w", err)
	}
	r := roundOf(t)
	n := 0
	for k, v := range responses {
		if _, ok := pending[k]; ok {
			if r.Responses == nil {
				r.Responses = map[string]json.RawMessage{}
			}
			r.Responses[k] = v
			delete(pending, k)
			n++
		}
	}
	if n == 0 {
		return errNothingAnswered
	}
	state, err := json.Marshal(r)
	if err != nil {
		return err
	}
	t.State = state
	if len(pending) == 0 {
		t.Status, t.StatusMessage, t.InputRequests = tasks.Working, "", nil
		return nil
	}
	t.InputRequests, err = json.Marshal(pending)
	return err
}

// withRound returns tools/call params for the next round: the task's
// params with the round's input responses and request state.
func withRound(params json.RawMessage, r round) (json.RawMessage, error) {
	var p map[string]json.RawMessage
	if err := json.Unmarshal(params, &p); err != nil {
		return nil, fmt.Errorf("tasks: stored tools/call params: %w", err)
	}
	delete(p, "inputResponses")
	delete(p, "requestState")
	if len(r.Responses) > 0 {
		p["inputResponses"], _ = json.Marshal(r.Responses)
	}
	if r.RequestState != "" {
		p["requestState"], _ = json.Marshal(r.RequestState)
	}
	return json.Marshal(p)
}

// runner runs a 2026-07-28 task: the call (first, if it is already
// running: stop ends it), then, as long as it asks for input, the task
// waits in input_required for tasks/update and makes the next round.
func (x *Extension) runner(first <-chan outcome, stop context.CancelFunc) tasks.Runner {
	return func(ctx context.Context, t *tasks.Task) ([]byte, error) {
		var o outcome
		if first != nil {
			select {
			case o = <-first:
			case <-ctx.Done():
			}
			stop()
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
		} else {
			params, err := withRound(t.Params, roundOf(t))
			if err != nil {
				return nil, err
			}
			o = x.plain(ctx, principalToken(t.Scope), params)
		}
		for {
			if o.err != nil {
				return nil, o.err
			}
			asks, state, ok := o.inputRequired()
			if !ok {
				return o.result, nil
			}
			r, err := json.Marshal(round{RequestState: state})
			if err != nil {
				return nil, err
			}
			if _, err := x.m.Update(ctx, t.ID, t.Scope, func(cur *tasks.Task) error {
				cur.Status, cur.StatusMessage = tasks.InputRequired, "The task waits for the client's input (tasks/update)."
				cur.InputRequests, cur.State = asks, r
				return nil
			}); err != nil {
				return nil, err
			}
			cur, err := x.m.WaitUntil(ctx, t.ID, t.Scope, func(c *tasks.Task) bool { return c.Status != tasks.InputRequired })
			if err != nil {
				return nil, err
			}
			if cur.Status.Terminal() {
				return nil, fmt.Errorf("tasks: task %s ended (%s) while waiting for input", t.ID, cur.Status)
			}
			params, err := withRound(cur.Params, roundOf(cur))
			if err != nil {
				return nil, err
			}
			o = x.plain(ctx, principalToken(t.Scope), params)
		}
	}
}

// Runners gives the Manager the runner of a task whose process died
// (tasks.Manager.SetRunnerFor(r.For)): each era's code registers the
// runner factory of each server it serves.
type Runners struct {
	mu sync.Mutex
	m  map[runnerKey]func(*tasks.Task) tasks.Runner
}

type runnerKey struct {
	server     string
	sessionful bool
}

// sessionScope prefixes the scope of a 2025-11-25 task: the session id.
const sessionScope = "session:"

// SessionScope is the scope of the 2025-11-25 tasks of session id.
func SessionScope(id string) string { return sessionScope + id }

// PrincipalScope is the scope of the 2026-07-28 tasks of principal p
// (auth.Principal).
func PrincipalScope(p string) string { return principalScope + p }

const principalScope = "principal:"

// principalToken stands for the caller in the later calls of a task: its
// principal (the token itself is not kept), or nil without one.
func principalToken(scope string) *sdkauth.TokenInfo {
	if p, ok := strings.CutPrefix(scope, principalScope); ok && p != "" {
		return &sdkauth.TokenInfo{UserID: p}
	}
	return nil
}

func (r *Runners) set(server string, sessionful bool, f func(*tasks.Task) tasks.Runner) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[runnerKey]func(*tasks.Task) tasks.Runner{}
	}
	r.m[runnerKey{server, sessionful}] = f
}

// For returns the runner of t, or nil if no code serves its server and era.
func (r *Runners) For(t *tasks.Task) tasks.Runner {
	r.mu.Lock()
	f := r.m[runnerKey{t.Server, strings.HasPrefix(t.Scope, sessionScope)}]
	r.mu.Unlock()
	if f == nil {
		return nil
	}
	return f(t)
}
