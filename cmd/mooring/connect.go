package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/mooring-dev/mooring/bridge"
)

// headerList is a repeatable --header 'Name: value'.
type headerList struct{ h http.Header }

func (l *headerList) String() string { return "" }

func (l *headerList) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(name) == "" {
		return fmt.Errorf("%q: want 'Name: value'", v)
	}
	l.h.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	return nil
}

// connect: mooring connect URL — the stdio bridge (package bridge).
func connectCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("mooring connect", stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: mooring connect [flags] URL\n"+
			"An MCP server on stdin/stdout that relays to the Streamable HTTP endpoint URL\n"+
			"and hides drops, restarts and lost sessions from the client (docs/connect.md).\n\n")
		fs.PrintDefaults()
	}
	headers := &headerList{h: make(http.Header)}
	fs.Var(headers, "header", "HTTP header for every request, 'Name: value' (repeatable)")
	var tokenFile, protocol, logFile, logLevel string
	var resumeFor, waitFor time.Duration
	var check, tasks bool
	fs.str(&tokenFile, "bearer-token-file", "MOORING_CONNECT_TOKEN_FILE", "", "file holding a bearer token for the Authorization header (read again for every request)")
	fs.str(&protocol, "protocol", "MOORING_CONNECT_PROTOCOL", bridge.Auto, "protocol era: auto (follow the client), 2025-11-25 (sessionful only) or 2026-07-28 (stateless only)")
	fs.duration(&resumeFor, "resume-for", "MOORING_CONNECT_RESUME_FOR", bridge.DefaultResumeFor, "how long a call in flight waits for its broken stream to be resumed")
	fs.duration(&waitFor, "wait-for", "MOORING_CONNECT_WAIT_FOR", bridge.DefaultWaitFor, "how long a new request waits for an unreachable server")
	fs.str(&logFile, "log-file", "MOORING_CONNECT_LOG_FILE", "", "append logs to this file instead of stderr")
	fs.str(&logLevel, "log-level", "MOORING_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	fs.boolean(&tasks, "tasks", "MOORING_CONNECT_TASKS", true, "run calls of task-supporting tools as tasks when the server offers tasks (sessionful era), so that results survive outages")
	fs.boolean(&check, "check", "MOORING_CONNECT_CHECK", false, "test the endpoint, print what it negotiated, and exit")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		fs.Usage()
		return errUsage
	}
	endpoint := pos[0]
	if u, err := url.Parse(endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return &exitError{2, fmt.Sprintf("%q: not an http(s) URL", endpoint)}
	}
	switch protocol {
	case bridge.Auto, bridge.Sessionful, bridge.Stateless:
	default:
		return &exitError{2, fmt.Sprintf("--protocol %q: want auto, %s or %s", protocol, bridge.Sessionful, bridge.Stateless)}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return &exitError{2, fmt.Sprintf("--log-level %q: want debug, info, warn or error", logLevel)}
	}
	logOut := stderr
	if logFile != "" {
		f, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("--log-file: %w", err)
		}
		defer f.Close()
		logOut = f
	}
	opts := &bridge.Options{
		Header:    headers.h,
		TokenFile: tokenFile,
		Protocol:  protocol,
		ResumeFor: resumeFor,
		WaitFor:   waitFor,
		NoTasks:   !tasks,
		Logger:    slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: level})).With("component", "connect"),
	}
	if check {
		if err := bridge.Check(ctx, endpoint, opts, stdout); err != nil {
			return &exitError{1, err.Error()}
		}
		return nil
	}
	opts.Logger.Info("relaying stdio to the endpoint", "url", endpoint, "protocol", protocol)
	return bridge.New(endpoint, opts).Run(ctx, stdin, stdout)
}
