package e2e

// Helpers of the chaos suite (chaos_test.go), in the manner of etcd's
// robustness tests: real replicas behind a balancer, clients that record
// every call and notification, faults injected on a schedule, and a
// checker that counts what the promise says must be zero.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// balancer is a round-robin HTTP balancer without sticky sessions, as a
// plain load balancer in front of mooring's replicas is: each request goes
// to the next replica. Like a production balancer it passes a request on
// to the next replica when the one it picked did not take it: the
// connection was refused (the replica is down or draining), or a kept-alive
// connection was found closed before anything was answered; and a GET that
// got no answer (idempotent: nginx's proxy_next_upstream default). Anything
// else (a replica that dies mid-answer) reaches the client as it happened:
// a 502, or a stream that breaks.
type balancer struct {
	targets []string // host:port of each replica
	next    atomic.Uint64
	client  *http.Client
	srv     *httptest.Server

	passedOn atomic.Int64 // requests passed on to the next replica
	failed   atomic.Int64 // 502s the balancer answered
}

func startBalancer(t *testing.T, targets []string) *balancer {
	t.Helper()
	b := &balancer{targets: targets, client: &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     time.Minute,
	}}}
	b.srv = httptest.NewServer(b)
	t.Cleanup(func() {
		b.srv.CloseClientConnections()
		b.srv.Close()
	})
	return b
}

func (b *balancer) url() string { return b.srv.URL + "/mcp" }

func (b *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	for range 2 * len(b.targets) {
		target := b.targets[b.next.Add(1)%uint64(len(b.targets))]
		var reused bool
		ctx := httptrace.WithClientTrace(r.Context(), &httptrace.ClientTrace{GotConn: func(c httptrace.GotConnInfo) { reused = c.Reused }})
		out, err := http.NewRequestWithContext(ctx, r.Method, "http://"+target+r.URL.RequestURI(), bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out.Header = r.Header.Clone()
		out.Header.Del("Connection")
		resp, err := b.client.Do(out)
		if err != nil {
			if r.Context().Err() != nil {
				return
			}
			var op *net.OpError
			if (errors.As(err, &op) && op.Op == "dial") || (reused && closedBeforeAnswer(err)) || r.Method == http.MethodGet {
				// The replica never took the request, or it is a GET,
				// which may be sent again.
				b.passedOn.Add(1)
				continue
			}
			b.failed.Add(1)
			http.Error(w, "balancer: "+err.Error(), http.StatusBadGateway)
			return
		}
		b.copy(w, resp)
		return
	}
	b.failed.Add(1)
	http.Error(w, "balancer: no replica answers", http.StatusBadGateway)
}

// copy passes an answer on as it comes, flushing each read (SSE).
func (b *balancer) copy(w http.ResponseWriter, resp *http.Response) {
	defer resp.Body.Close()
	for k, v := range resp.Header {
		if k != "Connection" && k != "Keep-Alive" {
			w.Header()[k] = v
		}
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return
			}
			_ = rc.Flush()
		}
		if err != nil {
			return // the end, or the replica broke off: the client sees it
		}
	}
}

func closedBeforeAnswer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		strings.Contains(err.Error(), "server closed idle connection")
}

// replicaSet is mooring replicas on one Redis, each on an address of its
// own that it keeps across restarts.
type replicaSet struct {
	t     *testing.T
	args  []string
	addrs []string
	procs []*proc
}

func startReplicas(t *testing.T, n int, args ...string) *replicaSet {
	t.Helper()
	// The race detector's binaries sleep a second at exit by default:
	// that is not part of a drain.
	t.Setenv("GORACE", "atexit_sleep_ms=0")
	rs := &replicaSet{t: t, args: args}
	for range n {
		addr := freeAddr(t)
		rs.addrs = append(rs.addrs, addr)
		rs.procs = append(rs.procs, start(t, addr, args...))
	}
	return rs
}

