package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/backend/builtin"
	"github.com/mooring-dev/mooring/session"
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
	st, err := openStore(ctx, c, log)
	if err != nil {
		return err
	}
	defer st.Close()

	ttl := time.Duration(c.SessionTTL) * time.Second
	mgr := session.New(st, backend.NewInProcess(builtin.New()), &session.Options{TTL: ttl, Logger: log})
	defer mgr.Close()

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	done := make(chan struct{})
	h := transport.New(mgr, &transport.Options{
		MaxBodyBytes:   c.MaxBody,
		Heartbeat:      heartbeat(c.Heartbeat),
		Retry:          c.Retry,
		Mode:           transport.ResponseMode(c.ResponseMode),
		AllowedOrigins: splitList(c.AllowedOrigins),
		AllowedHosts:   splitList(c.AllowedHosts),
		LocalOnly:      isLoopbackAddr(ln.Addr()),
		Done:           done,
		Logger:         log,
	})
	mux := http.NewServeMux()
	mux.Handle(c.Path, h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("mooring serving", "url", fmt.Sprintf("http://%s%s", ln.Addr(), c.Path), "store", st.Kind(), "version", version)

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: open streams get a retry hint")
	close(done) // SSE responses are never idle: they end on this.
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
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
