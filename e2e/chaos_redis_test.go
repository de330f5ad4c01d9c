package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/internal/redistest"
)

// Chaos, scenario (c): Redis killed (SIGKILL) and restarted under load,
// with each fallback mode, three replicas behind a round-robin balancer. Clients call slow_count with progress in a loop
// and new clients arrive all along. The promise checked:
//   - every request is answered within answerBound during the outage (its
//     result or an error), none hangs;
//   - nothing is lost silently: a call that reports success had every one
//     of its progress notifications;
//   - every session that a client was given is present afterward: in
//     Redis, and served to the same client (under its id: go-sdk fails a
//     call whose answer names another session).
//
// Failed calls are allowed (with --store-fallback fail an outage is an
// error by design); they are counted and printed.
func TestChaos_RedisKilled(t *testing.T) {
	for _, mode := range []string{"memory", "fail"} {
		t.Run(mode, func(t *testing.T) { chaosRedisKilled(t, mode) })
	}
}

// answerBound is generous on purpose: it tells an answer from a hang, it
// is no latency goal. A request can make several store calls one after
// another (the session's lease, then its restore's reads, then the
// appends), each bounded by the store's 2 s (retried meanwhile, so a call
// that starts during the outage may wait it out and succeed). Measured with
// --store-fallback fail on a loaded 2-core machine: answers at 4.3 to 4.9 s
// (one of them a success: lease 0.9 s, log read 2 s, appends until Redis
// was back), where the bound was 5 s.
const (
	chaosReplicas = 3
	answerBound   = 10 * time.Second
	chaosClients  = 6
	chaosSteps    = 5 // slow_count's count per call
)

// chaosTally counts what the clients saw.
type chaosTally struct {
	mu                        sync.Mutex
	ok, failed, hung, lost    int
	newOK, newFailed, newHung int
	slowest                   time.Duration
	sessions                  map[string]*mcp.ClientSession
	firstErrs                 []string
}

func (c *chaosTally) note(err error) {
	if len(c.firstErrs) < 5 {
		c.firstErrs = append(c.firstErrs, err.Error())
	}
}

// progressByToken counts progress notifications per progress token.
type progressByToken struct {
	mu sync.Mutex
	n  map[string]int
}

func (p *progressByToken) handler(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == nil {
		p.n = make(map[string]int)
	}
	p.n[fmt.Sprint(req.Params.ProgressToken)]++
}

func (p *progressByToken) count(tok string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n[tok]
}

// chaosClient connects within twice answerBound: a connect is two
// requests (initialize, notifications/initialized), each answered within
// answerBound.
func chaosClient(url string, pr *progressByToken) (*mcp.ClientSession, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*answerBound)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "chaos", Version: "1"}, &mcp.ClientOptions{ProgressNotificationHandler: pr.handler})
	return c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, MaxRetries: 20, HTTPClient: &http.Client{}},
		&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
}

// chaosCall runs one slow_count and tallies it.
func chaosCall(tl *chaosTally, cs *mcp.ClientSession, pr *progressByToken, tok string) {
	ctx, cancel := context.WithTimeout(context.Background(), answerBound)
	defer cancel()
	params := &mcp.CallToolParams{Name: "slow_count", Arguments: map[string]any{"count": chaosSteps, "interval_ms": 20}}
	params.SetProgressToken(tok)
	begin := time.Now()
	res, err := cs.CallTool(ctx, params)
	took := time.Since(begin)
	if err == nil && res.IsError {
		err = fmt.Errorf("tool error: %v", res.Content)
	}
	// Notifications may trail the result by a moment.
	deadline := time.Now().Add(2 * time.Second)
	for err == nil && pr.count(tok) < chaosSteps && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	tl.mu.Lock()
	defer tl.mu.Unlock()
	tl.slowest = max(tl.slowest, took)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		tl.hung++
	case err != nil:
		tl.failed++
		tl.note(err)
	case pr.count(tok) != chaosSteps:
		tl.lost++
		tl.note(fmt.Errorf("call %s succeeded with %d of %d progress notifications", tok, pr.count(tok), chaosSteps))
	default:
		tl.ok++
	}
}

