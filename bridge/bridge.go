package bridge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Protocol revisions the bridge knows by name.
const (
	Sessionful = "2025-11-25" // the last sessionful revision
	Stateless  = "2026-07-28" // the first stateless revision
	Auto       = "auto"
)

// Defaults of Options.
const (
	DefaultResumeFor = 10 * time.Minute
	DefaultWaitFor   = 2 * time.Minute
)

// Options configure a Bridge. The zero value is usable.
type Options struct {
	// Header is sent with every HTTP request (e.g. an API key).
	Header http.Header
	// TokenFile, when set, holds a bearer token; it is read again for
	// every request, so that a token refreshed on disk is picked up.
	TokenFile string
	// Protocol is Auto ("" too): the era follows the client, as the
	// package doc says; Sessionful or Stateless pins one era, and
	// messages of the other get -32022 (unsupported protocol version).
	Protocol string
	// ResumeFor bounds how long a call in flight waits for its broken
	// stream to be resumed; default DefaultResumeFor.
	ResumeFor time.Duration
	// WaitFor bounds how long a new message waits for an unreachable
	// server; default DefaultWaitFor.
	WaitFor time.Duration
	// HTTPClient defaults to one with TCP keep-alive probes that notice a
	// silently dead connection within about half a minute.
	HTTPClient *http.Client
	// Logger defaults to discarding.
	Logger *slog.Logger
	// NoTasks turns off running calls of task-supporting tools as tasks
	// (see tasks.go); by default the bridge does so in the sessionful era
	// when the server offers tasks for tools/call.
	NoTasks bool
}

// Bridge relays one stdio client to one Streamable HTTP endpoint.
type Bridge struct {
	url  string
	opts Options
	hc   *http.Client
	log  *slog.Logger
	ctx  context.Context // ends when Run returns

	outMu sync.Mutex // serializes writes to out
	out   io.Writer

	wg sync.WaitGroup // the goroutines Run started

	mu      sync.Mutex // guards the fields below
	calls   map[jsonrpc.ID]*call
	hints   map[string]bool           // tool name → safe to repeat (read-only or idempotent)
	tasked  map[string]bool           // tool name → can run as a task (execution.taskSupport optional or required)
	params  map[string][]paramBinding // tool name → its x-mcp-header annotations
	sess    sessionState
	ownSeq  int // ids of the bridge's own requests
	running bool
}

// New returns a bridge to the Streamable HTTP endpoint url.
func New(url string, opts *Options) *Bridge {
	b := &Bridge{url: url, calls: make(map[jsonrpc.ID]*call), hints: make(map[string]bool), tasked: make(map[string]bool),
		params: make(map[string][]paramBinding)}
	if opts != nil {
		b.opts = *opts
	}
	if b.opts.ResumeFor <= 0 {
		b.opts.ResumeFor = DefaultResumeFor
	}
	if b.opts.WaitFor <= 0 {
		b.opts.WaitFor = DefaultWaitFor
	}
	if b.opts.Protocol == "" {
		b.opts.Protocol = Auto
	}
	b.hc = b.opts.HTTPClient
	if b.hc == nil {
		b.hc = defaultHTTPClient()
	}
	b.log = b.opts.Logger
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	b.sess.subs = make(map[string]bool)
	return b
}

