package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/internal/redistest"
)

// Keys of a session in Redis (store/redisstore/keys.go). The session ids
// mooring makes need no escaping in a hash tag.
func recKey(id string) string { return "mooring:{" + id + "}:rec" }
func evKey(id string) string  { return "mooring:{" + id + "}:ev" }

// callRetry calls a tool until it succeeds or the deadline passes: a
// request that meets the store while it is going away or coming back may
// fail, and the client may send it again on the same session.
func callRetry(t *testing.T, cs *mcp.ClientSession, within time.Duration, name string, args map[string]any) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
		cancel()
		if err == nil && !res.IsError && len(res.Content) > 0 {
			return res.Content[0].(*mcp.TextContent).Text
		}
		if errors.Is(err, mcp.ErrSessionMissing) {
			t.Fatalf("%s: the session is gone: %v", name, err)
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("error result %v", res.Content)
			}
			t.Fatalf("%s: still failing after %d attempts in %v: %v", name, attempt, within, err)
		}
		t.Logf("%s, attempt %d: %v", name, attempt, err)
		time.Sleep(100 * time.Millisecond)
	}
}

// readyz fetches /readyz: its status code and its JSON report.
func readyz(t *testing.T, addr string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	var rep map[string]any
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatalf("GET /readyz: %d, not JSON: %v\n%s", resp.StatusCode, err, body)
	}
	return resp.StatusCode, rep
}

// waitReadyz polls /readyz until its status is want and returns the last
// answer; it fails the test after within.
func waitReadyz(t *testing.T, addr, want string, within time.Duration) (int, map[string]any) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		code, rep := readyz(t, addr)
		if rep["status"] == want {
			return code, rep
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz still %d %v after %v, want status %q: %v", code, rep["status"], within, want, rep)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metric reads one sample from /metrics, by its name with labels as the
// text format writes them, e.g. `mooring_sessions_total{event="created"}`.
// A sample that is not there reads as 0.
func metric(t *testing.T, addr, sample string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && name == sample {
			v, err := strconv.ParseFloat(value, 64)
			if err != nil {
				t.Fatalf("metric %s: %q: %v", sample, value, err)
			}
			return v
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	return 0
}

// healthCLI runs `mooring health --url` and returns its exit status and
// output.
func healthCLI(t *testing.T, addr string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, "health", "--url", "http://"+addr).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &ee):
		return ee.ExitCode(), string(out)
	}
	t.Fatalf("mooring health: %v\n%s", err, out)
	return 0, ""
}

// redisCmd runs a command on the test server and fails the test on error.
func redisCmd(t *testing.T, srv *redistest.Server, args ...string) string {
	t.Helper()
	out, err := srv.Command(args...)
	if err != nil {
		t.Fatalf("redis %v: %v", args, err)
	}
	return out
}