// drain sends SIGTERM to replica i and waits for it to exit; it returns
// how long the drain took.
func (rs *replicaSet) drain(i int) time.Duration {
	rs.t.Helper()
	began := time.Now()
	rs.procs[i].sigterm(rs.t)
	return time.Since(began)
}

// kill ends replica i with SIGKILL.
func (rs *replicaSet) kill(i int) { rs.procs[i].kill() }

// restart starts replica i again on its address.
func (rs *replicaSet) restart(i int) { rs.procs[i] = start(rs.t, rs.addrs[i], rs.args...) }

// callRecord is the outcome of one call as the client saw it.
type callRecord struct {
	err      error // nil: the call returned its result
	hung     bool  // no answer within the call's time limit
	progress []float64
}

// loadClient is one go-sdk client that calls slow_count over and over, each
// call with a progress token of its own, and records what comes back.
type loadClient struct {
	cs  *mcp.ClientSession
	sid string

	mu       sync.Mutex
	progress map[string][]float64 // progress token -> the values received
	calls    []callRecord
}

// load is a set of clients calling through the balancer until stopped.
type load struct {
	clients []*loadClient
	steps   int           // progress notifications per call
	every   time.Duration // between them
	limit   time.Duration // a call without an answer by then is hung
	stop    chan struct{}
	wg      sync.WaitGroup
}

func startLoad(t *testing.T, url string, clients, steps int, every, limit time.Duration) *load {
	t.Helper()
	l := &load{steps: steps, every: every, limit: limit, stop: make(chan struct{})}
	for range clients {
		lc := &loadClient{progress: make(map[string][]float64)}
		c := mcp.NewClient(&mcp.Implementation{Name: "chaos", Version: "1"}, &mcp.ClientOptions{
			ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
				tok := fmt.Sprint(req.Params.ProgressToken)
				lc.mu.Lock()
				lc.progress[tok] = append(lc.progress[tok], req.Params.Progress)
				lc.mu.Unlock()
			},
		})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, MaxRetries: 20}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		cancel()
		if err != nil {
			t.Fatalf("connect through the balancer: %v", err)
		}
		t.Cleanup(func() { cs.Close() })
		lc.cs, lc.sid = cs, cs.ID()
		l.clients = append(l.clients, lc)
		// A connect is three requests (initialize, initialized, the GET
		// stream): with three replicas behind the round robin, every
		// initialize would land on the same replica, and every session
		// start there. A fourth request spreads them.
		ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
		err = cs.Ping(ctx, nil)
		cancel()
		if err != nil {
			t.Fatalf("ping through the balancer: %v", err)
		}
	}
	for i, lc := range l.clients {
		l.wg.Go(func() { l.run(i, lc) })
	}
	return l
}

func (l *load) run(ci int, lc *loadClient) {
	for n := 0; ; n++ {
		select {
		case <-l.stop:
			return
		default:
		}
		lc.record(l.call(lc, fmt.Sprintf("c%d-%d", ci, n)))
	}
}