func defaultHTTPClient() *http.Client {
	d := &net.Dialer{
		Timeout:         10 * time.Second,
		KeepAliveConfig: net.KeepAliveConfig{Enable: true, Idle: 15 * time.Second, Interval: 5 * time.Second, Count: 3},
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = d.DialContext
	return &http.Client{Transport: t}
}

// Run relays messages between in/out and the endpoint until in ends or ctx
// is done. Before it returns, Run ends the remote session (DELETE).
func (b *Bridge) Run(ctx context.Context, in io.Reader, out io.Writer) error {
	b.mu.Lock()
	if b.running {
		b.mu.Unlock()
		return errors.New("bridge: Run called twice")
	}
	b.running = true
	b.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	b.ctx, b.out = ctx, out
	defer func() {
		cancel()
		b.wg.Wait()
		b.endSession()
		b.hc.CloseIdleConnections()
	}()
	// The reader ends at the end of in, or at a read error. A read from
	// a terminal or pipe cannot be interrupted: when ctx ends first, the
	// reader ends with in (closed here when it is an io.Closer) or with
	// the process.
	if c, ok := in.(io.Closer); ok {
		defer c.Close()
	}
	lines, readErr := make(chan []byte), make(chan error, 1)
	go func() {
		r := bufio.NewReaderSize(in, 64<<10)
		for {
			line, err := r.ReadBytes('\n')
			if line = bytes.TrimSpace(line); len(line) > 0 {
				select {
				case lines <- line:
				case <-ctx.Done():
					return
				}
			}
			if err != nil {
				readErr <- err
				return
			}
		}
	}()
	for {
		select {
		case line := <-lines:
			b.fromClient(line)
		case err := <-readErr:
			if err != io.EOF {
				return fmt.Errorf("reading stdin: %w", err)
			}
			b.log.Info("the client closed stdin; ending")
			return nil
		case <-ctx.Done():
			b.log.Info("stopping", "why", context.Cause(ctx))
			return nil
		}
	}
}

// fromClient handles one line from the client. Requests run on their own
// goroutine; notifications and replies are sent in order, here.
func (b *Bridge) fromClient(line []byte) {
	msg, err := jsonrpc.DecodeMessage(line)
	if err != nil {
		b.log.Warn("dropping a line from the client that is not JSON-RPC", "err", err)
		return
	}
	switch m := msg.(type) {
	case *jsonrpc.Response:
		b.sessionReply(line, m)
	case *jsonrpc.Request:
		stateless := isStateless(m)
		if m.Method == "notifications/cancelled" {
			b.cancelled(m)
		}
		if !m.IsCall() {
			if !stateless {
				b.sessionNotify(line, m)
			}
			return
		}
		if refused := b.eraRefused(m, stateless); refused != nil {
			b.write(refused)
			return
		}
		c := b.register(m)
		if c == nil {
			return
		}
		var initializing chan struct{}
		if !stateless && m.Method == "initialize" {
			initializing = b.beginInitialize()
		}
		b.wg.Go(func() {
			defer c.cancel()
			switch {
			case stateless:
				b.statelessCall(c, line)
			case m.Method == "initialize":
				b.initialize(c, line, initializing)
			default:
				b.sessionCall(c, line)
			}
		})
	}
}

// isStateless reports whether req belongs to the 2026-07-28 era: it is
// server/discover or names its protocol version in _meta.
func isStateless(req *jsonrpc.Request) bool {
	return req.Method == "server/discover" || metaVersion(req.Params) != ""
}

const metaVersionKey = "io.modelcontextprotocol/protocolVersion"

func metaVersion(params json.RawMessage) string {
	var p struct {
		Meta map[string]any `json:"_meta"`
	}
	if json.Unmarshal(params, &p) != nil {
		return ""
	}
	v, _ := p.Meta[metaVersionKey].(string)
	return v
}

// eraRefused answers a request of the era that Options.Protocol excludes.
func (b *Bridge) eraRefused(req *jsonrpc.Request, stateless bool) []byte {
	var supported, requested string
	switch {
	case b.opts.Protocol == Sessionful && stateless:
		supported, requested = Sessionful, metaVersion(req.Params)
		if requested == "" {
			requested = Stateless
		}
	case b.opts.Protocol == Stateless && req.Method == "initialize":
		var p struct {
			ProtocolVersion string `json:"protocolVersion"`
		}
		_ = json.Unmarshal(req.Params, &p)
		supported, requested = Stateless, p.ProtocolVersion
	default:
		return nil
	}
	data := map[string]any{"supported": []string{supported}, "requested": requested}
	return errorLine(req.ID, codeUnsupportedVersion,
		fmt.Sprintf("mooring connect runs with --protocol %s: protocol version %s is not relayed", b.opts.Protocol, requested), data)
}

// JSON-RPC error codes of the bridge's own answers.
const (
	codeUnsupportedVersion = -32022 // MCP's UnsupportedProtocolVersionError
	codeConnection         = -32000 // the server could not be reached, or the result was lost
)

// call is a request in flight: the client's, or one of the bridge's own
// (then reply receives its response instead of the client).
type call struct {
	id     jsonrpc.ID // the client's id (or the bridge's own)
	method string
	params json.RawMessage
	ctx    context.Context // done when the call is answered, cancelled or the bridge ends
	cancel context.CancelFunc
	reply  chan *jsonrpc.Response // nil: answer the client

	// guarded by Bridge.mu
	wire      jsonrpc.ID // the id on the wire: id, or a fresh one when sent again (rekey)
	gen       int        // the session generation it was sent in
	taskID    string     // run as a task: the server's task id, once created
	taskErr   bool       // an error answer to tasks/result is held back: see heldTaskError
	taskFinal bool       // the task is over: the next answer to tasks/result is the outcome
	taskTries int        // tasks/result sent again after an error
	streaming bool       // the server took it (2xx): a lost session loses it
	answered  bool
}

// register adds a call for req; it answers a duplicate id with an error and
// returns nil.
func (b *Bridge) register(req *jsonrpc.Request) *call {
	c := &call{id: req.ID, wire: req.ID, method: req.Method, params: req.Params}
	c.ctx, c.cancel = context.WithCancel(b.ctx)
	b.mu.Lock()
	_, dup := b.calls[req.ID]
	if !dup {
		b.calls[req.ID] = c
	}
	b.mu.Unlock()
	if dup {
		c.cancel()
		b.write(errorLine(req.ID, jsonrpc.CodeInvalidRequest, "mooring connect: a request with this id is still in flight", nil))
		return nil
	}
	return c
}

// own registers a request of the bridge's own.
func (b *Bridge) own(method string, params any) (*call, []byte) {
	b.mu.Lock()
	id := b.nextOwnID()
	b.mu.Unlock()
	req, _ := newCall(id, method, params)
	raw, _ := jsonrpc.EncodeMessage(req)
	c := &call{id: id, wire: id, method: method, params: req.Params, reply: make(chan *jsonrpc.Response, 1)}
	c.ctx, c.cancel = context.WithCancel(b.ctx)
	b.mu.Lock()
	b.calls[id] = c
	b.mu.Unlock()
	return c, raw
}

// finish answers c once, with raw (a response to the client) or resp.
func (b *Bridge) finish(c *call, raw []byte, resp *jsonrpc.Response) {
	b.mu.Lock()
	if c.answered {
		b.mu.Unlock()
		return
	}
	c.answered = true
	delete(b.calls, c.id)
	delete(b.calls, c.wire)
	b.mu.Unlock()
	if resp != nil && resp.ID != c.id {
		// An answer to the id it was sent again with: the client
		// knows its own.
		r := *resp
		r.ID = c.id
		raw, _ = jsonrpc.EncodeMessage(&r)
	}
	if c.reply != nil {
		c.reply <- resp // buffered: one answer
	} else {
		b.write(raw)
	}
	c.cancel()
}

// fail answers c with a JSON-RPC error of the bridge.
func (b *Bridge) fail(c *call, code int64, msg string) {
	b.mu.Lock()
	method, answered := c.method, c.answered // method changes when a task's result is fetched
	b.mu.Unlock()
	if c.reply == nil && !answered {
		b.log.Warn("answering a call with an error", "id", c.id.Raw(), "method", method, "error", msg)
	}
	b.finishError(c, &jsonrpc.Error{Code: code, Message: msg})
}

// drop forgets c without an answer (the client cancelled it).
func (b *Bridge) drop(c *call) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !c.answered {
		c.answered = true
		delete(b.calls, c.id)
		delete(b.calls, c.wire)
	}
	c.cancel()
}

