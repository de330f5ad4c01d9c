package command_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/backend/builtin"
	"github.com/mooring-dev/mooring/backend/command"
	"github.com/mooring-dev/mooring/internal/mcptest"
	"github.com/mooring-dev/mooring/internal/syncbuf"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/transport"
)

// The test binary doubles as the stdio MCP server: run with serverEnv set,
// it serves the built-in server on stdin/stdout, plus "pid" (which process
// answers) and "exit" (the program dies, as programs do).
const serverEnv = "MOORING_COMMAND_TEST_SERVER"

// lingerEnv makes the test server go on running after its stdin closed,
// and ignore SIGTERM: only SIGKILL ends it.
const lingerEnv = "MOORING_COMMAND_TEST_LINGER"

func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) == "1" {
		srv := builtin.New()
		mcp.AddTool(srv, &mcp.Tool{Name: "pid"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strconv.Itoa(os.Getpid())}}}, nil, nil
		})
		mcp.AddTool(srv, &mcp.Tool{Name: "exit"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			fmt.Fprintln(os.Stderr, "test server: exiting on request")
			os.Exit(3)
			return nil, nil, nil
		})
		fmt.Fprintln(os.Stderr, "test server: ready")
		if err := srv.Run(context.Background(), &mcp.StdioTransport{}); err != nil {
			fmt.Fprintln(os.Stderr, "test server:", err)
		}
		if os.Getenv(lingerEnv) == "1" {
			// A program that outlives its stdin and shrugs off SIGTERM
			// (servers with timers running do the first).
			signal.Ignore(syscall.SIGTERM)
			fmt.Fprintln(os.Stderr, "test server: lingering")
			time.Sleep(time.Hour)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type fixture struct {
	mgr  *session.Manager
	url  string
	logs *syncbuf.Buffer
}

func start(t *testing.T) *fixture { return startEnv(t, nil) }

// startEnv starts the fixture with env added to the program's environment.
func startEnv(t *testing.T, env map[string]string) *fixture {
	t.Helper()
	penv := map[string]string{serverEnv: "1"}
	for k, v := range env {
		penv[k] = v
	}
	logs := new(syncbuf.Buffer)
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	op := command.New(command.Options{
		Name: "test", Command: os.Args[0], Args: []string{"-test.run=^$"},
		Env: penv, Terminate: time.Second, Logger: log,
	})
	if err := op.Check(); err != nil {
		t.Fatal(err)
	}
	st := memstore.New(nil)
	mgr := session.New(st, op, &session.Options{Logger: log})
	srv := httptest.NewServer(transport.New(mgr, &transport.Options{Logger: log}))
	t.Cleanup(func() { srv.Close(); mgr.Close(); st.Close() })
	return &fixture{mgr: mgr, url: srv.URL, logs: logs}
}

// A stdio program behind mooring, with go-sdk's client in front: tools,
// progress, sampling and elicitation round trips, subscription updates, and
// the program's stderr in mooring's log under the session's id.
func TestCommand_ThroughMooring(t *testing.T) {
	f := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs := mcptest.Dial(t, ctx, f.url, "")
	if got := mcptest.Text(t, ctx, cs.ClientSession, &mcp.CallToolParams{Name: "test_simple_text"}); got == "" {
		t.Error("empty answer")
	}
	mcptest.RoundTrips(t, ctx, cs)
	logs := f.logs.String()
	if !strings.Contains(logs, "test server: ready") || !strings.Contains(logs, "session="+cs.ID()) {
		t.Errorf("the program's stderr is not in the log with the session id:\n%s", logs)
	}
}

// A program that exits on its own: the request it was serving gets an error
// that says so; the next request runs in a new process that got the
// session's initialize replayed, and the client goes on without noticing.
// Closing the session's backend ends the process.
func TestCommand_ProgramExitsThenRestarts(t *testing.T) {
	f := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs := mcptest.Dial(t, ctx, f.url, "").ClientSession
	pid1 := mcptest.Text(t, ctx, cs, &mcp.CallToolParams{Name: "pid"})

	_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "exit"})
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("the request that killed the program: %v, want an error that says it exited", err)
	}
	pid2 := mcptest.Text(t, ctx, cs, &mcp.CallToolParams{Name: "pid"})
	if pid2 == pid1 {
		t.Fatalf("same process %s after it exited", pid1)
	}
	logs := f.logs.String()
	for _, want := range []string{"exiting on request", "exit status 3", "session restored"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}

	// Close: the manager closes the backend, the program goes.
	n, _ := strconv.Atoi(pid2)
	f.mgr.Close()
	if err := syscall.Kill(n, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("program %d still there after Close: %v", n, err)
	}
}

// A program that cannot be found fails at Check, and a session that cannot
// start it fails with the reason.
func TestCommand_MissingProgram(t *testing.T) {
	op := command.New(command.Options{Command: "mooring-no-such-program"})
	if err := op.Check(); err == nil || !strings.Contains(err.Error(), "mooring-no-such-program") {
		t.Errorf("Check: %v", err)
	}
	if _, err := op.Open(context.Background(), "s", nil); err == nil {
		t.Error("Open of a missing program succeeded")
	}
}

// DELETE of a session whose client holds its GET stream open, in front of a
// program that outlives its stdin: DELETE answers without waiting for the
// program, the client's GET stream reconnecting meanwhile finds the session
// gone (404) instead of restoring it into a new program, and the program is
// ended (SIGTERM ignored here, so SIGKILL) after its grace period.
func TestCommand_DeleteEndsLingeringProgram(t *testing.T) {
	f := startEnv(t, map[string]string{lingerEnv: "1"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs := mcptest.Dial(t, ctx, f.url, "").ClientSession // holds the GET stream
	pid, _ := strconv.Atoi(mcptest.Text(t, ctx, cs, &mcp.CallToolParams{Name: "pid"}))

	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, f.url, nil)
	req.Header.Set("Mcp-Session-Id", cs.ID())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The program needs its grace period twice (stdin, then SIGTERM)
	// before SIGKILL: if DELETE had waited for it, it would be gone.
	alive := syscall.Kill(pid, 0) == nil
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %s", resp.Status)
	}
	if !alive {
		t.Errorf("DELETE answered only after the program %d had ended: it waited for the program", pid)
	}
	deadline := time.Now().Add(20 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("program %d still runs 20s after DELETE", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	logs := f.logs.String()
	if n := strings.Count(logs, "MCP server program started"); n != 1 {
		t.Errorf("%d programs started, want 1: the session was restored during its DELETE\n%s", n, logs)
	}
	if strings.Contains(logs, "session restored") {
		t.Errorf("the session was restored during its DELETE:\n%s", logs)
	}
}
