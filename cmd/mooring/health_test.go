package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/health"
	"github.com/mooring-dev/mooring/internal/redistest"
)

// readyzAnswer is /readyz's status code and JSON body.
type readyzAnswer struct {
	code int
	body map[string]any
	raw  string
}

func (a readyzAnswer) status() string { return str(a.body, "status") }

func (a readyzAnswer) String() string { return fmt.Sprintf("%d %s", a.code, a.raw) }

func getReadyz(t *testing.T, s *server) readyzAnswer {
	t.Helper()
	resp, err := http.Get(s.url() + "/readyz")
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET /readyz: %v", err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("GET /readyz: Content-Type %q", ct)
	}
	a := readyzAnswer{code: resp.StatusCode, raw: string(raw)}
	if err := json.Unmarshal(raw, &a.body); err != nil {
		t.Fatalf("GET /readyz: %d, body is not JSON: %v\n%s", resp.StatusCode, err, raw)
	}
	return a
}

// pollReadyz asks /readyz until its status is want, and fails the test
// after within.
func pollReadyz(t *testing.T, s *server, want string, within time.Duration) readyzAnswer {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		a := getReadyz(t, s)
		if a.status() == want {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz not %q after %v: %v", want, within, a)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// str and obj walk a decoded JSON object; missing parts read as zero.
func str(m map[string]any, path ...string) string {
	v, _ := walk(m, path...).(string)
	return v
}

func obj(m map[string]any, path ...string) map[string]any {
	v, _ := walk(m, path...).(map[string]any)
	return v
}

func walk(m map[string]any, path ...string) any {
	var v any = m
	for _, k := range path {
		o, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = o[k]
	}
	return v
}

func listHas(m map[string]any, key, substr string) bool {
	l, _ := m[key].([]any)
	for _, e := range l {
		if s, _ := e.(string); strings.Contains(s, substr) {
			return true
		}
	}
	return false
}

// checkStoreReport checks the store part of a report.
func checkStoreReport(t *testing.T, what string, rep map[string]any, kind string, connected, fallback, testOK bool) {
	t.Helper()
	st := obj(rep, "store")
	if st == nil {
		t.Fatalf("%s: no store in the report: %v", what, rep)
	}
	if st["kind"] != kind || st["connected"] != connected || st["fallbackActive"] != fallback || st["writeReadDeleteOK"] != testOK {
		t.Errorf("%s: store = %v; want kind %s, connected %v, fallbackActive %v, writeReadDeleteOK %v",
			what, st, kind, connected, fallback, testOK)
	}
}

func TestReadyz_BoltIsHealthy(t *testing.T) {
	s := startServer(t, "--store", "bolt", "--data-dir", t.TempDir())
	a := getReadyz(t, s)
	if a.code != http.StatusOK || a.status() != health.Healthy || a.body["ready"] != true {
		t.Fatalf("/readyz on bolt: %v", a)
	}
	checkStoreReport(t, "bolt", a.body, "bolt", true, false, true)
	if w := a.body["warnings"]; w != nil {
		t.Errorf("warnings on a healthy bolt store: %v", w)
	}
	if r := a.body["reasons"]; r != nil {
		t.Errorf("reasons on a healthy bolt store: %v", r)
	}
}

func TestReadyz_MemoryIsHealthyWithAWarning(t *testing.T) {
	s := startServer(t, "--store", "memory")
	a := getReadyz(t, s)
	if a.code != http.StatusOK || a.status() != health.Healthy || a.body["ready"] != true {
		t.Fatalf("/readyz on memory: %v", a)
	}
	checkStoreReport(t, "memory", a.body, "memory", true, false, true)
	if !listHas(a.body, "warnings", "memory store keeps nothing") {
		t.Errorf("/readyz on memory does not warn that nothing survives a restart: %v", a)
	}
	if !listHas(a.body, "recommendations", "--store bolt") {
		t.Errorf("/readyz on memory does not recommend a durable store: %v", a)
	}
}

// Redis stops under a mooring that may fall back to memory: ready, but
// degraded, and healthy again once Redis is back and the sessions moved.
func TestReadyz_RedisStoppedWithFallbackIsDegraded(t *testing.T) {
	srv := redistest.Start(t)
	s := startServer(t, "--store", "redis", "--redis-url", srv.URL())
	a := getReadyz(t, s)
	if a.code != http.StatusOK || a.status() != health.Healthy {
		t.Fatalf("/readyz with Redis up: %v", a)
	}
	checkStoreReport(t, "Redis up", a.body, "redis", true, false, true)
	if v := str(a.body, "redis", "version"); v == "" {
		t.Errorf("/readyz with Redis up has no Redis version: %v", a)
	}

	srv.Stop()
	a = pollReadyz(t, s, health.Degraded, 30*time.Second)
	if a.code != http.StatusOK || a.body["ready"] != true {
		t.Errorf("/readyz degraded with --store-fallback memory: %v; want 200 and ready", a)
	}
	// The store test passes on the fallback; connected says it is not Redis.
	checkStoreReport(t, "Redis stopped", a.body, "redis", false, true, true)
	if str(a.body, "store", "fallbackReason") == "" || !listHas(a.body, "reasons", "memory fallback") {
		t.Errorf("/readyz degraded does not say why: %v", a)
	}
	if code, out := cli(t, "health", "--url", s.url()); code != 1 || !strings.Contains(out, "status: degraded") {
		t.Errorf("mooring health while degraded: exit %d, want 1; output:\n%s", code, out)
	}

	srv.Restart()
	a = pollReadyz(t, s, health.Healthy, 60*time.Second)
	if a.code != http.StatusOK || a.body["ready"] != true {
		t.Errorf("/readyz after Redis returned: %v", a)
	}
	checkStoreReport(t, "Redis back", a.body, "redis", true, false, true)
	if code, out := cli(t, "health", "--url", s.url()); code != 0 {
		t.Errorf("mooring health after recovery: exit %d, want 0; output:\n%s", code, out)
	}
}

// Redis unreachable from the start with the memory fallback: mooring
// starts, degraded.
func TestReadyz_NoRedisAtStartWithFallbackIsDegraded(t *testing.T) {
	s := startServer(t, "--store", "redis", "--redis-url", "redis://"+freeAddr(t))
	a := getReadyz(t, s)
	if a.code != http.StatusOK || a.status() != health.Degraded || a.body["ready"] != true {
		t.Fatalf("/readyz with no Redis at start and --store-fallback memory: %v", a)
	}
	// The fallback is a memory store; the configured kind is what the
	// report names.
	checkStoreReport(t, "no Redis at start", a.body, "redis", false, true, true)
}

// Redis stops under a mooring that may not fall back: the store test fails,
// so it is unhealthy and not ready (503); once Redis is back the client
// reconnects and it is healthy again.
func TestReadyz_RedisStoppedWithoutFallbackIsUnhealthy(t *testing.T) {
	srv := redistest.Start(t)
	s := startServer(t, "--store", "redis", "--redis-url", srv.URL(), "--store-fallback", "fail")
	if a := getReadyz(t, s); a.code != http.StatusOK || a.status() != health.Healthy {
		t.Fatalf("/readyz with Redis up: %v", a)
	}

	srv.Stop()
	a := pollReadyz(t, s, health.Unhealthy, 30*time.Second)
	if a.code != http.StatusServiceUnavailable || a.body["ready"] != false {
		t.Errorf("/readyz with Redis down and --store-fallback fail: %v; want 503, not ready", a)
	}
	checkStoreReport(t, "Redis stopped", a.body, "redis", false, false, false)
	if str(a.body, "store", "error") == "" || !listHas(a.body, "reasons", "write-read-delete") {
		t.Errorf("/readyz unhealthy does not say why: %v", a)
	}
	if code, out := cli(t, "health", "--url", s.url()); code != 2 || !strings.Contains(out, "status: unhealthy") {
		t.Errorf("mooring health while unhealthy: exit %d, want 2; output:\n%s", code, out)
	}

	srv.Restart()
	a = pollReadyz(t, s, health.Healthy, 30*time.Second)
	if a.code != http.StatusOK {
		t.Errorf("/readyz after Redis returned: %v", a)
	}
	checkStoreReport(t, "Redis back", a.body, "redis", true, false, true)
}

// healthCheck calls the session_health_check tool and returns its
// structuredContent and text.
func healthCheck(t *testing.T, cs *mcp.ClientSession) (map[string]any, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: health.ToolName})
	if err != nil {
		t.Fatalf("%s: %v", health.ToolName, err)
	}
	if res.IsError || len(res.Content) == 0 {
		t.Fatalf("%s: error result %v", health.ToolName, res.Content)
	}
	text, _ := res.Content[0].(*mcp.TextContent)
	if text == nil {
		t.Fatalf("%s: first content is %T, want text", health.ToolName, res.Content[0])
	}
	sc, ok := res.StructuredContent.(map[string]any)
	if !ok {
		t.Fatalf("%s: structuredContent is %T, want an object", health.ToolName, res.StructuredContent)
	}
	return sc, text.Text
}

