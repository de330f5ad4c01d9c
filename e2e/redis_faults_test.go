package e2e

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/internal/redistest"
)

// connectWithin connects a new client as connect does, but gives up after
// within: a hang fails the test instead of holding it.
func connectWithin(t *testing.T, url string, within time.Duration) (*mcp.ClientSession, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, MaxRetries: 20, HTTPClient: &http.Client{}},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { cs.Close() })
	return cs, nil
}

// Redis killed (SIGKILL) under a running mooring with the default memory
// fallback: the next new client is served at once, degraded, not held until
// it gives up. The lease that Create takes was the one store call on a
// request's path without a bound: rueidis retried it for as long as the
// request lived, and only a request on an existing session (whose store
// calls are bounded) engaged the fallback.
func TestRedisKilled_NewClientServed(t *testing.T) {
	srv := redistest.Start(t)
	addr := freeAddr(t)
	p := start(t, addr, "--store", "redis", "--redis-url", srv.URL())
	csA := connect(t, p.url(), nil)
	callText(t, csA, "test_simple_text", nil)

	srv.Kill()

	// Nothing touches the store between the kill and the new client: it
	// is the first to meet the outage. 20s is far more than the bound
	// (seconds) and far less than a client's patience (curl waited 120s).
	begin := time.Now()
	csB, err := connectWithin(t, p.url(), 20*time.Second)
	if err != nil {
		t.Fatalf("a new client after Redis was killed: %v (after %v)", err, time.Since(begin))
	}
	t.Logf("new client served %v after the kill", time.Since(begin))
	callText(t, csB, "test_simple_text", nil)
	waitReadyz(t, addr, "degraded", 10*time.Second)
}

// Redis restarted under calls of a mooring that may not fall back
// (--store-fallback fail): a call either returns its result with every one
// of its progress notifications, or fails with an error. It never reports
// success with messages missing, as it did when the appends that met the
// restart (connection refused, LOADING) were dropped.
//
// A short outage is waited out (appends that surely did not run are sent
// again for up to the store's call bound, 3s); past it, a call with a
// message that could not be logged fails.
func TestRedisRestart_FailModeLosesNothing(t *testing.T) {
	for _, outage := range []time.Duration{300 * time.Millisecond, 5 * time.Second} {
		t.Run(outage.String(), func(t *testing.T) { failModeOutage(t, outage) })
	}
}

func failModeOutage(t *testing.T, outage time.Duration) {
	srv := redistest.Start(t, redistest.AppendOnly())
	addr := freeAddr(t)
	p := start(t, addr, "--store", "redis", "--redis-url", srv.URL(), "--store-fallback", "fail")
	const calls, count = 4, 30
	type outcome struct {
		progress int
		err      error
	}
	results := make(chan outcome, calls)
	var started sync.WaitGroup
	for range calls {
		pl := new(progressLog)
		cs := connect(t, p.url(), pl)
		started.Add(1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			params := &mcp.CallToolParams{Name: "slow_count", Arguments: map[string]any{"count": count, "interval_ms": 100}}
			params.SetProgressToken("p")
			go func() {
				for len(pl.snapshot()) < 3 && ctx.Err() == nil {
					time.Sleep(5 * time.Millisecond)
				}
				started.Done()
			}()
			_, err := cs.CallTool(ctx, params)
			// The last notifications may still be on their way to the
			// handler when the result is in.
			deadline := time.Now().Add(5 * time.Second)
			for err == nil && len(pl.snapshot()) < count && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			results <- outcome{len(pl.snapshot()), err}
		}()
	}
	started.Wait()
	srv.Kill()
	time.Sleep(outage)
	srv.Restart()
	var ok, failed int
	for range calls {
		r := <-results
		switch {
		case r.err != nil:
			failed++
			t.Logf("call failed (allowed, it says so): %v", r.err)
		case r.progress != count:
			t.Errorf("call succeeded with %d of its %d progress notifications: the others were lost silently", r.progress, count)
		default:
			ok++
		}
	}
	t.Logf("Redis killed for %v under %d calls: %d complete with every notification, %d failed with an error", outage, calls, ok, failed)
}

// A GET stream asked for while Redis is away (--store-fallback fail): the
// answer is an empty SSE stream that tells the client when to come back,
// not an error status, which go-sdk's client takes as the end of its
// session ("standalone SSE stream: Service Unavailable"); the client then
// goes on once Redis is back.
func TestRedisKilled_GetStreamPutOff(t *testing.T) {
	srv := redistest.Start(t, redistest.AppendOnly())
	addr := freeAddr(t)
	p := start(t, addr, "--store", "redis", "--redis-url", srv.URL(), "--store-fallback", "fail")
	cs := connect(t, p.url(), nil)
	callText(t, cs, "test_simple_text", nil)

	srv.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.url(), nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", cs.ID())
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") || !strings.Contains(string(body), "retry: ") {
		t.Fatalf("GET stream while Redis is away: %s %q %q, want 200, an SSE stream with a retry hint", resp.Status, resp.Header.Get("Content-Type"), body)
	}

	srv.Restart()
	callRetry(t, cs, 20*time.Second, "test_simple_text", nil)
}
