package command_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"os"
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
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type fixture struct {
	mgr  *session.Manager
	url  string
	logs *syncbuf.Buffer
}

func start(t *testing.T) *fixture {
	t.Helper()
	logs := new(syncbuf.Buffer)
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	op := command.New(command.Options{
		Name: "test", Command: os.Args[0], Args: []string{"-test.run=^$"},
		Env: map[string]string{serverEnv: "1"}, Terminate: time.Second, Logger: log,
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