// Redis restarts (with its append-only file) under a live session of a
// mooring that may not fall back: the same client goes on with the same
// session, no new initialize, and the event log goes on where it was.
func TestRedis_RestartUnderSession(t *testing.T) {
	srv := redistest.Start(t, redistest.AppendOnly())
	addr := freeAddr(t)
	p := start(t, addr, "--store", "redis", "--redis-url", srv.URL(), "--store-fallback", "fail")
	cs := connect(t, p.url(), nil)
	callText(t, cs, "test_simple_text", nil)
	callText(t, cs, "slow_count", map[string]any{"count": 2, "interval_ms": 1})
	sid := cs.ID()
	if sid == "" {
		t.Fatal("no session id")
	}
	if got := redisCmd(t, srv, "EXISTS", recKey(sid)); got != "1" {
		t.Fatalf("session record %s not in Redis before the restart: EXISTS = %s", recKey(sid), got)
	}
	lenBefore, _ := strconv.Atoi(redisCmd(t, srv, "XLEN", evKey(sid)))
	if lenBefore == 0 {
		t.Fatalf("no events of the session in Redis before the restart")
	}
	lastBefore := strings.SplitN(redisCmd(t, srv, "XREVRANGE", evKey(sid), "+", "-", "COUNT", "1"), "\n", 2)[0]

	srv.Restart()

	if got := callRetry(t, cs, 30*time.Second, "slow_count", map[string]any{"count": 3, "interval_ms": 1}); !strings.Contains(got, "3") {
		t.Errorf("after the Redis restart: slow_count said %q", got)
	}
	// rueidis keeps several connections; each fails one command after the
	// restart, and a log append is not retried (it could log twice), so a
	// request or two may fail visibly before every connection is new.
	for range 4 {
		callRetry(t, cs, 10*time.Second, "test_simple_text", nil)
	}
	if cs.ID() != sid {
		t.Errorf("session id changed: %s -> %s", sid, cs.ID())
	}
	if n := metric(t, addr, `mooring_sessions_total{event="created"}`); n != 1 {
		t.Errorf(`mooring_sessions_total{event="created"} = %v, want 1: the client initialized again`, n)
	}
	// The record and the log came back from the append-only file, and the
	// log goes on above what it held.
	if got := redisCmd(t, srv, "EXISTS", recKey(sid)); got != "1" {
		t.Errorf("session record gone from Redis after its restart: EXISTS = %s", got)
	}
	if got := redisCmd(t, srv, "XRANGE", evKey(sid), lastBefore, lastBefore); got == "" {
		t.Errorf("event %s of the session lost in the Redis restart", lastBefore)
	}
	if lenAfter, _ := strconv.Atoi(redisCmd(t, srv, "XLEN", evKey(sid))); lenAfter <= lenBefore {
		t.Errorf("event log has %d entries after the restart and new calls, %d before", lenAfter, lenBefore)
	}
	lastAfter := strings.SplitN(redisCmd(t, srv, "XREVRANGE", evKey(sid), "+", "-", "COUNT", "1"), "\n", 2)[0]
	if seqOf(t, lastAfter) <= seqOf(t, lastBefore) {
		t.Errorf("newest event %s after the restart, %s before", lastAfter, lastBefore)
	}
}

// seqOf reads the seq of a Redis stream entry id "<seq>-0".
func seqOf(t *testing.T, id string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(strings.TrimSuffix(id, "-0"), 10, 64)
	if err != nil {
		t.Fatalf("stream entry id %q: %v", id, err)
	}
	return n
}

