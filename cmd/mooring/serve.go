package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mooring-dev/mooring/health"
	"github.com/mooring-dev/mooring/internal/httplimit"
	"github.com/mooring-dev/mooring/metrics"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store/compress"
	"github.com/mooring-dev/mooring/tasks"
	"github.com/mooring-dev/mooring/tasks/protocol"
	"github.com/mooring-dev/mooring/transport"
)

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	c, err := parseServe(args, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(c.LogLevel, c.LogFormat, stderr)
	if err != nil {
		return err
	}
	mounts, err := c.mounts(log)
	if err != nil {
		return err
	}
	var mgrs []*session.Manager
	live := func() int {
		n := 0
		for _, m := range mgrs {
			n += m.Len()
		}
		return n
	}
	var cst *compress.Store
	var conns *httplimit.Listener
	var taskMgr *tasks.Manager
	met := metrics.New(metrics.Options{
		ActiveTasks:    func() int { return taskMgr.Running() },
		ActiveSessions: live,
		PayloadBytes:   func() (int64, int64) { s := cst.Stats(); return s.BytesIn, s.BytesStored },
		Connections:    func() (int, int64) { return conns.Open(), conns.Shed() },
	})
	opened, err := openStore(ctx, c, log, met.SetFallback)
	if err != nil {
		return err
	}
	// Compression outermost, so that the metrics time the store itself.
	cst = compress.Wrap(met.Instrument(opened.Store), &compress.Options{Enabled: c.Compression})
	defer cst.Close()

	hopts := health.Options{
		Store:         cst,
		Kind:          c.Store,
		AllowFallback: c.StoreFallback == "memory",
		Sessions:      live,
		Tasks: func(ctx context.Context, scope string, limit int) ([]*tasks.Task, error) {
			list, _, err := taskMgr.List(ctx, scope, "", limit)
			return list, err
		},
	}
	for _, m := range mounts {
		hopts.Backends = append(hopts.Backends, health.Backend{Name: m.name, Kind: m.kind, Path: m.path})
	}
	if opened.fallback != nil {
		hopts.Degraded = opened.fallback.Degraded
	}
	if c.Store == "redis" {
		hopts.RedisInfo = opened.redisInfo
	}
	if c.Auth == "none" && !loopbackHost(c.Addr) {
		hopts.Unauthenticated = c.Addr
	}
	checker := health.New(hopts)
	var local []session.LocalTool
	if c.HealthTool {
		local = append(local, checker.Tool())
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	var self string
	if c.Store == "redis" {
		if self, err = advertiseURL(c, ln.Addr()); err != nil {
			return err
		}
		if len(mounts) > 1 && !strings.HasSuffix(self, c.Path) {
			return fmt.Errorf("--advertise-url %q must end with --path %q: with several servers, their endpoints are found by replacing it", self, c.Path)
		}
	}
	gate, err := newGatekeeper(ctx, c, log)
	if err != nil {
		return err
	}
	defer gate.Close()
	if gate != nil {
		gate.onRefuse = met.AuthRefused
	}
	if hopts.Unauthenticated != "" {
		log.Warn("serving on a non-loopback address without authentication: anyone who reaches it can call every tool; set --auth jwt (docs/auth.md)", "addr", ln.Addr().String())
	}
	// One task Manager for the process: tasks of every mounted server
	// (Task.Server tells them apart), over the store itself (tasks are
	// neither compressed nor timed per operation). It is closed before
	// the mounts' session managers (deferred after the loop), so that
	// running tasks give their leases up instead of failing on backends
	// that close under them.
	if taskMgr, err = newTaskManager(c, opened, self, log, met); err != nil {
		return err
	}
	// The era code gives the Manager the runner of a retryable task whose
	// process died, per mounted server.
	runners := &protocol.Runners{}
	taskMgr.SetRunnerFor(runners.For)
	ttl := time.Duration(c.SessionTTL) * time.Second
	done, draining := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	// One manager per server: each session belongs to the endpoint that
	// created it, and is restored into that endpoint's backend.
	for _, m := range mounts {
		var own *session.Ownership
		if self != "" {
			// Replicas on one Redis take turns: one owner per session,
			// others pass its requests on, to the same endpoint.
			own = &session.Ownership{Lease: opened, SelfURL: strings.TrimSuffix(self, c.Path) + m.path, TTL: c.LeaseTTL}
		}
		var server string
		if len(mounts) > 1 {
			server = m.name // sessions of one endpoint are not another's
		}
		sopts := &session.Options{
			TTL: ttl, IdleEvict: c.IdleEvict, Logger: log, LocalTools: local, OnEvent: met.SessionEvent, Ownership: own, Server: server,
			RetryableTools: m.retryable,
		}
		c.sessionLimits(sopts, m.kind, opened)
		// Durable tasks for 2025-11-25 sessions (docs/tasks.md).
		sf, err := protocol.NewSessionful(taskMgr, &protocol.SessionfulOptions{Server: m.name, Policy: m.tasks, Runners: runners, Logger: log})
		if err != nil {
			return fmt.Errorf("tasks of %s: %w", m.path, err)
		}
		sopts.Interceptor = sf
		mgr := session.New(cst, m.opener, sopts)
		defer mgr.Close()
		sf.Attach(mgr)
		defer sf.Close()
		mgrs = append(mgrs, mgr)
		gate.bindState(m)
		var stateless http.Handler
		if c.Stateless && m.server != nil {
			// 2026-07-28 clients on the same endpoint, without sessions:
			// served from the go-sdk server itself, so only the built-in
			// one (stdio and upstream servers: sessionful revisions only).
			stateless = transport.NewStateless(m.server, &transport.StatelessOptions{LocalTools: local, Logger: log})
			// Durable tasks for 2026-07-28 clients that declare the
			// extension (docs/tasks.md).
			ext, err := protocol.NewExtension(m.server, stateless, taskMgr, &protocol.ExtensionOptions{
				Server: m.name, Policy: m.tasks, Runners: runners, Logger: log,
			})
			if err != nil {
				return fmt.Errorf("tasks of %s: %w", m.path, err)
			}
			stateless = ext
		}
		h := transport.New(mgr, &transport.Options{
			MaxBodyBytes:   c.MaxBody,
			Heartbeat:      heartbeat(c.Heartbeat),
			Retry:          c.Retry,
			Mode:           transport.ResponseMode(c.ResponseMode),
			AllowedOrigins: splitList(c.AllowedOrigins),
			AllowedHosts:   splitList(c.AllowedHosts),
			LocalOnly:      isLoopbackAddr(ln.Addr()),
			OwnerWait:      c.LeaseTTL + 5*time.Second,
			OwnerTimeout:   c.LeaseTTL,
			Stateless:      stateless,
			Done:           done,
			Drain:          draining,
			Logger:         log,
		})
		var eh http.Handler = h
		if gate != nil {
			eh = gate.protect(mux, m, c.Path, h)
		}
		mux.Handle(m.path, met.HTTP(eh))
	}
	// Every mount has registered its runners: a sweep from now on can run
	// retryable tasks of a dead process again instead of failing them.
	taskMgr.Start()
	if gate != nil {
		gate.root(mux, mounts)
	}
	mux.HandleFunc("GET /healthz", health.Healthz)
	mux.HandleFunc("GET /readyz", checker.Readyz)
	defer taskMgr.Close() // runs before the session managers' Close: see above
	(&admin{store: cst, mgrs: mgrs, tasks: taskMgr, allowedHosts: splitList(c.AllowedHosts), allowedOrigins: splitList(c.AllowedOrigins)}).register(mux)
	limit := maxConns(c, openFileLimit(), log)
	srv, lln := httpServer(c, mux, ln, limit, log)
	conns = lln
	servers := []*http.Server{srv}
	listeners := []net.Listener{lln}
	if c.MetricsAddr == "" {
		mux.Handle("GET /metrics", met.Handler())
	} else {
		mln, err := net.Listen("tcp", c.MetricsAddr)
		if err != nil {
			return fmt.Errorf("listen for metrics: %w", err)
		}
		mmux := http.NewServeMux()
		mmux.Handle("GET /metrics", met.Handler())
		msrv, mlln := httpServer(c, mmux, mln, 64, log)
		servers = append(servers, msrv)
		listeners = append(listeners, mlln)
	}

	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	log.Info("mooring serving", "url", fmt.Sprintf("http://%s%s", ln.Addr(), c.Path), "store", c.Store, "version", version, "max_connections", limit)
	for _, m := range mounts {
		attrs := []any{"url", fmt.Sprintf("http://%s%s", ln.Addr(), m.path), "kind", m.kind}
		if m.name != "" {
			attrs = append(attrs, "name", m.name)
		}
		log.Info("MCP server mounted", attrs...)
	}

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	return drain(log, c, servers, mgrs, taskMgr, draining, done)
}

// drain shuts the server down so that its clients do not notice
// (docs/deployment.md): it stops accepting connections and closes idle
// keep-alive ones, ends the streams it passes on to other replicas, lets
// the calls in flight finish for up to --drain-grace and hands every
// session over (its streams end with an event id and a retry hint, its
// lease is released), lets running tasks finish within the same grace,
// then ends whatever still streams. The store is
// closed (flushed) after it, by serve's defers.
func drain(log *slog.Logger, c *config, servers []*http.Server, mgrs []*session.Manager, taskMgr *tasks.Manager, draining, done chan struct{}) error {
	start := time.Now()
	log.Info("draining: calls in flight finish, then their sessions move to other replicas", "grace", c.DrainGrace)
	gctx, cancel := context.WithTimeout(context.Background(), c.DrainGrace)
	defer cancel()
	// Peers that find this replica's address closed must know that it
	// hands its sessions over itself: marked before the listener closes.
	for _, m := range mgrs {
		m.BeginDrain(gctx)
	}
	close(draining)
	shut := make(chan error, len(servers))
	sctx, scancel := context.WithTimeout(context.Background(), c.DrainGrace+5*time.Second)
	defer scancel()
	for _, srv := range servers {
		// Responses from now on say Connection: close, and idle
		// connections are closed at once: a peer or balancer does not
		// send a request on a connection that this replica drops.
		srv.SetKeepAlivesEnabled(false)
		go func() { shut <- srv.Shutdown(sctx) }()
	}
	var wg sync.WaitGroup
	for _, m := range mgrs {
		wg.Go(func() { m.Drain(gctx, c.Retry) })
	}
	// Running tasks get the same grace: those that finish store their
	// outcome; the rest give their leases up at taskMgr.Close.
	wg.Go(func() { taskMgr.Drain(gctx) })
	wg.Wait()
	close(done)
	var err error
	for range servers {
		if e := <-shut; e != nil && !errors.Is(e, context.DeadlineExceeded) && err == nil {
			err = fmt.Errorf("shutdown: %w", e)
		}
	}
	log.Info("drained", "took", time.Since(start).Round(time.Millisecond))
	return err
}

func heartbeat(d time.Duration) time.Duration {
	if d <= 0 {
		return -1 // disabled
	}
	return d
}

func isLoopbackAddr(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	return ok && ta.IP.IsLoopback()
}

func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// advertiseURL is where other replicas reach this one: --advertise-url, or
// the listen address; a wildcard address becomes the host name, which at
// least tells replicas apart (set --advertise-url where it does not
// resolve).
func advertiseURL(c *config, addr net.Addr) (string, error) {
	if c.AdvertiseURL != "" {
		return c.AdvertiseURL, nil
	}
	ta, ok := addr.(*net.TCPAddr)
	if !ok || !ta.IP.IsUnspecified() {
		return "http://" + addr.String() + c.Path, nil
	}
	host, err := os.Hostname()
	if err != nil {
		return "", fmt.Errorf("--advertise-url is needed: listening on %s and no host name: %w", addr, err)
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(ta.Port)) + c.Path, nil
}