// rekey gives c a fresh id on the wire, to send it again in the same
// session: the server may still run the first send (go-sdk refuses a
// duplicate in-flight id), so it is asked to cancel that one. It returns
// the request with the new id.
func (b *Bridge) rekey(c *call, raw []byte, h hdr) []byte {
	msg, err := jsonrpc.DecodeMessage(raw)
	req, ok := msg.(*jsonrpc.Request)
	if err != nil || !ok {
		return raw
	}
	b.mu.Lock()
	old, nid := b.rewire(c)
	b.mu.Unlock()
	b.cancelOnServer(c.ctx, h, old, "mooring connect sends the request again")
	req.ID = nid
	out, _ := jsonrpc.EncodeMessage(req)
	return out
}

// nextOwnID is a fresh id for a request of the bridge's own; the caller
// holds b.mu.
func (b *Bridge) nextOwnID() jsonrpc.ID {
	b.ownSeq++
	return mustID(fmt.Sprintf("mooring-connect/%d", b.ownSeq))
}

// rewire gives c a fresh id on the wire, under which its answer is found,
// and returns the old and the new one; the caller holds b.mu.
func (b *Bridge) rewire(c *call) (old, nid jsonrpc.ID) {
	old, nid = c.wire, b.nextOwnID()
	if old != c.id {
		delete(b.calls, old)
	}
	c.wire = nid
	b.calls[nid] = c
	return old, nid
}

