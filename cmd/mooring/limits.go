package main

import (
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/mooring-dev/mooring/internal/httplimit"
)

const (
	// defaultMaxConns is --max-connections' default where the open-file
	// limit allows it.
	defaultMaxConns = 4096
	// reserveConns are accepted beyond --max-connections for probes only.
	reserveConns = 16
	// readHeaderTimeout bounds the arrival of a request's headers.
	readHeaderTimeout = 10 * time.Second
)

// maxConns is --max-connections, or its default: 4096, lowered so that
// with the reserve it takes at most 3/4 of the open-file limit files (0:
// unknown), and the store and the backends (a stdio server takes three
// descriptors a session) keep descriptors when every connection is taken.
func maxConns(c *config, files int, log *slog.Logger) int {
	if c.MaxConns > 0 {
		if files > 0 && c.MaxConns+reserveConns > files {
			log.Warn("--max-connections is above the open-file limit: at the cap, accepting fails instead of shedding", "max_connections", c.MaxConns, "open_file_limit", files)
		}
		return c.MaxConns
	}
	n := defaultMaxConns
	if files > 0 {
		n = min(n, max(files*3/4-reserveConns, 1))
	}
	return n
}

// isProbe tells the requests that a reserve connection serves.
func isProbe(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	switch r.URL.Path {
	case "/healthz", "/readyz", "/metrics":
		return true
	}
	return false
}

// httpServer returns a server of h with the limits of c, and ln limited to
// limit connections (plus the reserve).
func httpServer(c *config, h http.Handler, ln net.Listener, limit int, log *slog.Logger) (*http.Server, *httplimit.Listener) {
	lln := httplimit.NewListener(ln, limit, reserveConns)
	srv := &http.Server{
		Handler: httplimit.Handler(h, httplimit.Options{
			BodyTimeout:  c.ReadTimeout,
			WriteTimeout: c.WriteTimeout,
			Probe:        isProbe,
		}),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    c.MaxHeaderBytes,
		ConnContext:       httplimit.ConnContext,
		// Accept and serve errors go to mooring's log, not to stderr.
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return srv, lln
}
