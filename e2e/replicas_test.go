package e2e

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/internal/redistest"
)

// roundRobin is a load balancer without sticky sessions: each request goes
// to the next replica, skipping one that refuses connections.
type roundRobin struct {
	next     atomic.Uint64
	lastCall atomic.Uint64
	targets  []*url.URL
	mu       sync.Mutex
	hits     map[string]int
}

func (rr *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The body may be needed twice if the first replica is down.
	body, _ := io.ReadAll(r.Body)
	// A client's reply to a server request goes to the replica that did
	// not take the request before it: the reply must find its way.
	isReply := bytes.Contains(body, []byte(`"result"`)) && !bytes.Contains(body, []byte(`"method"`))
	for range rr.targets {
		n := rr.next.Add(1)
		if isReply {
			n = rr.lastCall.Load() + 1
		} else if r.Method == http.MethodPost {
			rr.lastCall.Store(n)
		}
		t := rr.targets[n%uint64(len(rr.targets))]
		var dialFailed bool
		p := &httputil.ReverseProxy{
			Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(t); pr.Out.Host = t.Host },
			FlushInterval: -1,
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				var op *net.OpError
				if errors.As(err, &op) && op.Op == "dial" {
					dialFailed = true // nothing written: try the next replica
					return
				}
				w.WriteHeader(http.StatusBadGateway)
			},
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		p.ServeHTTP(w, r)
		if !dialFailed {
			rr.mu.Lock()
			rr.hits[t.Host]++
			rr.mu.Unlock()
			return
		}
	}
	http.Error(w, "no replica answers", http.StatusBadGateway)
}

// The same session served by two replicas behind a load balancer that is
// not sticky: each request may land on either; requests for a session that
// the other replica owns are passed to it. When the owner dies, the other
// replica takes the session over once the owner's lease runs out.
func TestReplicas_NoStickyRouting(t *testing.T) {
	srv := redistest.Start(t)
	args := []string{"--store", "redis", "--redis-url", srv.URL(), "--store-fallback", "fail", "--lease-ttl", "2s"}
	a := start(t, freeAddr(t), args...)
	b := start(t, freeAddr(t), args...)
	ua, _ := url.Parse("http://" + a.addr)
	ub, _ := url.Parse("http://" + b.addr)
	lb := &roundRobin{targets: []*url.URL{ua, ub}, hits: make(map[string]int)}
	front := httptest.NewServer(lb)
	defer front.Close()

	pl := new(progressLog)
	c := mcp.NewClient(&mcp.Implementation{Name: "lb", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: pl.handler,
		CreateMessageHandler: func(ctx context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: "sampled through the balancer"}}, nil
		},
	})
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: front.URL + "/mcp", MaxRetries: 20}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	for i := range 6 {
		if got := callText(t, cs, "slow_count", map[string]any{"count": 2, "interval_ms": 1}); !strings.Contains(got, "2") {
			t.Fatalf("call %d: %q", i, got)
		}
	}
	// A server-to-client request: the client's reply lands on either
	// replica and must reach the handler waiting on the owner.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_sampling", Arguments: map[string]any{"prompt": "hi"}})
	if err != nil || res.IsError {
		t.Fatalf("sampling through the balancer: %v %v", err, res)
	}
	lb.mu.Lock()
	hitsA, hitsB := lb.hits[ua.Host], lb.hits[ub.Host]
	lb.mu.Unlock()
	if hitsA == 0 || hitsB == 0 {
		t.Fatalf("the balancer did not use both replicas: %d and %d", hitsA, hitsB)
	}

	// Kill the replica that owns the session (its address is in the
	// lease): the other one takes the session over when the lease runs
	// out, and the client goes on with the same session.
	lease, err := srv.Command("GET", "mooring:{"+cs.ID()+"}:lease")
	if err != nil {
		t.Fatalf("reading the lease: %v", err)
	}
	owner, survivor := a, b
	if strings.Contains(lease, b.addr) {
		owner, survivor = b, a
	} else if !strings.Contains(lease, a.addr) {
		t.Fatalf("lease %q names neither replica", lease)
	}
	_ = owner.cmd.Process.Signal(syscall.SIGKILL)
	_ = owner.cmd.Wait()
	for i := range 3 {
		if got := callText(t, cs, "test_simple_text", nil); got == "" {
			t.Fatalf("call %d after killing the owner: empty", i)
		}
	}
	if lease, _ := srv.Command("GET", "mooring:{"+cs.ID()+"}:lease"); !strings.Contains(lease, survivor.addr) {
		t.Errorf("after the owner died the lease is %q, want the survivor %s", lease, survivor.addr)
	}
}
