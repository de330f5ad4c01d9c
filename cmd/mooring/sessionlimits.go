package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store"
)

// stdioMaxLive is --max-live-sessions' default for a stdio server: each
// live session is a process of its own.
const stdioMaxLive = 500

// sessionLimitFlags are serve's bounds on the sessions that clients can make
// it hold (docs/deployment.md, "Session limits and damaged data files").
func (c *config) sessionLimitFlags(fs *flagSet) {
	fs.integer(&c.MaxLiveSessions, "max-live-sessions", "MOORING_MAX_LIVE_SESSIONS", 0,
		fmt.Sprintf("sessions live in memory per MCP server; at the cap the idle one unused longest is evicted to the store, and if none is idle a new session gets 503 (0: %d, or %d for a stdio server)", session.DefaultMaxLive, stdioMaxLive))
	fs.integer(&c.MaxStoredSessions, "max-stored-sessions", "MOORING_MAX_STORED_SESSIONS", session.DefaultMaxStored,
		"sessions in the store; past it initialize gets 503 with Retry-After (-1: no cap)")
	fs.integer(&c.MaxRecordBytes, "max-record-bytes", "MOORING_MAX_RECORD_BYTES", session.DefaultMaxRecordBytes,
		"largest session record: an initialize whose params are larger gets 413 (JSON-RPC -32602)")
	fs.duration(&c.ServerRequestTimeout, "server-request-timeout", "MOORING_SERVER_REQUEST_TIMEOUT", session.DefaultServerRequestTimeout,
		"how long a request of the server to the client (sampling, elicitation) waits for the client's answer; then the server gets an error")
	fs.boolean(&c.StoreCheck, "store-check", "MOORING_STORE_CHECK", true,
		"with --store bolt: check every page of the data file at start and refuse a damaged one (reads the whole file once)")
	fs.float(&c.CompactAtStart, "compact-at-start", "MOORING_COMPACT_AT_START", 0.5,
		fmt.Sprintf("with --store bolt: compact the data file at start when more than this fraction of it is free pages (and at least %d MiB); 0 never", compactMinFree>>20))
}

// validateSessionLimits checks the limit flags.
func (c *config) validateSessionLimits() error {
	switch {
	case c.ServerRequestTimeout <= 0:
		return fmt.Errorf("--server-request-timeout %s: must be positive", c.ServerRequestTimeout)
	case c.MaxLiveSessions < 0:
		return fmt.Errorf("--max-live-sessions %d: 0 (the default) or more", c.MaxLiveSessions)
	case c.MaxStoredSessions == 0 || c.MaxStoredSessions < -1:
		return fmt.Errorf("--max-stored-sessions %d: positive, or -1 for no cap", c.MaxStoredSessions)
	case c.CompactAtStart < 0 || c.CompactAtStart >= 1:
		return fmt.Errorf("--compact-at-start %g: a fraction from 0 (never) to below 1", c.CompactAtStart)
	case c.MaxRecordBytes < 1024:
		return fmt.Errorf("--max-record-bytes %d: at least 1024", c.MaxRecordBytes)
	}
	return nil
}

// sessionLimits fills in the session limits of a server's manager.
func (c *config) sessionLimits(o *session.Options, kind string, opened *openedStore) {
	o.ServerRequestTimeout = c.ServerRequestTimeout
	o.MaxLive = c.MaxLiveSessions
	if o.MaxLive == 0 && kind == "stdio" {
		o.MaxLive = stdioMaxLive
	}
	o.MaxStored = c.MaxStoredSessions
	o.MaxRecordBytes = c.MaxRecordBytes
	o.Counter = opened
}

// CountSessions implements store.Counter over whichever store is in use
// (the store that serve uses is wrapped by metrics and compression, which
// hide it). Every store that serve opens counts: bolt, memory, and on
// Redis the fallback store, which bounds the count in time in both
// --store-fallback modes.
func (o *openedStore) CountSessions(ctx context.Context) (int, error) {
	if c, ok := o.Store.(store.Counter); ok {
		return c.CountSessions(ctx)
	}
	return 0, errors.New("this store does not count its sessions")
}
