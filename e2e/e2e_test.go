// Package e2e runs the mooring binary as a user would: it kills it with
// SIGKILL in the middle of sessions and streams, starts it again on the same
// store, and checks with go-sdk's client that nothing was lost.
package e2e

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/internal/syncbuf"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mooring-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "mooring")
	build := exec.Command("go", "build", "-race", "-o", binary, "../cmd/mooring")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building mooring:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one running mooring.
type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	log  *syncbuf.Buffer // its stdout and stderr
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// start runs mooring on addr with args and waits until it accepts.
func start(t *testing.T, addr string, args ...string) *proc {
	t.Helper()
	return startBinary(t, binary, addr, args...)
}

// startBinary is start with another build of mooring.
func startBinary(t *testing.T, bin, addr string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, addr: addr, log: new(syncbuf.Buffer)}
	p.cmd = exec.Command(bin, append([]string{"serve", "--addr", addr, "--sse-retry", "100ms"}, args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("mooring log:\n%s", p.logs())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("mooring did not start: %v\n%s", err, p.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *proc) logs() string { return p.log.String() }

// kill ends mooring with SIGKILL: no shutdown, no flush.
func (p *proc) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

func (p *proc) url() string { return "http://" + p.addr + "/mcp" }

// sigterm stops mooring gracefully and waits for it to exit; an exit
// other than 0 fails the test.
func (p *proc) sigterm(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM mooring on %s: %v", p.addr, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("mooring on %s exited after SIGTERM with %v", p.addr, err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("mooring on %s did not exit within 60 s of SIGTERM\n%s", p.addr, p.logs())
	}
}

type progressLog struct {
	mu  sync.Mutex
	got []float64
}

func (l *progressLog) handler(ctx context.Context, req *mcp.ProgressNotificationClientRequest) {
	l.mu.Lock()
	l.got = append(l.got, req.Params.Progress)
	l.mu.Unlock()
}

func (l *progressLog) snapshot() []float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]float64(nil), l.got...)
}

func connect(t *testing.T, url string, pl *progressLog, more ...func(*mcp.ClientOptions)) *mcp.ClientSession {
	t.Helper()
	opts := &mcp.ClientOptions{}
	if pl != nil {
		opts.ProgressNotificationHandler = pl.handler
	}
	for _, f := range more {
		f(opts)
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, opts)
	// Durable sessions belong to the sessionful era: without a version,
	// go-sdk's client would be served statelessly (2026-07-28).
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{
		Endpoint: url, MaxRetries: 20, HTTPClient: &http.Client{},
	}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// watchUpdates is a connect option that sends the URI of every
// notifications/resources/updated to updates.
func watchUpdates(updates chan<- string) func(*mcp.ClientOptions) {
	return func(o *mcp.ClientOptions) {
		o.ResourceUpdatedHandler = func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			updates <- req.Params.URI
		}
	}
}

// goesOn checks that session sid answers a call on the same client, with
// the same id, after what happened (when).
func goesOn(t *testing.T, cs *mcp.ClientSession, sid, when string) {
	t.Helper()
	if got := callText(t, cs, "slow_count", map[string]any{"count": 2, "interval_ms": 1}); !strings.Contains(got, "2") {
		t.Errorf("%s: got %q", when, got)
	}
	if cs.ID() != sid {
		t.Errorf("%s: session id changed: %s -> %s", when, sid, cs.ID())
	}
}

func callText(t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if res.IsError || len(res.Content) == 0 {
		t.Fatalf("%s: error result %v", name, res.Content)
	}
	return res.Content[0].(*mcp.TextContent).Text
}

// storeArgs are the flags of each durable store under test, for one test.
func storeArgs(t *testing.T, kind string) []string {
	switch kind {
	case "bolt":
		return []string{"--store", "bolt", "--data-dir", t.TempDir()}
	case "redis":
		return redisArgs(t)
	}
	t.Fatalf("unknown store %q", kind)
	return nil
}

