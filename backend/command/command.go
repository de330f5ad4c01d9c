// Package command serves mooring sessions from an MCP server program that
// speaks JSON-RPC on its stdin and stdout (the stdio transport): one process
// per mooring session, started when the session is created or restored.
//
// The program's stderr goes to mooring's log, a line per record, with the
// session id. A program that exits on its own takes its session's backend
// with it: its requests in flight are answered with an error, and the
// session's next request starts a new process and replays the session's
// state into it (backend.ErrGone, backend.Watched).
package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/backend"
)

// Options say which program to run.
type Options struct {
	// Name names the server in logs (its mcpServers key); default the
	// program's base name.
	Name    string
	Command string
	Args    []string
	// Env is added to mooring's own environment.
	Env map[string]string
	// Dir is the working directory; default mooring's.
	Dir string
	// Terminate is how long Close waits after closing the program's stdin
	// before it signals it (SIGTERM, then SIGKILL after as long again).
	// Default 5s.
	Terminate time.Duration
	Logger    *slog.Logger
}

// Opener starts the program once per session.
type Opener struct {
	opts Options
	log  *slog.Logger
}

// New returns an Opener for opts. The program is not looked for until a
// session opens; Check does it at once.
func New(opts Options) *Opener {
	if opts.Name == "" {
		opts.Name = filepath.Base(opts.Command)
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	return &Opener{opts: opts, log: log.With("backend", opts.Name)}
}

// Check reports whether the program can be found, so that a typo fails at
// startup rather than at the first session.
func (o *Opener) Check() error {
	if o.opts.Command == "" {
		return errors.New("command: no program given")
	}
	if _, err := exec.LookPath(o.command()); err != nil {
		return fmt.Errorf("command %q: %w", o.opts.Command, err)
	}
	if o.opts.Dir != "" {
		if fi, err := os.Stat(o.opts.Dir); err != nil || !fi.IsDir() {
			return fmt.Errorf("command %q: cwd %q is not a directory", o.opts.Command, o.opts.Dir)
		}
	}
	return nil
}

// command is the program's path: a relative path with a slash is taken
// relative to Dir, as the process will see it.
func (o *Opener) command() string {
	c := o.opts.Command
	if o.opts.Dir != "" && !filepath.IsAbs(c) && filepath.Base(c) != c {
		return filepath.Join(o.opts.Dir, c)
	}
	return c
}

// Open implements backend.Opener: it starts the program and begins reading
// its messages.
func (o *Opener) Open(ctx context.Context, sessionID string, h backend.Handler) (backend.Conn, error) {
	log := o.log.With("session", sessionID)
	// Not CommandContext: the process lives as long as the session, not as
	// the request that opened it.
	cmd := exec.Command(o.opts.Command, o.opts.Args...)
	cmd.Dir = o.opts.Dir
	if len(o.opts.Env) > 0 {
		cmd.Env = os.Environ()
		for k, v := range o.opts.Env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	stderr := &lineLog{log: log}
	cmd.Stderr = stderr
	// A grandchild that keeps stderr open must not hold Wait for ever.
	cmd.WaitDelay = 2 * time.Second
	tr := &mcp.CommandTransport{Command: cmd, TerminateDuration: o.opts.Terminate}
	mc, err := tr.Connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("command %s: start %q: %w", o.opts.Name, o.opts.Command, err)
	}
	log.Debug("MCP server program started", "pid", cmd.Process.Pid)
	c := &conn{mc: mc, h: h, log: log, stderr: stderr, done: make(chan struct{})}
	go c.read()
	return c, nil
}

// conn is one program serving one session.
type conn struct {
	mc      mcp.Connection
	h       backend.Handler
	log     *slog.Logger
	stderr  *lineLog
	pending backend.Pending

	closing atomic.Bool // Close was called: the end is ours
	gone    atomic.Bool // the program ended on its own
	done    chan struct{}

	stopOnce sync.Once
	stopErr  error
}

// Send implements backend.Conn.
func (c *conn) Send(ctx context.Context, msg jsonrpc.Message) error {
	if c.gone.Load() {
		return fmt.Errorf("command: %w: the program exited", backend.ErrGone)
	}
	if c.closing.Load() {
		return backend.ErrClosed
	}
	c.pending.Sent(msg)
	if err := c.mc.Write(ctx, msg); err != nil {
		c.pending.Unsent(msg)
		if c.closing.Load() && !c.gone.Load() {
			return backend.ErrClosed
		}
		if ctx.Err() != nil {
			return err
		}
		// A pipe that cannot be written means a program that is gone
		// (its reader notices too).
		return fmt.Errorf("command: write: %w: %w", backend.ErrGone, err)
	}
	return nil
}

// read delivers the program's messages until its stdout ends.
func (c *conn) read() {
	ctx := context.Background()
	var rerr error
	for {
		msg, err := c.mc.Read(ctx)
		if err != nil {
			rerr = err
			break
		}
		c.pending.Answered(msg)
		if err := c.h(ctx, msg); err != nil {
			c.log.Error("delivering a message from the MCP server program", "err", err)
		}
	}
	if c.closing.Load() {
		close(c.done)
		return
	}
	// The program closed its stdout: it exited or is about to. Reap it to
	// learn why, answer what it left unanswered, then tell the session.
	c.gone.Store(true)
	werr := c.stop()
	c.log.Warn("MCP server program ended; the session's next request starts it again", "read", rerr, "exit", exitText(werr))
	c.pending.Fail(ctx, c.h, "the MCP server program exited before answering ("+exitText(werr)+"); retry the request")
	close(c.done)
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// stop closes the program's stdin and waits for it to exit, signalling it
// after the grace period; once.
func (c *conn) stop() error {
	c.stopOnce.Do(func() {
		c.stopErr = c.mc.Close()
		c.stderr.flush()
	})
	return c.stopErr
}

// Done implements backend.Watched.
func (c *conn) Done() <-chan struct{} { return c.done }

// Close implements backend.Conn: the program's stdin is closed, and it is
// signalled if it does not exit within the grace period.
func (c *conn) Close() error {
	c.closing.Store(true)
	err := c.stop()
	var ee *exec.ExitError
	if errors.As(err, &ee) && !c.gone.Load() {
		// Signalled after the grace period, or exited with a status on
		// the closing of stdin: worth a line, not an error.
		c.log.Debug("MCP server program stopped", "exit", err)
		err = nil
	}
	return err
}

// lineLog writes the program's stderr to the log, one record per line.
type lineLog struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
}

// maxLine bounds a line kept in memory: a program that writes megabytes
// without a newline is logged in pieces.
const maxLine = 8 << 10

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			if len(l.buf) >= maxLine {
				l.emit(l.buf)
				l.buf = l.buf[:0]
			}
			return len(p), nil
		}
		l.emit(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
}

func (l *lineLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(l.buf)
		l.buf = nil
	}
}

func (l *lineLog) emit(line []byte) {
	line = bytes.TrimRight(line, "\r")
	if len(line) == 0 {
		return
	}
	l.log.Info("MCP server stderr", "line", string(line))
}