// Redis stops while mooring runs with the memory fallback: mooring keeps
// serving, degraded and saying so; a session created during the outage
// works; when Redis is back, mooring moves it into Redis, leaves degraded
// mode, and both sessions go on, also across a restart of mooring.
func TestRedis_OutageFallbackAndRecovery(t *testing.T) {
	srv := redistest.Start(t, redistest.AppendOnly())
	addr := freeAddr(t)
	args := []string{"--store", "redis", "--redis-url", srv.URL()} // --store-fallback memory is the default
	p := start(t, addr, args...)
	if code, rep := readyz(t, addr); code != http.StatusOK || rep["status"] != "healthy" {
		t.Fatalf("/readyz before the outage: %d %v", code, rep)
	}

	csA := connect(t, p.url(), nil)
	callText(t, csA, "test_simple_text", nil)
	idA := csA.ID()

	srv.Stop()

	// The first store operation that meets the outage switches to memory;
	// readiness holds (fallback allowed) but says degraded.
	code, rep := waitReadyz(t, addr, "degraded", 30*time.Second)
	if code != http.StatusOK || rep["ready"] != true {
		t.Errorf("/readyz while degraded with --store-fallback memory: %d, ready %v; want 200, ready", code, rep["ready"])
	}
	if st, _ := rep["store"].(map[string]any); st["fallbackActive"] != true || st["kind"] != "redis" {
		t.Errorf("/readyz store while degraded: %v", st)
	}
	if code, out := healthCLI(t, addr); code != 1 || !strings.Contains(out, "status: degraded") {
		t.Errorf("mooring health while degraded: exit %d, want 1; output:\n%s", code, out)
	}
	if v := metric(t, addr, "mooring_store_fallback_active"); v != 1 {
		t.Errorf("mooring_store_fallback_active = %v while degraded, want 1", v)
	}

	// A new client during the outage gets a session, in memory.
	csB := connect(t, p.url(), nil)
	callText(t, csB, "slow_count", map[string]any{"count": 2, "interval_ms": 1})
	callText(t, csB, "test_simple_text", nil)
	idB := csB.ID()
	if idB == "" || idB == idA {
		t.Fatalf("session B id %q (A %q)", idB, idA)
	}
	// A, created before the outage, is served from this process if it can
	// be; whether it can is not what this test is about.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if _, err := csA.CallTool(ctx, &mcp.CallToolParams{Name: "test_simple_text"}); err != nil {
		t.Logf("session A during the outage: %v", err)
	}
	cancel()

	srv.Restart() // the same port and data directory

	// The fallback retries every 2s; moving the sessions back ends degraded
	// mode.
	code, rep = waitReadyz(t, addr, "healthy", 60*time.Second)
	if code != http.StatusOK {
		t.Errorf("/readyz after recovery: %d %v", code, rep)
	}
	if v := metric(t, addr, "mooring_store_fallback_active"); v != 0 {
		t.Errorf("mooring_store_fallback_active = %v after recovery, want 0", v)
	}
	if code, out := healthCLI(t, addr); code != 0 {
		t.Errorf("mooring health after recovery: exit %d, want 0; output:\n%s", code, out)
	}

	// Session B, created in memory, is in Redis now: its record and its log.
	if got := redisCmd(t, srv, "EXISTS", recKey(idB)); got != "1" {
		t.Fatalf("session B's record %s not in Redis after recovery: EXISTS = %s", recKey(idB), got)
	}
	if n, _ := strconv.Atoi(redisCmd(t, srv, "XLEN", evKey(idB))); n == 0 {
		t.Errorf("session B's events not in Redis after recovery")
	}
	if got := redisCmd(t, srv, "EXISTS", recKey(idA)); got != "1" {
		t.Errorf("session A's record %s not in Redis after recovery: EXISTS = %s", recKey(idA), got)
	}

	// Both go on with the same client and session.
	callRetry(t, csB, 15*time.Second, "test_simple_text", nil)
	callRetry(t, csA, 15*time.Second, "slow_count", map[string]any{"count": 2, "interval_ms": 1})
	if csA.ID() != idA || csB.ID() != idB {
		t.Errorf("session ids changed: A %s -> %s, B %s -> %s", idA, csA.ID(), idB, csB.ID())
	}

	// What is in Redis is enough: a new mooring on it (no fallback this
	// time, so it runs on Redis or not at all) restores both.
	p.kill()
	start(t, addr, "--store", "redis", "--redis-url", srv.URL(), "--store-fallback", "fail")
	if got := callText(t, csB, "slow_count", map[string]any{"count": 3, "interval_ms": 1}); !strings.Contains(got, "3") {
		t.Errorf("session B after a restart of mooring: %q", got)
	}
	callText(t, csA, "test_simple_text", nil)
	if n := metric(t, addr, `mooring_sessions_total{event="restored"}`); n != 2 {
		t.Errorf(`mooring_sessions_total{event="restored"} = %v after the restart, want 2 (A and B)`, n)
	}
	if n := metric(t, addr, `mooring_sessions_total{event="created"}`); n != 0 {
		t.Errorf(`mooring_sessions_total{event="created"} = %v after the restart, want 0`, n)
	}
}

// --store-fallback fail with no Redis: mooring refuses to start, at once
// and saying why.
func TestRedis_FallbackFailWithoutRedis(t *testing.T) {
	addr := freeAddr(t)
	redisAddr := freeAddr(t) // nothing listens there
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	begin := time.Now()
	cmd := exec.CommandContext(ctx, binary, "serve", "--addr", addr,
		"--store", "redis", "--redis-url", "redis://"+redisAddr, "--store-fallback", "fail")
	out, err := cmd.CombinedOutput()
	took := time.Since(begin)
	if ctx.Err() != nil {
		t.Fatalf("mooring still running after %v with no Redis and --store-fallback fail:\n%s", took, out)
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("mooring exited with %v, want a non-zero exit status:\n%s", err, out)
	}
	// Connection refused needs no dial timeout (5s); allow for a loaded
	// machine but not for retries.
	if took > 15*time.Second {
		t.Errorf("mooring took %v to give up", took)
	}
	for _, want := range []string{"--store-fallback fail", redisAddr} {
		if !strings.Contains(string(out), want) {
			t.Errorf("error output does not mention %q:\n%s", want, out)
		}
	}
	if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Errorf("something answers on mooring's address after it failed")
	}
}
