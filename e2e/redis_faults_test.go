package e2e

import (
	"context"
	"net/http"
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
