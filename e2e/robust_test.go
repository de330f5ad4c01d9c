package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// scrape reads mooring's /metrics and returns the value of each sample
// without labels (go_goroutines, process_open_fds, ...), and the size of
// the text.
func scrape(t *testing.T, addr string) (map[string]float64, int) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("/metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	out := make(map[string]float64)
	for line := range strings.SplitSeq(string(body), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(value, 64); err == nil {
			out[name] = v
		}
	}
	return out, len(body)
}

var plain struct {
	once sync.Once
	path string
	err  error
}

// plainBinary builds mooring without the race detector, whose shadow memory
// would hide what the process gives back.
func plainBinary(t *testing.T) string {
	t.Helper()
	plain.once.Do(func() {
		plain.path = filepath.Join(filepath.Dir(binary), "mooring-plain")
		out, err := exec.Command("go", "build", "-o", plain.path, "../cmd/mooring").CombinedOutput()
		if err != nil {
			plain.err = fmt.Errorf("building mooring: %v\n%s", err, out)
		}
	})
	if plain.err != nil {
		t.Fatal(plain.err)
	}
	return plain.path
}

// statuses counts the HTTP statuses that the probes got back.
type statuses struct {
	mu  sync.Mutex
	got map[int]int
}

func (s *statuses) add(code int) {
	s.mu.Lock()
	if s.got == nil {
		s.got = make(map[int]int)
	}
	s.got[code]++
	s.mu.Unlock()
}

// readStatus reads the status of one answer from c (0 if none came).
func readStatus(c net.Conn, within time.Duration) int {
	_ = c.SetReadDeadline(time.Now().Add(within))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// rawPost sends a whole POST on a fresh connection and returns the
// connection, its answer unread.
func rawPost(t *testing.T, addr, sid string, extra, body string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Errorf("dial: %v", err)
		return nil
	}
	hdr := "POST /mcp HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
	if sid != "" {
		hdr += "Mcp-Session-Id: " + sid + "\r\nMcp-Protocol-Version: 2025-11-25\r\n"
	}
	fmt.Fprintf(c, "%s%sContent-Length: %d\r\n\r\n%s", hdr, extra, len(body), body)
	return c
}