// cancelOnServer tells the server, best effort, that request id is
// cancelled.
func (b *Bridge) cancelOnServer(ctx context.Context, h hdr, id jsonrpc.ID, reason string) {
	n, _ := newCall(jsonrpc.ID{}, "notifications/cancelled", map[string]any{"requestId": id.Raw(), "reason": reason})
	raw, _ := jsonrpc.EncodeMessage(n)
	if resp, err := b.do(ctx, raw, h); err == nil {
		resp.Body.Close()
	}
}

func (b *Bridge) isDone(c *call) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return c.answered
}

// cancelled stops the bridge's work on a call that the client cancelled:
// its result is no longer wanted, so a broken stream is not resumed.
func (b *Bridge) cancelled(n *jsonrpc.Request) {
	var p struct {
		RequestID any `json:"requestId"`
	}
	if json.Unmarshal(n.Params, &p) != nil {
		return
	}
	id, err := jsonrpc.MakeID(p.RequestID)
	if err != nil {
		return
	}
	b.mu.Lock()
	c := b.calls[id]
	var wire jsonrpc.ID
	if c != nil {
		wire = c.wire
	}
	h := hdr{session: b.sess.id, version: b.sess.version}
	b.mu.Unlock()
	if c == nil || c.reply != nil {
		return
	}
	b.drop(c)
	if wire != id && !isStateless(n) {
		// The server knows it by the id it was sent again with.
		b.cancelOnServer(b.ctx, h, wire, "cancelled by the client")
	}
	b.cancelTask(c, h)
}

// fromServer dispatches one message from the server: a response answers
// its call; requests and notifications go to the client.
func (b *Bridge) fromServer(raw []byte) {
	msg, err := jsonrpc.DecodeMessage(raw)
	if err != nil {
		b.log.Warn("dropping a message from the server that is not JSON-RPC", "err", err)
		return
	}
	resp, ok := msg.(*jsonrpc.Response)
	if !ok {
		b.write(raw)
		return
	}
	b.mu.Lock()
	c := b.calls[resp.ID]
	b.mu.Unlock()
	if c == nil {
		b.log.Debug("dropping a response for no call in flight", "id", resp.ID.Raw())
		return
	}
	if b.taskCreated(c, resp) || b.heldTaskError(c, resp) {
		return // the call goroutine fetches the task's result
	}
	b.observe(c, resp)
	b.finish(c, raw, resp)
}