// call makes one slow_count call and waits for all of its progress.
func (l *load) call(lc *loadClient, tok string) callRecord {
	ctx, cancel := context.WithTimeout(context.Background(), l.limit)
	defer cancel()
	p := &mcp.CallToolParams{Name: "slow_count", Arguments: map[string]any{"count": l.steps, "interval_ms": l.every.Milliseconds()}}
	p.SetProgressToken(tok)
	res, err := lc.cs.CallTool(ctx, p)
	var rec callRecord
	switch {
	case ctx.Err() != nil:
		rec.hung = true
	case err != nil:
		rec.err = err
	case res.IsError || len(res.Content) == 0:
		rec.err = fmt.Errorf("error result: %v", res.Content)
	case !strings.Contains(res.Content[0].(*mcp.TextContent).Text, fmt.Sprintf("counted to %d", l.steps)):
		rec.err = fmt.Errorf("result %q", res.Content[0].(*mcp.TextContent).Text)
	}
	// Notifications are handled apart from the result: give the last
	// ones a moment to land.
	deadline := time.Now().Add(2 * time.Second)
	for {
		lc.mu.Lock()
		rec.progress = slices.Clone(lc.progress[tok])
		lc.mu.Unlock()
		if rec.err != nil || rec.hung || len(rec.progress) >= l.steps || time.Now().After(deadline) {
			return rec
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (lc *loadClient) record(r callRecord) {
	lc.mu.Lock()
	lc.calls = append(lc.calls, r)
	lc.mu.Unlock()
}

// finish stops the load and waits for the calls in flight.
func (l *load) finish() {
	close(l.stop)
	l.wg.Wait()
}

// tally is what the checker counts.
type tally struct {
	calls, ok, failed, hung int
	lostNotes, dupNotes     int
	lostSessions            int
	errs                    map[string]int // failed calls by error text
	failedBySession         map[string]int
	dupNotesBySession       map[string]int // notifications repeated or out of order
}

func (t tally) String() string {
	return fmt.Sprintf("calls=%d ok=%d failed=%d hung=%d lost_notifications=%d duplicated_notifications=%d lost_sessions=%d",
		t.calls, t.ok, t.failed, t.hung, t.lostNotes, t.dupNotes, t.lostSessions)
}

// check counts the load's outcome. A session is lost if a last call on it
// does not return its result (go-sdk keeps a session's id: an answer that
// names another session fails the call). Notifications
// of a call that returned its result must be 1..steps, each once, in
// order.
func (l *load) check(t *testing.T) tally {
	t.Helper()
	c := tally{errs: make(map[string]int), failedBySession: make(map[string]int), dupNotesBySession: make(map[string]int)}
	for _, lc := range l.clients {
		lc.mu.Lock()
		calls := slices.Clone(lc.calls)
		lc.mu.Unlock()
		for _, r := range calls {
			c.calls++
			switch {
			case r.hung:
				c.hung++
			case r.err != nil:
				c.failed++
				c.errs[r.err.Error()]++
				c.failedBySession[lc.sid]++
			default:
				c.ok++
				lost, dup := notesOff(r.progress, l.steps)
				c.lostNotes += lost
				c.dupNotes += dup
				if dup > 0 {
					c.dupNotesBySession[lc.sid] += dup
				}
			}
		}
		last := l.call(lc, "last")
		if last.err != nil || last.hung {
			c.lostSessions++
			t.Logf("session %s: last call %v (hung %v)", lc.sid, last.err, last.hung)
		}
	}
	return c
}

// notesOff counts the progress values of 1..steps that are missing, and
// the values received more than once or out of order.
func notesOff(got []float64, steps int) (lost, dup int) {
	seen := make(map[float64]int)
	prev := 0.0
	for _, v := range got {
		seen[v]++
		if seen[v] > 1 || v < prev {
			dup++
		}
		prev = v
	}
	for i := 1; i <= steps; i++ {
		if seen[float64(i)] == 0 {
			lost++
		}
	}
	return lost, dup
}

// report prints the counts in the test log and through ciLine.
func report(t *testing.T, name string, c tally, extra string) {
	t.Helper()
	line := fmt.Sprintf("chaos %s: %s %s", name, c, extra)
	t.Log(line)
	ciLine(t, line)
	for e, n := range c.errs {
		t.Logf("  %d x %s", n, e)
	}
}

// ciLine prints a measured line on stdout, and appends it to the file that
// $MOORING_TEST_REPORT names, if set: scripts/test.sh prints that file
// after go test, which hides the output of packages that pass.
func ciLine(t *testing.T, line string) {
	t.Helper()
	fmt.Println(line)
	name := os.Getenv("MOORING_TEST_REPORT")
	if name == "" {
		return
	}
	f, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Logf("test report %s: %v", name, err)
		return
	}
	defer f.Close()
	if _, err := fmt.Fprintln(f, line); err != nil {
		t.Logf("test report %s: %v", name, err)
	}
}