// The probes of issue 11 against the real binary, all at once: stalled and
// truncated bodies, big headers, random methods, answers that are never
// read, idle keep-alive connections, foreign Hosts on the admin API, and
// malformed JSON-RPC. mooring answers none of them with a 5xx, does not
// crash, keeps /healthz answering throughout, and gives back its
// goroutines, descriptors and memory once the connections are gone.
func TestRobustness_AbusiveClients(t *testing.T) {
	// A memory limit makes the Go runtime collect as soon as the heap
	// nears it, so that the heap measured at the end is what is live, not
	// garbage that no collection has freed yet.
	t.Setenv("GOMEMLIMIT", "64MiB")
	p := startBinary(t, plainBinary(t), freeAddr(t), "--data-dir", t.TempDir(),
		"--read-timeout", "2s", "--write-timeout", "2s", "--idle-timeout", "2s", "--max-connections", "1000")
	addr := p.addr

	// A session to aim at, and a warm process to measure from.
	cs := connect(t, p.url(), nil)
	if _, err := cs.ListTools(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	sid := cs.ID()
	// The never-read answers go to a session of their own, ended before
	// the measurement: a live session keeps memory of its large requests
	// until it ends or is evicted (not what this test is about).
	bigSession := connect(t, p.url(), nil)
	base, baseSize := scrape(t, addr)

	// /healthz on fresh connections, every 100 ms, throughout.
	var healthFails, healthOK atomic.Int64
	stopHealth := make(chan struct{})
	healthDone := make(chan struct{})
	go func() {
		defer close(healthDone)
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		for {
			select {
			case <-stopHealth:
				return
			case <-time.After(100 * time.Millisecond):
			}
			resp, err := client.Get("http://" + addr + "/healthz")
			if err != nil || resp.StatusCode != http.StatusOK {
				healthFails.Add(1)
				t.Logf("/healthz: %v", err)
			} else {
				healthOK.Add(1)
			}
			if err == nil {
				resp.Body.Close()
			}
		}
	}()

	var st statuses
	var wg sync.WaitGroup
	var conns []net.Conn
	var connsMu sync.Mutex
	keep := func(c net.Conn) {
		if c != nil {
			connsMu.Lock()
			conns = append(conns, c)
			connsMu.Unlock()
		}
	}
	// Collect the answer of c in the background.
	answer := func(c net.Conn, within time.Duration) {
		if c == nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			st.add(readStatus(c, within))
		}()
	}

	// 200 bodies that stop after a few bytes (Content-Length larger than
	// what is sent), 50 truncated chunked bodies.
	for range 200 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		fmt.Fprintf(c, "POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Session-Id: %s\r\nContent-Length: 100000\r\n\r\n{\"jsonrpc\":", addr, sid)
		keep(c)
		answer(c, 15*time.Second)
	}
	for range 50 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		fmt.Fprintf(c, "POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Session-Id: %s\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"jsonrpc\":\"2.0\"\r\n", addr, sid)
		keep(c)
		answer(c, 15*time.Second)
	}
	// 50 requests with 200 kB of headers.
	big := strings.Repeat("b", 200<<10)
	for range 50 {
		c := rawPost(t, addr, sid, "X-Big: "+big+"\r\n", `{"jsonrpc":"2.0","id":2,"method":"ping"}`)
		keep(c)
		answer(c, 15*time.Second)
	}
	// 500 random methods of 200 bytes.
	for range 500 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		method := make([]byte, 200)
		for i := range method {
			method[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[rand.IntN(26)]
		}
		fmt.Fprintf(c, "%s /mcp HTTP/1.1\r\nHost: %s\r\nMcp-Session-Id: %s\r\nConnection: close\r\n\r\n", method, addr, sid)
		keep(c)
		answer(c, 15*time.Second)
	}
	// 20 answers of 2 MB that their clients never read.
	arg := strings.Repeat("x", 2<<20)
	for i := range 20 {
		keep(rawPost(t, addr, bigSession.ID(), "", fmt.Sprintf(`{"jsonrpc":"2.0","id":"big-%d","method":"prompts/get","params":{"name":"test_prompt_with_arguments","arguments":{"arg1":%q,"arg2":"y"}}}`, i, arg)))
	}
	// 100 keep-alive connections left idle after one request.
	for range 100 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr)
		keep(c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := bufio.NewReader(c)
			_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				st.add(0)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			st.add(resp.StatusCode)
			// The server closes it after --idle-timeout.
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("idle keep-alive connection: %v, want EOF", err)
			}
		}()
	}
	// The admin API with a rebinding page's Host and Origin, and JSON-RPC
	// that is valid JSON but not a valid message.
	for _, probe := range []struct{ method, path, hdr string }{
		{"GET", "/admin/sessions", "Origin: http://evil.example\r\n"},
		{"DELETE", "/admin/sessions/" + sid, "Origin: http://evil.example\r\n"},
	} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: evil.example\r\n%sConnection: close\r\n\r\n", probe.method, probe.path, probe.hdr)
		keep(c)
		answer(c, 15*time.Second)
	}
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":3,"method":null}`,
		`{"jsonrpc":"2.0","id":"a` + "\xff" + `","method":"ping"}`,
		`{"jsonrpc":"2.0","id":4,"method":"tools/list","params":"x"}`,
		`{"jsonrpc":"2.0","id":"never-sent","result":{}}`,
		`{"jsonrpc":"2.0","id":5,"method":"` + strings.Repeat("m", 100<<10) + `"}`,
	} {
		c := rawPost(t, addr, sid, "Connection: close\r\n", body)
		keep(c)
		answer(c, 15*time.Second)
	}

	wg.Wait()
	connsMu.Lock()
	for _, c := range conns {
		c.Close()
	}
	connsMu.Unlock()
	if err := bigSession.Close(); err != nil {
		t.Errorf("ending the session of the never-read answers: %v", err)
	}
	close(stopHealth)
	<-healthDone

	st.mu.Lock()
	t.Logf("answers by status: %v; /healthz %d ok, %d failed", st.got, healthOK.Load(), healthFails.Load())
	for code, n := range st.got {
		if code >= 500 || code == 0 {
			t.Errorf("%d probes got status %d (0: no answer)", n, code)
		}
	}
	st.mu.Unlock()
	if healthFails.Load() > 0 || healthOK.Load() == 0 {
		t.Errorf("/healthz failed %d times (%d ok) during the probes", healthFails.Load(), healthOK.Load())
	}
	// A process that died is caught by /healthz above and /metrics below
	// (p.cmd.ProcessState stays nil until the cleanup's Wait); its log
	// says why.
	if logs := p.logs(); strings.Contains(logs, "panic") || strings.Contains(logs, "fatal error") {
		t.Fatalf("mooring crashed:\n%s", logs)
	}

	// Everything the probes held is given back.
	var now map[string]float64
	var size int
	deadline := time.Now().Add(30 * time.Second)
	for {
		now, size = scrape(t, addr)
		back := now["go_goroutines"] <= base["go_goroutines"]+10 &&
			now["process_open_fds"] <= base["process_open_fds"]+5 &&
			now["mooring_http_connections_open"] <= 2 &&
			now["go_memstats_heap_inuse_bytes"] <= 48<<20 &&
			now["process_resident_memory_bytes"] <= base["process_resident_memory_bytes"]+96<<20
		if back || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("goroutines %v -> %v, open fds %v -> %v, RSS %.0f -> %.0f MB, heap in use %.0f -> %.0f MB, /metrics %d -> %d bytes",
		base["go_goroutines"], now["go_goroutines"], base["process_open_fds"], now["process_open_fds"],
		base["process_resident_memory_bytes"]/1e6, now["process_resident_memory_bytes"]/1e6,
		base["go_memstats_heap_inuse_bytes"]/1e6, now["go_memstats_heap_inuse_bytes"]/1e6, baseSize, size)
	if now["go_goroutines"] > base["go_goroutines"]+10 {
		t.Errorf("goroutines: %v at the start, %v after the probes", base["go_goroutines"], now["go_goroutines"])
	}
	if now["process_open_fds"] > base["process_open_fds"]+5 {
		t.Errorf("open fds: %v at the start, %v after the probes", base["process_open_fds"], now["process_open_fds"])
	}
	if now["go_memstats_heap_inuse_bytes"] > 48<<20 {
		t.Errorf("heap in use: %.0f MB at the start, %.0f MB after the probes", base["go_memstats_heap_inuse_bytes"]/1e6, now["go_memstats_heap_inuse_bytes"]/1e6)
	}
	if now["process_resident_memory_bytes"] > base["process_resident_memory_bytes"]+96<<20 {
		t.Errorf("RSS: %.0f MB at the start, %.0f MB after the probes", base["process_resident_memory_bytes"]/1e6, now["process_resident_memory_bytes"]/1e6)
	}
	if size > baseSize+16<<10 {
		t.Errorf("/metrics grew from %d to %d bytes", baseSize, size)
	}
	// The session the probes aimed at is still there.
	if _, err := cs.ListTools(context.Background(), nil); err != nil {
		t.Errorf("the session after the probes: %v", err)
	}
}

