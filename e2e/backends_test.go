package e2e

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/backend/builtin"
)

// SIGKILL of mooring with a stdio program behind it (mooring itself as
// `mooring stdio-builtin`): the program goes with it (its stdin closes), and
// after the restart the same client session goes on without a new
// initialize; the new program got the session's initialize and its
// subscription replayed.
func TestKill_StdioBackend(t *testing.T) {
	args := append(storeArgs(t, "bolt"), "--command", binary+" stdio-builtin", "--log-level", "debug")
	addr := freeAddr(t)
	p := start(t, addr, args...)
	updates := make(chan string, 8)
	pl := new(progressLog)
	cs := connect(t, p.url(), pl, watchUpdates(updates))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "test://watched-resource"}); err != nil {
		t.Fatal(err)
	}
	waitUpdate(t, ctx, updates, "before the kill")
	params := &mcp.CallToolParams{Name: "slow_count", Arguments: map[string]any{"count": 3, "interval_ms": 1}}
	params.SetProgressToken("p")
	if _, err := cs.CallTool(ctx, params); err != nil {
		t.Fatal(err)
	}
	pid := programPID(t, p)
	sid := cs.ID()
	p.kill()
	waitGone(t, pid)

	p2 := start(t, addr, args...)
	goesOn(t, cs, sid, "after restart")
	waitUpdate(t, ctx, updates, "after the restart")
	if pid2 := programPID(t, p2); pid2 == pid {
		t.Errorf("the same program %s after the restart", pid)
	}
	if n := len(pl.snapshot()); n < 3 {
		t.Errorf("%d progress notifications, want 3", n)
	}
}

var pidRE = regexp.MustCompile(`MCP server program started.* pid=(\d+)`)

// programPID reads the pid of the stdio program from mooring's debug log.
func programPID(t *testing.T, p *proc) string {
	t.Helper()
	m := pidRE.FindAllStringSubmatch(p.logs(), -1)
	if len(m) == 0 {
		t.Fatalf("no program start in the log:\n%s", p.logs())
	}
	return m[len(m)-1][1]
}

// waitGone waits until process pid has exited (a zombie waiting for its
// reaper counts as exited).
func waitGone(t *testing.T, pid string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		stat, err := os.ReadFile("/proc/" + pid + "/stat")
		if err != nil || bytes.Contains(stat, []byte(") Z ")) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("program %s still runs after mooring was killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countingUpstream is go-sdk's own Streamable HTTP handler around the
// built-in server, counting the initializes it gets.
type countingUpstream struct {
	mu    sync.Mutex
	inits int
	h     http.Handler
}

func (u *countingUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	h := u.h
	u.mu.Unlock()
	if r.Method == http.MethodPost {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if bytes.Contains(body, []byte(`"method":"initialize"`)) {
			u.mu.Lock()
			u.inits++
			u.mu.Unlock()
		}
	}
	h.ServeHTTP(w, r)
}

func (u *countingUpstream) initializes() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.inits
}

// SIGKILL of mooring with an upstream HTTP server behind it: after the
// restart the same client session goes on; mooring opened a fresh upstream
// session with the client's initialize replayed, and the subscription
// still delivers (through the upstream's GET stream).
func TestKill_UpstreamBackend(t *testing.T) {
	srv := builtin.New()
	up := &countingUpstream{h: mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)}
	hs := httptest.NewServer(up)
	// A cleanup, not a defer: it runs after mooring's (LIFO), once its
	// GET stream upstream is gone; Close waits for open requests.
	t.Cleanup(hs.Close)

	args := append(storeArgs(t, "bolt"), "--upstream", hs.URL)
	addr := freeAddr(t)
	p := start(t, addr, args...)
	updates := make(chan string, 8)
	cs := connect(t, p.url(), nil, watchUpdates(updates))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if got := callText(t, cs, "test_simple_text", nil); got == "" {
		t.Fatal("empty text")
	}
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "test://watched-resource"}); err != nil {
		t.Fatal(err)
	}
	waitUpdate(t, ctx, updates, "before the kill")
	sid := cs.ID()
	p.kill()

	start(t, addr, args...)
	goesOn(t, cs, sid, "after restart")
	waitUpdate(t, ctx, updates, "after the restart")
	if n := up.initializes(); n != 2 {
		t.Errorf("%d initializes upstream, want 2 (the client's, and its replay after the restart)", n)
	}
}

// serveUpstream runs go-sdk's handler around a fresh built-in server on
// addr until the test ends or stop is called.
func serveUpstream(t *testing.T, addr string, up *countingUpstream) (stop func()) {
	t.Helper()
	srv := builtin.New()
	up.mu.Lock()
	up.h = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	up.mu.Unlock()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: up}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return func() { hs.Close() }
}

// The upstream restarts under a live mooring session and forgets it: the
// client's next call is answered by the new upstream, through a fresh
// upstream session that got the client's initialize replayed; the client
// sees no error and keeps its session id.
func TestUpstreamRestart_Transparent(t *testing.T) {
	upAddr := freeAddr(t)
	up := new(countingUpstream)
	stop := serveUpstream(t, upAddr, up)
	p := start(t, freeAddr(t), append(storeArgs(t, "bolt"), "--upstream", "http://"+upAddr+"/mcp")...)
	cs := connect(t, p.url(), nil)
	if got := callText(t, cs, "test_simple_text", nil); got == "" {
		t.Fatal("empty text")
	}
	sid := cs.ID()
	stop()
	serveUpstream(t, upAddr, up)
	goesOn(t, cs, sid, "after the upstream restarted")
	if n := up.initializes(); n != 2 {
		t.Errorf("%d initializes upstream, want 2", n)
	}
	if !strings.Contains(p.logs(), "upstream session lost") {
		t.Errorf("mooring did not log the lost upstream session:\n%s", p.logs())
	}
}