// observe learns from a successful response what a new session would need
// (log level, subscriptions) and which tools are safe to call again.
func (b *Bridge) observe(c *call, resp *jsonrpc.Response) {
	if resp.Error != nil || c.reply != nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch c.method {
	case "initialize":
		var r struct {
			ProtocolVersion string `json:"protocolVersion"`
		}
		if json.Unmarshal(resp.Result, &r) == nil {
			b.sess.initParams, b.sess.version = c.params, r.ProtocolVersion
			b.sess.tasks = offersToolTasks(resp.Result)
		}
	case "logging/setLevel":
		b.sess.level = c.params
	case "resources/subscribe", "resources/unsubscribe":
		var p struct {
			URI string `json:"uri"`
		}
		if json.Unmarshal(c.params, &p) == nil && p.URI != "" {
			if c.method == "resources/subscribe" {
				b.sess.subs[p.URI] = true
			} else {
				delete(b.sess.subs, p.URI)
			}
		}
	case "tools/list":
		var r struct {
			Tools []struct {
				Name        string `json:"name"`
				Annotations *struct {
					ReadOnly   bool `json:"readOnlyHint"`
					Idempotent bool `json:"idempotentHint"`
				} `json:"annotations"`
				Execution *struct {
					TaskSupport string `json:"taskSupport"`
				} `json:"execution"`
				InputSchema json.RawMessage `json:"inputSchema"`
			} `json:"tools"`
		}
		if json.Unmarshal(resp.Result, &r) == nil {
			for _, t := range r.Tools {
				b.hints[t.Name] = t.Annotations != nil && (t.Annotations.ReadOnly || t.Annotations.Idempotent)
				b.tasked[t.Name] = t.Execution != nil && (t.Execution.TaskSupport == "optional" || t.Execution.TaskSupport == "required")
				b.params[t.Name] = paramBindings(t.InputSchema)
			}
		}
	}
}

// safeToRepeat reports whether sending c again cannot do harm: every
// method but tools/call, and tools/call of a tool the server marked
// read-only or idempotent.
func (b *Bridge) safeToRepeat(c *call) bool {
	if c.method != "tools/call" {
		return true
	}
	name := nameOf(c.method, c.params)
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hints[name]
}

// write sends one message to the client. Callers do not hold b.mu: a
// client that reads slowly holds up writers, never the bridge's state.
func (b *Bridge) write(raw []byte) {
	b.outMu.Lock()
	defer b.outMu.Unlock()
	b.writeOut(raw)
}

func (b *Bridge) writeOut(raw []byte) {
	if bytes.ContainsAny(raw, "\r\n") {
		var buf bytes.Buffer
		if json.Compact(&buf, raw) == nil {
			raw = buf.Bytes()
		}
	}
	line := append(append(make([]byte, 0, len(raw)+1), raw...), '\n')
	if _, err := b.out.Write(line); err != nil {
		b.log.Error("writing to stdout", "err", err)
	}
}

// notifyClient tells the client something with a notifications/message.
func (b *Bridge) notifyClient(level, text string) {
	n, _ := newCall(jsonrpc.ID{}, "notifications/message", map[string]any{
		"level": level, "logger": "mooring-connect", "data": text,
	})
	raw, _ := jsonrpc.EncodeMessage(n)
	b.write(raw)
}

func errorLine(id jsonrpc.ID, code int64, msg string, data any) []byte {
	e := &jsonrpc.Error{Code: code, Message: msg}
	if data != nil {
		e.Data, _ = json.Marshal(data)
	}
	raw, _ := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: id, Error: e})
	return raw
}

func mustID(s string) jsonrpc.ID {
	id, _ := jsonrpc.MakeID(s)
	return id
}

// newCall builds a request (a notification when id is the zero ID).
func newCall(id jsonrpc.ID, method string, params any) (*jsonrpc.Request, error) {
	req := &jsonrpc.Request{ID: id, Method: method}
	if params != nil {
		p, err := json.Marshal(params)
		if err != nil {
			return nil, err
		}
		req.Params = p
	}
	return req, nil
}
