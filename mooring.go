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
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/compress"
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
}

// Handler is an http.Handler for the MCP endpoint. Close it when done: it
// closes the live backend sessions (their stored state stays).
type Handler struct {
	*transport.Handler
	mgr *session.Manager
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
	if _, ok := st.(*compress.Store); !ok {
		st = compress.Wrap(st, &compress.Options{Enabled: !opts.NoCompression})
	}
	mgr := session.New(st, backend.NewInProcess(srv), opts.Session)
	var topts transport.Options
	if opts.Transport != nil {
		topts = *opts.Transport
	}
	if topts.Stateless == nil && !opts.NoStateless {
		var local []session.LocalTool
		if opts.Session != nil {
			local = opts.Session.LocalTools
		}
		topts.Stateless = transport.NewStateless(srv, &transport.StatelessOptions{LocalTools: local, Logger: topts.Logger})
	}
	return &Handler{Handler: transport.New(mgr, &topts), mgr: mgr}
}

// Manager returns the session manager, for health checks and admin tools.
func (h *Handler) Manager() *session.Manager { return h.mgr }

// Close closes the live sessions' backends.
func (h *Handler) Close() error { return h.mgr.Close() }
