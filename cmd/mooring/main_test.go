package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/internal/syncbuf"
)

// server is a mooring run in-process by run(), as the CLI runs it.
type server struct {
	addr   string
	cancel context.CancelFunc
	done   chan int
	log    *syncbuf.Buffer
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

func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	s := &server{addr: freeAddr(t), done: make(chan int, 1), log: new(syncbuf.Buffer)}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go func() { s.done <- run(ctx, append([]string{"serve", "--addr", s.addr}, args...), io.Discard, s.log) }()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("mooring log:\n%s", s.log.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := http.Get("http://" + s.addr + "/healthz"); err == nil {
			resp.Body.Close()
			return s
		}
		select {
		case code := <-s.done:
			t.Fatalf("mooring exited with %d:\n%s", code, s.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("mooring did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *server) stop(t *testing.T) {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case code := <-s.done:
		if code != 0 {
			t.Errorf("mooring serve exited with %d after SIGTERM-like shutdown", code)
		}
	case <-time.After(15 * time.Second):
		t.Error("mooring did not drain within 15s")
	}
}

func (s *server) url() string { return "http://" + s.addr }

// cli runs one mooring command and returns its exit status and output.
func cli(t *testing.T, args ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, &out, &errOut)
	return code, out.String() + errOut.String()
}

func connect(t *testing.T, url string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "cli-test", Version: "1"}, nil)
	// Sessions are what these tests look at: the sessionful era (go-sdk's
	// client would otherwise be served statelessly, as 2026-07-28).
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url + "/mcp"}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func TestCLI_HealthAgainstRunningMooring(t *testing.T) {
	s := startServer(t, "--store", "bolt", "--data-dir", t.TempDir())
	code, out := cli(t, "health", "--url", s.url()+"/mcp")
	if code != 0 || !strings.Contains(out, "status: healthy") || !strings.Contains(out, "store: bolt") {
		t.Fatalf("health: exit %d, output:\n%s", code, out)
	}
	s.stop(t)
	code, out = cli(t, "health", "--url", s.url())
	if code != 2 || !strings.Contains(out, "unhealthy") {
		t.Fatalf("health of a stopped mooring: exit %d, output:\n%s", code, out)
	}
}

func TestCLI_SessionsListShowEnd(t *testing.T) {
	s := startServer(t, "--store", "memory")
	cs := connect(t, s.url())
	if _, err := cs.ListTools(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	code, out := cli(t, "sessions", "list", "--url", s.url())
	if code != 0 || !strings.Contains(out, cs.ID()) {
		t.Fatalf("sessions list: exit %d, output:\n%s", code, out)
	}
	code, out = cli(t, "sessions", "show", cs.ID(), "--url", s.url())
	var info struct {
		Record struct {
			ID              string `json:"id"`
			ProtocolVersion string `json:"protocolVersion"`
		} `json:"record"`
		Streams []struct{ ID string } `json:"streams"`
	}
	if err := json.Unmarshal([]byte(out), &info); code != 0 || err != nil || info.Record.ID != cs.ID() || info.Record.ProtocolVersion == "" || len(info.Streams) == 0 {
		t.Fatalf("sessions show: exit %d, %v, output:\n%s", code, err, out)
	}
	code, out = cli(t, "sessions", "end", cs.ID(), "--url", s.url())
	if code != 0 {
		t.Fatalf("sessions end: exit %d, output:\n%s", code, out)
	}
	if _, err := cs.ListTools(context.Background(), nil); err == nil {
		t.Fatal("the ended session still answers")
	}
	if code, _ := cli(t, "sessions", "show", cs.ID(), "--url", s.url()); code == 0 {
		t.Error("show of an ended session succeeds")
	}
}

// sessions reads the store directly when no mooring holds it.
func TestCLI_SessionsFromStore(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, "--store", "bolt", "--data-dir", dir)
	cs := connect(t, s.url())
	id := cs.ID()
	s.stop(t)
	code, out := cli(t, "sessions", "list", "--store", "bolt", "--data-dir", dir)
	if code != 0 || !strings.Contains(out, id) {
		t.Fatalf("sessions list from the bolt file: exit %d, output:\n%s", code, out)
	}
	if code, out := cli(t, "sessions", "end", id, "--store", "bolt", "--data-dir", dir); code != 0 {
		t.Fatalf("sessions end: exit %d, output:\n%s", code, out)
	}
	if code, out := cli(t, "sessions", "list", "--store", "bolt", "--data-dir", dir); code != 0 || strings.Contains(out, id) {
		t.Fatalf("ended session still listed: exit %d, output:\n%s", code, out)
	}
}