// A session goes on after SIGKILL and a restart: the same client, the same
// session id, no new initialize.
func TestKill_SessionSurvives(t *testing.T) {
	for _, kind := range []string{"bolt", "redis"} {
		t.Run(kind, func(t *testing.T) {
			args := storeArgs(t, kind)
			addr := freeAddr(t)
			p := start(t, addr, args...)
			updates := make(chan string, 8)
			cs := connect(t, p.url(), nil, watchUpdates(updates))
			if got := callText(t, cs, "test_simple_text", nil); got == "" {
				t.Fatal("empty text")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "test://watched-resource"}); err != nil {
				t.Fatal(err)
			}
			waitUpdate(t, ctx, updates, "before the kill")
			sid := cs.ID()
			p.kill()

			start(t, addr, args...)
			goesOn(t, cs, sid, "after restart")
			// The restore gave the new backend the subscription back: the
			// resource's next change reaches the client.
			waitUpdate(t, ctx, updates, "after the restart")
		})
	}
}

// SIGKILL in the middle of a stream: after the restart the client resumes
// with Last-Event-ID and gets every progress event exactly once and in
// order. The call cut off is idempotent (slow_count), so it is run again
// and answers with its result (the re-run's progress up to where the
// client was is not sent again); a call that is not safe to repeat (an
// elicitation waiting for the client) gets an interruption error.
func TestKill_MidStream(t *testing.T) {
	for _, kind := range []string{"bolt", "redis"} {
		t.Run(kind, func(t *testing.T) {
			args := storeArgs(t, kind)
			addr := freeAddr(t)
			p := start(t, addr, args...)
			pl := new(progressLog)
			asked, release := make(chan struct{}, 1), make(chan struct{})
			cs := connect(t, p.url(), pl, func(o *mcp.ClientOptions) {
				o.ElicitationHandler = func(ctx context.Context, _ *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
					asked <- struct{}{}
					<-release
					return &mcp.ElicitResult{Action: "decline"}, nil
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()

			const count = 300
			resc := make(chan error, 1)
			go func() {
				params := &mcp.CallToolParams{Name: "slow_count", Arguments: map[string]any{"count": count, "interval_ms": 20}}
				params.SetProgressToken("k")
				res, err := cs.CallTool(ctx, params)
				if err == nil && (res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, fmt.Sprintf("counted to %d", count))) {
					err = fmt.Errorf("result %v", res.Content)
				}
				resc <- err
			}()
			elicc := make(chan error, 1)
			go func() {
				_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_elicitation", Arguments: map[string]any{"message": "m"}})
				if err == nil {
					err = errors.New("the elicitation call finished although its server was killed")
				}
				elicc <- err
			}()
			deadline := time.Now().Add(20 * time.Second)
			for len(pl.snapshot()) < 5 {
				if time.Now().After(deadline) {
					t.Fatal("no progress before the kill")
				}
				time.Sleep(10 * time.Millisecond)
			}
			select {
			case <-asked:
			case <-time.After(20 * time.Second):
				t.Fatal("no elicitation before the kill")
			}
			p.kill()
			seen := len(pl.snapshot())
			close(release)
			start(t, addr, args...)

			select {
			case err := <-elicc:
				if !strings.Contains(err.Error(), "interrupted") {
					t.Errorf("cut-off elicitation: %v, want an interruption error", err)
				}
			case <-time.After(45 * time.Second):
				t.Fatal("the cut-off elicitation never got an answer")
			}
			select {
			case err := <-resc:
				if err != nil {
					t.Errorf("cut-off slow_count: %v, want its result (it is idempotent: run again)", err)
				}
			case <-time.After(45 * time.Second):
				t.Fatal("the cut-off slow_count never got an answer")
			}
			got := pl.snapshot()
			if len(got) < seen {
				t.Fatalf("progress went backwards: %d then %d", seen, len(got))
			}
			for i, v := range got {
				if v != float64(i+1) {
					t.Fatalf("progress %v: gap or duplicate at %d", got, i)
				}
			}
			// The session itself goes on.
			if got := callText(t, cs, "test_simple_text", nil); got == "" {
				t.Error("empty text after restart")
			}
		})
	}
}

func waitUpdate(t *testing.T, ctx context.Context, updates <-chan string, when string) {
	t.Helper()
	select {
	case uri := <-updates:
		if uri != "test://watched-resource" {
			t.Fatalf("update %s for %q", when, uri)
		}
	case <-ctx.Done():
		t.Fatalf("no notifications/resources/updated for the subscription %s", when)
	}
}