// pollHealthCheck calls the tool until its status is want.
func pollHealthCheck(t *testing.T, cs *mcp.ClientSession, want string, within time.Duration) (map[string]any, string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		sc, text := healthCheck(t, cs)
		if sc["status"] == want {
			return sc, text
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not %q after %v: %v", health.ToolName, want, within, sc)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestHealthTool_Bolt(t *testing.T) {
	s := startServer(t, "--store", "bolt", "--data-dir", t.TempDir())
	cs := connect(t, s.url())
	tools, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	listed := false
	for _, tool := range tools.Tools {
		listed = listed || tool.Name == health.ToolName
	}
	if !listed {
		t.Fatalf("%s is not among the tools the client sees", health.ToolName)
	}

	sc, text := healthCheck(t, cs)
	if sc["status"] != health.Healthy {
		t.Errorf("status %v, want healthy: %v", sc["status"], sc)
	}
	checkStoreReport(t, health.ToolName, sc, "bolt", true, false, true)
	if id := str(sc, "session", "record", "id"); id != cs.ID() || id == "" {
		t.Errorf("session.record.id = %q, want the caller's session %q", id, cs.ID())
	}
	if n, _ := walk(sc, "liveSessions").(float64); n < 1 {
		t.Errorf("liveSessions = %v, want at least the caller's", walk(sc, "liveSessions"))
	}
	if streams, _ := walk(sc, "session", "streams").([]any); len(streams) == 0 {
		t.Errorf("session.streams is empty after the client listed tools: %v", obj(sc, "session"))
	}
	for _, want := range []string{"status: healthy", "store: bolt", "your session: " + cs.ID()} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
}

// The tool says degraded while Redis is away (and mooring on its memory
// fallback), and healthy again after Redis returns.
func TestHealthTool_RedisStoppedThenBack(t *testing.T) {
	srv := redistest.Start(t)
	s := startServer(t, "--store", "redis", "--redis-url", srv.URL())
	cs := connect(t, s.url())

	sc, _ := healthCheck(t, cs)
	if sc["status"] != health.Healthy {
		t.Fatalf("with Redis up: status %v: %v", sc["status"], sc)
	}
	checkStoreReport(t, "Redis up", sc, "redis", true, false, true)
	if id := str(sc, "session", "record", "id"); id != cs.ID() {
		t.Errorf("session.record.id = %q, want %q", id, cs.ID())
	}
	if v := str(sc, "redis", "version"); v == "" {
		t.Errorf("no Redis version with Redis up: %v", sc)
	}

	srv.Stop()
	sc, text := pollHealthCheck(t, cs, health.Degraded, 30*time.Second)
	checkStoreReport(t, "Redis stopped", sc, "redis", false, true, true)
	if id := str(sc, "session", "record", "id"); id != cs.ID() {
		t.Errorf("degraded: session.record.id = %q, want %q", id, cs.ID())
	}
	if !strings.Contains(text, "status: degraded") || !strings.Contains(text, "fallback active true") {
		t.Errorf("degraded text report:\n%s", text)
	}
	if !listHas(sc, "recommendations", "Redis") {
		t.Errorf("degraded report recommends nothing about Redis: %v", sc["recommendations"])
	}

	srv.Restart()
	sc, _ = pollHealthCheck(t, cs, health.Healthy, 60*time.Second)
	checkStoreReport(t, "Redis back", sc, "redis", true, false, true)
	if id := str(sc, "session", "record", "id"); id != cs.ID() {
		t.Errorf("after recovery: session.record.id = %q, want %q", id, cs.ID())
	}
}

// metricsText scrapes /metrics.
func metricsText(t *testing.T, s *server) string {
	t.Helper()
	resp, err := http.Get(s.url() + "/metrics")
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s", resp.Status)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// sample reads one sample by its name with labels as the text format
// writes them, e.g. `mooring_sessions_total{event="created"}`; ok is false
// if it is not there.
func sample(text, name string) (v float64, ok bool) {
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		n, val, found := strings.Cut(sc.Text(), " ")
		if found && n == name {
			f, err := strconv.ParseFloat(val, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// A scripted session (initialize, tool calls, DELETE) shows in the
// counters.
func TestMetrics_ScriptedSession(t *testing.T) {
	s := startServer(t, "--store", "bolt", "--data-dir", t.TempDir())
	before := metricsText(t, s)
	if v, _ := sample(before, `mooring_sessions_total{event="created"}`); v != 0 {
		t.Fatalf("sessions created before any client: %v", v)
	}

	cs := connect(t, s.url())
	for _, args := range []map[string]any{nil, nil} {
		if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "test_simple_text", Arguments: args}); err != nil {
			t.Fatal(err)
		}
	}
	mid := metricsText(t, s)
	if v, ok := sample(mid, "mooring_sessions_active"); !ok || v != 1 {
		t.Errorf("mooring_sessions_active = %v (%v) with one client, want 1", v, ok)
	}

	// End the session as a client does, with DELETE.
	req, _ := http.NewRequest(http.MethodDelete, s.url()+"/mcp", nil)
	req.Header.Set("Mcp-Session-Id", cs.ID())
	req.Header.Set("Mcp-Protocol-Version", cs.InitializeResult().ProtocolVersion)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %s", resp.Status)
	}

	after := metricsText(t, s)
	want := func(name string, check func(float64) bool, desc string) {
		t.Helper()
		v, ok := sample(after, name)
		if !ok || !check(v) {
			t.Errorf("%s = %v (present %v), want %s", name, v, ok, desc)
		}
	}
	one := func(v float64) bool { return v == 1 }
	positive := func(v float64) bool { return v > 0 }
	want(`mooring_sessions_total{event="created"}`, one, "1")
	want(`mooring_sessions_total{event="ended"}`, one, "1")
	want(`mooring_backend_starts_total{reason="new"}`, one, "1")
	// initialize and two tools/call answered 200, the initialized
	// notification 202, the DELETE 204.
	want(`mooring_http_requests_total{method="POST",status="200"}`, func(v float64) bool { return v >= 3 }, "at least 3")
	want(`mooring_http_requests_total{method="POST",status="202"}`, positive, "> 0")
	want(`mooring_http_requests_total{method="DELETE",status="204"}`, one, "1")
	// Each answer went through the event log.
	want("mooring_events_appended_total", func(v float64) bool { return v >= 3 }, "at least 3")
	want("mooring_sessions_active", func(v float64) bool { return v == 0 }, "0 after DELETE")
	want("mooring_store_fallback_active", func(v float64) bool { return v == 0 }, "0")
	if v, ok := sample(after, `mooring_sessions_total{event="restored"}`); ok && v != 0 {
		t.Errorf(`mooring_sessions_total{event="restored"} = %v, want none`, v)
	}
	if !strings.Contains(after, `mooring_store_operation_seconds_count{op="append"}`) {
		t.Errorf("no store latency histogram for append")
	}
}