func chaosRedisKilled(t *testing.T, mode string) {
	srv := redistest.Start(t, redistest.AppendOnly())
	// Three replicas behind a load balancer that is not sticky.
	rs := startReplicas(t, chaosReplicas, "--store", "redis", "--redis-url", srv.URL(), "--store-fallback", mode, "--lease-ttl", "3s")
	url := startBalancer(t, rs.addrs).url()
	tl := &chaosTally{sessions: make(map[string]*mcp.ClientSession)}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var seq atomic.Int64
	for range chaosClients {
		pr := new(progressByToken)
		cs, err := chaosClient(url, pr)
		if err != nil {
			t.Fatalf("connect before the outage: %v", err)
		}
		t.Cleanup(func() { cs.Close() })
		tl.sessions[cs.ID()] = cs
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				chaosCall(tl, cs, pr, fmt.Sprintf("c%d", seq.Add(1)))
			}
		}()
	}
	// New clients arrive all along, the outage included.
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(300 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			pr := new(progressByToken)
			begin := time.Now()
			cs, err := chaosClient(url, pr)
			tl.mu.Lock()
			switch {
			case errors.Is(err, context.DeadlineExceeded):
				tl.newHung++
			case err != nil:
				tl.newFailed++
				tl.note(fmt.Errorf("new client: %w", err))
			default:
				tl.newOK++
				tl.sessions[cs.ID()] = cs
				tl.slowest = max(tl.slowest, time.Since(begin))
			}
			tl.mu.Unlock()
			if err == nil {
				t.Cleanup(func() { cs.Close() })
				chaosCall(tl, cs, pr, fmt.Sprintf("n%d", seq.Add(1)))
			}
		}
	}()

	time.Sleep(2 * time.Second) // load before the outage
	srv.Kill()
	time.Sleep(4 * time.Second) // the outage
	srv.Restart()
	time.Sleep(3 * time.Second) // load after it
	close(stop)
	wg.Wait()

	if mode == "memory" {
		// Sessions made during the outage move to Redis on recovery.
		for _, addr := range rs.addrs {
			waitReadyz(t, addr, "healthy", 60*time.Second)
		}
	}
	present := 0
	for id, cs := range tl.sessions {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_simple_text"})
		cancel()
		inRedis := redisCmd(t, srv, "EXISTS", recKey(id)) == "1"
		switch {
		case err != nil:
			t.Errorf("session %s after the outage: %v", id, err)
		case !inRedis:
			t.Errorf("session %s not in Redis after the outage", id)
		default:
			present++
		}
	}
	line := fmt.Sprintf("chaos (c) Redis SIGKILL 4s, %d replicas behind round-robin, --store-fallback %s: calls %d ok, %d failed with an error, %d hung (> %v), %d lost notifications; new clients %d ok, %d refused, %d hung; sessions %d/%d present afterward; slowest answer %v",
		chaosReplicas, mode, tl.ok, tl.failed, tl.hung, answerBound, tl.lost, tl.newOK, tl.newFailed, tl.newHung, present, len(tl.sessions), tl.slowest.Round(time.Millisecond))
	t.Log(line)
	ciLine(t, line)
	for _, e := range tl.firstErrs {
		t.Logf("e.g.: %s", e)
	}
	if tl.hung > 0 || tl.newHung > 0 {
		t.Errorf("%d calls got no answer within %v, %d new clients were not connected within %v", tl.hung, answerBound, tl.newHung, 2*answerBound)
	}
	if tl.lost > 0 {
		t.Errorf("%d calls reported success with progress notifications missing", tl.lost)
	}
	if present != len(tl.sessions) {
		t.Errorf("%d of %d sessions present afterward", present, len(tl.sessions))
	}
	if tl.ok == 0 {
		t.Errorf("no call succeeded at all")
	}
}
