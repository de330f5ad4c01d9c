package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// variant is one server configuration under test.
type variant struct {
	Server  string   // mooring, go-sdk, mcp-go, ts-sdk, plain
	Mode    string   // sse, json, store
	Store   string   // mooring: memory, bolt, redis
	Backend string   // mooring: gosdk, raw
	Extra   []string // more mooring flags
	Label   string   // appended to the name, for Extra
}

func (v variant) Name() string {
	switch v.Server {
	case "mooring":
		return strings.TrimSpace(fmt.Sprintf("mooring %s/%s %s %s", v.Store, v.Backend, v.Mode, v.Label))
	case "go-sdk", "ts-sdk", "mcp-go":
		return v.Server + " " + v.Mode
	}
	return v.Server
}

// key is a short id for flags and file names.
func (v variant) Key() string {
	r := strings.NewReplacer(" ", "-", "/", "-")
	return r.Replace(v.Name())
}

// env is what the harness knows to start servers.
type env struct {
	bin      string // directory of the built Go servers
	node     string // node binary
	tsDir    string // bench/ts
	redisURL string
	logDir   string
}

// proc is a running server.
type proc struct {
	cmd  *exec.Cmd
	addr string
	log  string
	done chan struct{}
	// auth: the server wants a bearer token, which each client gets at
	// benchauth.TokenPath (a subject of its own, as distinct users).
	auth bool
}

// token fetches a token for one client of an --auth-jwt server ("" for
// others).
func (p *proc) token(hc *http.Client) (string, error) {
	if !p.auth {
		return "", nil
	}
	resp, err := hc.Get("http://" + p.addr + "/bench/token")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token: %s %v", resp.Status, err)
	}
	return string(b), nil
}

func (e *env) argv(v variant, addr string, extra ...string) []string {
	switch v.Server {
	case "mooring":
		a := []string{filepath.Join(e.bin, "mooring"), "--addr", addr, "--store", v.Store, "--backend", v.Backend, "--mode", v.Mode}
		if v.Store == "redis" {
			a = append(a, "--redis-url", e.redisURL)
		}
		a = append(a, v.Extra...)
		return append(a, extra...)
	case "go-sdk":
		return []string{filepath.Join(e.bin, "gosdk"), "--addr", addr, "--mode", v.Mode}
	case "mcp-go":
		return []string{filepath.Join(e.bin, "mcpgo"), "--addr", addr}
	case "plain":
		return []string{filepath.Join(e.bin, "plain"), "--addr", addr}
	case "ts-sdk":
		return []string{e.node, filepath.Join(e.tsDir, "server.mjs"), "--addr", addr}
	}
	panic("unknown server " + v.Server)
}

// start runs a server on addr (a free port if empty) and waits until it
// accepts connections.
func (e *env) start(v variant, addr string, extra ...string) (*proc, error) {
	if addr == "" {
		addr = freeAddr()
	}
	argv := e.argv(v, addr, extra...)
	logPath := filepath.Join(e.logDir, v.Key()+".log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if v.Server == "ts-sdk" {
		cmd.Dir = e.tsDir
		cmd.Env = append(os.Environ(), "NODE_ENV=production")
	}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	p := &proc{cmd: cmd, addr: addr, log: logPath, done: make(chan struct{}), auth: slices.Contains(v.Extra, "--auth-jwt")}
	go func() { _ = cmd.Wait(); lf.Close(); close(p.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("%s exited at start; see %s", v.Name(), logPath)
		default:
		}
		if time.Now().After(deadline) {
			p.kill()
			return nil, fmt.Errorf("%s did not listen on %s in 20s; see %s", v.Name(), addr, logPath)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) url() string { return "http://" + p.addr + "/mcp" }
func (p *proc) pid() int    { return p.cmd.Process.Pid }

// stop ends the server with SIGTERM (so that profiles are written), then
// SIGKILL after a grace period.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		p.kill()
	}
}

// kill ends the server at once, as a crash would.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// rssBytes reads VmRSS of pid.
func rssBytes(pid int) int64 {
	rss, _ := residentBytes(pid)
	return rss
}

// residentBytes reads VmRSS of pid and the part of it in mapped files
// (RssFile), such as bolt's mmap of its data file: the store's pages,
// which the kernel can drop and read again, not the process' own memory.
func residentBytes(pid int) (rss, file int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb * 1024
		case "RssFile:":
			file = kb * 1024
		}
	}
	return rss, file
}

// cpuTime reads utime+stime of pid (clock ticks of 10 ms).
func cpuTime(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}

func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// redisServer is the run's own redis-server on a free loopback port.
type redisServer struct {
	cmd  *exec.Cmd
	port string
	dir  string
}

func startRedis(dir string) (*redisServer, error) {
	_, port, _ := net.SplitHostPort(freeAddr())
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--loglevel", "warning")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	lf, err := os.Create(filepath.Join(dir, "redis.log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("redis-server: %w (is it installed? make setup)", err)
	}
	r := &redisServer{cmd: cmd, port: port, dir: dir}
	for i := 0; i < 200; i++ {
		if out, err := r.cli("PING"); err == nil && strings.TrimSpace(out) == "PONG" {
			return r, nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	r.stop()
	return nil, fmt.Errorf("redis-server did not answer on port %s", port)
}

func (r *redisServer) url() string { return "redis://127.0.0.1:" + r.port }

func (r *redisServer) cli(args ...string) (string, error) {
	out, err := exec.Command("redis-cli", append([]string{"-p", r.port}, args...)...).CombinedOutput()
	return string(out), err
}

// usedMemory is INFO memory's used_memory.
func (r *redisServer) usedMemory() int64 {
	out, err := r.cli("INFO", "memory")
	if err != nil {
		return 0
	}
	m := regexp.MustCompile(`(?m)^used_memory:(\d+)`).FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseInt(m[1], 10, 64)
	return n
}

func (r *redisServer) flush() { _, _ = r.cli("FLUSHALL") }

func (r *redisServer) stop() {
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
}
