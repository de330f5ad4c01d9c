// Package redistest starts real redis-server processes for tests: one server
// on a free loopback port, or a small Cluster of masters.
//
// Servers bind 127.0.0.1 only, keep their data in a temporary directory and
// are stopped by t.Cleanup. By default they persist nothing (--save "",
// --appendonly no); AppendOnly turns on the append-only file so that a test
// can Restart a server and find its data again.
//
// A test is skipped, with a message that says what to install, when
// redis-server (or, for clusters, redis-cli) is not on PATH. The project's
// test command installs both, so in CI nothing is skipped.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/internal/syncbuf"
)

// How long a server may take to answer its first PING, and to stop.
const (
	startTimeout = 10 * time.Second
	stopTimeout  = 10 * time.Second
)

// Option configures a Server.
type Option func(*config)

type config struct {
	appendOnly bool
	dir        string
	password   string
	args       []string

	sentinelConf string // set by StartSentinel: run as a Sentinel
}

// AppendOnly turns on the append-only file (fsync on every write), so that
// data survives Stop and Restart.
func AppendOnly() Option { return func(c *config) { c.appendOnly = true } }

// Dir keeps the server's data in dir instead of a fresh t.TempDir().
func Dir(dir string) Option { return func(c *config) { c.dir = dir } }

// Password starts the server with --requirepass; URL and Command then
// authenticate with it.
func Password(pw string) Option { return func(c *config) { c.password = pw } }

// Args appends raw redis-server arguments, for example
// Args("--user", "alice", "on", ">secret", "~*", "+@all").
func Args(args ...string) Option {
	return func(c *config) { c.args = append(c.args, args...) }
}

// Server is one redis-server process. Its methods are safe for concurrent
// use.
type Server struct {
	tb     testing.TB
	bin    string
	port   int
	config config

	mu   sync.Mutex // guards the fields below
	proc *process   // nil while stopped
}

// process is one run of redis-server.
type process struct {
	cmd  *exec.Cmd
	out  *syncbuf.Buffer
	done chan struct{} // closed when the process has exited
	err  error         // the exit status; read after done is closed
}

// Start starts a redis-server on a free loopback port and waits until it
// answers PING. The server is stopped when the test ends.
func Start(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	bin := lookPath(tb, "redis-server")
	s := &Server{tb: tb, bin: bin}
	for _, o := range opts {
		o(&s.config)
	}
	if s.config.dir == "" {
		s.config.dir = tb.TempDir()
	}
	// Another process can take a free port between our probe and redis'
	// bind; try a few ports before giving up.
	var err error
	for range 5 {
		if s.port, err = freePort(); err != nil {
			break
		}
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.stop(); err != nil {
			tb.Errorf("redistest: %v", err)
		}
	})
	return s
}

// Addr returns host:port of the server.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Port returns the server's port.
func (s *Server) Port() int { return s.port }

// Dir returns the server's data directory.
func (s *Server) Dir() string { return s.config.dir }

// URL returns a redis:// URL for the server, with the password if one was
// set.
func (s *Server) URL() string {
	if s.config.password != "" {
		return "redis://:" + s.config.password + "@" + s.Addr()
	}
	return "redis://" + s.Addr()
}

// Stop stops the server (SIGTERM, so that it flushes its append-only file).
// Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.tb.Helper()
	if err := s.stop(); err != nil {
		s.tb.Fatalf("redistest: %v", err)
	}
}

// Kill ends the server with SIGKILL: no flush, its clients' connections
// cut. Start it again with Restart. Killing a stopped server does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p := s.proc; p != nil {
		s.proc = nil
		p.kill()
	}
}

// Restart stops the server if it runs and starts it again on the same port
// with the same data directory.
func (s *Server) Restart() {
	s.tb.Helper()
	if err := s.stop(); err != nil {
		s.tb.Fatalf("redistest: %v", err)
	}
	if err := s.start(); err != nil {
		s.tb.Fatalf("redistest: restart: %v", err)
	}
}

// Command sends one command over a fresh connection and returns its reply as
// text (arrays as their elements, one per line). A redis error reply is
// returned as an error.
func (s *Server) Command(args ...string) (string, error) {
	return command(s.Addr(), s.config.password, args...)
}

func (s *Server) serverArgs() []string {
	if s.config.sentinelConf != "" {
		return []string{
			s.config.sentinelConf, "--sentinel",
			"--port", strconv.Itoa(s.port),
			"--bind", "127.0.0.1",
			"--dir", s.config.dir,
			"--daemonize", "no",
			"--logfile", "",
		}
	}
	args := []string{
		"--port", strconv.Itoa(s.port),
		"--bind", "127.0.0.1",
		"--dir", s.config.dir,
		"--save", "",
		"--daemonize", "no",
		"--logfile", "",
	}
	if s.config.appendOnly {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	if s.config.password != "" {
		args = append(args, "--requirepass", s.config.password)
	}
	return append(args, s.config.args...)
}

func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return errors.New("server already running")
	}
	p := &process{out: new(syncbuf.Buffer), done: make(chan struct{})}
	p.cmd = exec.Command(s.bin, s.serverArgs()...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	if err := waitReady(s.Addr(), p); err != nil {
		p.kill()
		return fmt.Errorf("redis-server on port %d: %w\n%s", s.port, err, p.out.String())
	}
	s.proc = p
	return nil
}

func (s *Server) stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
		p.kill()
		return fmt.Errorf("redis-server on port %d did not stop within %v; killed\n%s", s.port, stopTimeout, p.out.String())
	}
}

func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// waitReady polls the server with PING until it answers. Any reply counts,
// an error like NOAUTH too: it proves that the server is up.
func waitReady(addr string, p *process) error {
	deadline := time.Now().Add(startTimeout)
	for {
		_, err := command(addr, "", "PING")
		var re redisError
		if err == nil || errors.As(err, &re) {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited early: %v", p.err)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no answer to PING within %v: %w", startTimeout, err)
		}
	}
}

func lookPath(tb testing.TB, name string) string {
	tb.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		tb.Skipf("redistest: %s not found on PATH; install it (apt-get install redis-server redis-tools) to run this test", name)
	}
	return bin
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// redisError is an error reply from the server.
type redisError string

func (e redisError) Error() string { return string(e) }

// command is a minimal RESP client, enough to probe and configure a test
// server without depending on a client library.
func command(addr, password string, args ...string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	if password != "" {
		if _, err := roundTrip(conn, r, "AUTH", password); err != nil {
			return "", fmt.Errorf("AUTH: %w", err)
		}
	}
	return roundTrip(conn, r, args...)
}

func roundTrip(w io.Writer, r *bufio.Reader, args ...string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return "", err
	}
	return readReply(r)
}

func readReply(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return "", errors.New("empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+', ':':
		return body, nil
	case '-':
		return "", redisError(body)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return "", err // a nil bulk string reads as ""
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil {
			return "", err
		}
		elems := make([]string, 0, max(n, 0))
		for range n {
			e, err := readReply(r)
			if err != nil {
				return "", err
			}
			elems = append(elems, e)
		}
		return strings.Join(elems, "\n"), nil
	default:
		return "", fmt.Errorf("unexpected reply %q", line)
	}
}
