// Package mooring mounts a Go MCP server, written with the official go-sdk,
// behind mooring's durable Streamable HTTP endpoint: its sessions survive
// restarts of the process, and dropped SSE streams resume with
// Last-Event-ID. The command cmd/mooring is the same thing with the built-in
// server and flags.
//
//	st, _ := boltstore.Open("mooring-data/mooring.db", nil)
//	h := mooring.New(myServer, st, nil)
//	defer h.Close()
//	http.Handle("/mcp", h)
package mooring

import (
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/compress"
	"github.com/mooring-dev/mooring/tasks"
	"github.com/mooring-dev/mooring/tasks/protocol"
	"github.com/mooring-dev/mooring/transport"
)

// Options tune the handler; nil fields take the packages' defaults.
type Options struct {
	Session   *session.Options
	Transport *transport.Options
	// NoCompression stores event payloads uncompressed (they are still
	// tagged, so the choice can change between runs).
	NoCompression bool
	// NoStateless serves the sessionful era only: 2026-07-28 requests get
	// UnsupportedProtocolVersionError and dual-era clients fall back to
	// initialize. By default both eras share the endpoint (see
	// transport.NewStateless); Transport.Stateless, if set, is used as is.
	NoStateless bool
	// Tasks, if set, gives srv durable tasks in both eras (docs/tasks.md):
	// it says which of its tools support them (go-sdk tools cannot
	// declare execution.taskSupport themselves). The store must keep
	// tasks (store.TaskStore: memory, bolt, redis); New panics otherwise.
	Tasks *protocol.Policy
	// TaskOptions tune the task Manager (nil: defaults).
	TaskOptions *tasks.Options
}

// Handler is an http.Handler for the MCP endpoint. Close it when done: it
// closes the live backend sessions (their stored state stays).
type Handler struct {
	*transport.Handler
	mgr   *session.Manager
	tasks *tasks.Manager       // nil without Options.Tasks
	sf    *protocol.Sessionful // nil without Options.Tasks
}

// New serves srv with sessions kept in st, and 2026-07-28 clients
// statelessly on the same endpoint. It adds receiving middleware to srv (see
// backend.NewInProcess and transport.NewStateless), so mount a server once.
func New(srv *mcp.Server, st store.Store, opts *Options) *Handler {
	if opts == nil {
		opts = &Options{}
	}
	// Payloads are always tagged, so that cmd/mooring and a program of its
	// own can share a store.
	h := &Handler{}
	runners := &protocol.Runners{}
	var sopts session.Options
	if opts.Session != nil {
		sopts = *opts.Session
	}
	if opts.Tasks != nil {
		// Tasks go to the store itself, neither compressed nor tagged, as
		// in cmd/mooring: beneath a compress.Store given here too.
		inner := st
		if cs, ok := st.(*compress.Store); ok {
			inner = cs.Unwrap()
		}
		ts, ok := inner.(store.TaskStore)
		if !ok {
			panic(fmt.Sprintf("mooring: Options.Tasks with a store that keeps no tasks (%T)", st))
		}
		h.tasks = tasks.NewManager(ts, opts.TaskOptions)
		h.tasks.SetRunnerFor(runners.For)
		var err error
		if h.sf, err = protocol.NewSessionful(h.tasks, &protocol.SessionfulOptions{Policy: opts.Tasks, Runners: runners, Logger: sopts.Logger}); err != nil {
			panic("mooring: Options.Tasks: " + err.Error())
		}
		sopts.Interceptor = h.sf
	}
	if _, ok := st.(*compress.Store); !ok {
		st = compress.Wrap(st, &compress.Options{Enabled: !opts.NoCompression})
	}
	h.mgr = session.New(st, backend.NewInProcess(srv), &sopts)
	if h.sf != nil {
		h.sf.Attach(h.mgr)
	}
	var topts transport.Options
	if opts.Transport != nil {
		topts = *opts.Transport
	}
	if topts.Stateless == nil && !opts.NoStateless {
		topts.Stateless = transport.NewStateless(srv, &transport.StatelessOptions{LocalTools: sopts.LocalTools, Logger: topts.Logger})
		if h.tasks != nil {
			ext, err := protocol.NewExtension(srv, topts.Stateless, h.tasks, &protocol.ExtensionOptions{Policy: opts.Tasks, Runners: runners, Logger: topts.Logger})
			if err != nil {
				panic("mooring: Options.Tasks: " + err.Error())
			}
			topts.Stateless = ext
		}
	}
	h.Handler = transport.New(h.mgr, &topts)
	if h.tasks != nil {
		h.tasks.Start() // the runners are registered: sweep now
	}
	return h
}

// Manager returns the session manager, for health checks and admin tools.
func (h *Handler) Manager() *session.Manager { return h.mgr }

// Tasks returns the task Manager (nil without Options.Tasks), for admin
// tools.
func (h *Handler) Tasks() *tasks.Manager { return h.tasks }

// Close stops the tasks running here (their leases are given up, so the
// next process settles or re-runs them) and closes the live sessions'
// backends.
func (h *Handler) Close() error {
	if h.tasks != nil {
		_ = h.tasks.Close()
		_ = h.sf.Close()
	}
	return h.mgr.Close()
}
