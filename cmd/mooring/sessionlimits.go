package main

import (
	"fmt"

	"github.com/mooring-dev/mooring/session"
)

// sessionLimitFlags are serve's bounds on what clients can make it hold (see
// docs/deployment.md, "Limits").
func (c *config) sessionLimitFlags(fs *flagSet) {
	fs.duration(&c.ServerRequestTimeout, "server-request-timeout", "MOORING_SERVER_REQUEST_TIMEOUT", session.DefaultServerRequestTimeout,
		"how long a request of the server to the client (sampling, elicitation) waits for the client's answer; then the server gets an error")
	fs.boolean(&c.StoreCheck, "store-check", "MOORING_STORE_CHECK", true,
		"with --store bolt: check every page of the data file at start and refuse a damaged one (reads the whole file once)")
}

// validateSessionLimits checks the limit flags.
func (c *config) validateSessionLimits() error {
	if c.ServerRequestTimeout <= 0 {
		return fmt.Errorf("--server-request-timeout %s: must be positive", c.ServerRequestTimeout)
	}
	return nil
}