// Under a low open-file limit (256), more stalled connections than
// descriptors: mooring sheds the connections beyond its cap (3/4 of the
// limit) with a 503 instead of failing to accept, and /healthz keeps
// answering from the reserve. Before the cap, accept4 failed with "too many
// open files" and /healthz timed out.
func TestRobustness_DescriptorLimit(t *testing.T) {
	wrapper := filepath.Join(t.TempDir(), "mooring-ulimit")
	script := "#!/bin/sh\nulimit -n 256 || exit 1\nexec " + plainBinary(t) + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	p := startBinary(t, wrapper, freeAddr(t), "--data-dir", t.TempDir())
	addr := p.addr
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 300 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		conns = append(conns, c)
		fmt.Fprintf(c, "POST /mcp HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", addr)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	// While the burst of connections is being accepted, a probe can find
	// the reserve taken by connections whose requests are not read yet
	// (they are shed a moment later); once they are, every probe answers.
	settled := time.Now().Add(15 * time.Second)
	for {
		resp, err := client.Get("http://" + addr + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(settled) {
			t.Fatalf("/healthz never answered with every slot taken: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for i := range 10 {
		resp, err := client.Get("http://" + addr + "/healthz")
		if err != nil {
			t.Fatalf("/healthz %d with every slot taken: %v", i, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/healthz %d with every slot taken: %d", i, resp.StatusCode)
		}
	}
	m, _ := scrape(t, addr)
	if m["mooring_http_connections_shed_total"] == 0 {
		t.Errorf("no connection was shed: %v open", m["mooring_http_connections_open"])
	}
	// A shed connection got a 503 at once, not silence.
	shed := 0
	for _, c := range conns[len(conns)-50:] {
		if readStatus(c, 5*time.Second) == http.StatusServiceUnavailable {
			shed++
		}
	}
	if shed == 0 {
		t.Error("none of the last 50 connections was answered 503")
	}
	if strings.Contains(p.logs(), "too many open files") {
		t.Errorf("mooring ran out of descriptors:\n%s", p.logs())
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	deadline := time.Now().Add(30 * time.Second)
	for {
		m, _ = scrape(t, addr)
		if m["mooring_http_connections_open"] <= 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if m["mooring_http_connections_open"] > 1 {
		t.Errorf("%v connections still open after the clients left", m["mooring_http_connections_open"])
	}
	t.Logf("shed %v connections, open fds %v at the end", m["mooring_http_connections_shed_total"], m["process_open_fds"])
}

// SSE streams outlive every timeout while they are healthy: a tool call that
// streams progress for three times --write-timeout and --read-timeout, and a
// GET stream kept by heartbeats, on the real binary.
func TestLimits_StreamsOutliveTimeouts(t *testing.T) {
	p := start(t, freeAddr(t), "--store", "memory", "--read-timeout", "1s", "--write-timeout", "1s", "--idle-timeout", "1s", "--heartbeat", "300ms")
	var pl progressLog
	cs := connect(t, p.url(), &pl)
	start := time.Now()
	params := &mcp.CallToolParams{Name: "slow_count", Arguments: map[string]any{"count": 30, "interval_ms": 120}}
	params.SetProgressToken("p")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, params)
	if err != nil || res.IsError {
		t.Fatalf("slow_count: %v %v", err, res)
	}
	if took := time.Since(start); took < 3*time.Second {
		t.Fatalf("slow_count took %s, want at least 3 s", took)
	}
	// go-sdk's client hands notifications to their handler on its own
	// goroutine: the last may trail the result by a moment.
	for deadline := time.Now().Add(5 * time.Second); len(pl.snapshot()) < 30 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := len(pl.snapshot()); got < 30 {
		t.Errorf("%d progress notifications on the call's stream, want 30", got)
	}
	time.Sleep(3 * time.Second) // the GET stream idles on heartbeats
	if _, err := cs.ListTools(context.Background(), nil); err != nil {
		t.Fatalf("the session after 3 s of heartbeats: %v", err)
	}
	if strings.Contains(p.logs(), "request failed") {
		t.Errorf("a request failed:\n%s", p.logs())
	}
}