func TestCLI_InitWritesAConfigThatServeReads(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mooring.json")
	addr := freeAddr(t)
	code, out := cli(t, "init", "--store", "bolt", "--data-dir", filepath.Join(dir, "data"), "--addr", addr, "--out", cfg)
	if code != 0 || !strings.Contains(out, "writable") || !strings.Contains(out, `"url": "http://`+addr+`/mcp"`) {
		t.Fatalf("init: exit %d, output:\n%s", code, out)
	}
	// and the stdio line for clients that reach it through mooring connect
	if !strings.Contains(out, `"command": "mooring"`) || !strings.Contains(out, `"connect",`+"\n"+`        "http://`+addr+`/mcp"`) {
		t.Errorf("init prints no mooring connect snippet:\n%s", out)
	}
	if code, _ := cli(t, "init", "--out", cfg, "--data-dir", filepath.Join(dir, "data")); code == 0 {
		t.Error("init overwrote an existing config without --force")
	}
	// serve --config uses the file's address and store.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"serve", "--config", cfg}, io.Discard, io.Discard) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), `"kind": "bolt"`) {
				t.Fatalf("serve --config: readyz %s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("serve --config did not listen on the configured address")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "mooring.db")); err != nil {
		t.Errorf("bolt file not in the configured data dir: %v", err)
	}
}

func TestCLI_BadInput(t *testing.T) {
	for _, args := range [][]string{
		{"nonsense"},
		{"serve", "--store", "floppy"},
		{"serve", "--response-mode", "xml"},
		{"sessions"},
		{"sessions", "show"},
		{"sessions", "cancel", "x", "--store", "memory"},
		{"tasks", "end", "x", "--store", "memory"},
	} {
		if code, out := cli(t, args...); code == 0 {
			t.Errorf("%v: exit 0, output:\n%s", args, out)
		}
	}
	if code, out := cli(t, "version"); code != 0 || !strings.HasPrefix(out, "mooring ") {
		t.Errorf("version: exit %d, %q", code, out)
	}
}

// SIGTERM drains: an open SSE stream ends with a retry hint so that its
// client reconnects, and serve exits 0 (stop checks it).
func TestServe_ShutdownEndsStreamsWithRetry(t *testing.T) {
	s := startServer(t, "--store", "bolt", "--data-dir", t.TempDir(), "--sse-retry", "750ms")
	cs := connect(t, s.url())
	req, _ := http.NewRequest(http.MethodGet, s.url()+"/mcp", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", cs.ID())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET stream: %s", resp.Status)
	}
	// The priming event, with its retry field, says that the stream is
	// served; only then does the shutdown have a stream to end.
	br := bufio.NewReader(resp.Body)
	prime, err := br.ReadString('\n')
	for err == nil && !strings.HasSuffix(prime, "\n\n") {
		var line string
		line, err = br.ReadString('\n')
		prime += line
	}
	if err != nil || !strings.Contains(prime, "retry: 750\n") {
		t.Fatalf("GET stream: priming event %q, %v", prime, err)
	}
	got := make(chan string, 1)
	go func() { b, _ := io.ReadAll(br); got <- string(b) }()
	s.stop(t) // cancels serve's context, as SIGTERM does
	select {
	case body := <-got:
		// The shutdown adds its own retry field as the stream's last frame.
		if !strings.HasSuffix(body, "retry: 750\n\n") {
			t.Fatalf("stream ended without a retry hint:\n%q", body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the open stream did not end on shutdown")
	}
}
