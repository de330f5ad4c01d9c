package transport_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/internal/redistest"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/store/redisstore"
	"github.com/mooring-dev/mooring/transport"
)

func slowCall(ms int) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"count","arguments":{"n":1,"delay_ms":%d}}}`, ms)
}

// resumable checks that an SSE body that a shutdown ended gave its client
// what it needs to come back: an event id, then a retry hint.
func resumable(t *testing.T, body string) {
	t.Helper()
	id := strings.Index(body, "id: ")
	retry := strings.LastIndex(body, "retry: ")
	if id < 0 || retry < id {
		t.Fatalf("stream ended by the shutdown: want an event id and then a retry hint, got %q", body)
	}
}

// A call that starts just before the server shuts down, while its priming
// event still waits for the prime delay: the stream that the shutdown ends
// must carry an event id (the priming event) besides the retry hint, or
// the client cannot resume it and waits for its own timeout (issue 10,
// item 2). Both ends are checked: the server-wide shutdown (Done) and a
// drain whose grace period is over.
func TestShutdown_CutCallIsResumable(t *testing.T) {
	for _, how := range []string{"done", "drain"} {
		t.Run(how, func(t *testing.T) {
			st := memstore.New(nil)
			defer st.Close()
			// The priming event would wait for the whole test.
			mgr := session.New(st, backend.NewInProcess(testServer()), &session.Options{PrimeDelay: time.Hour})
			defer mgr.Close()
			done := make(chan struct{})
			srv := httptest.NewServer(transport.New(mgr, &transport.Options{Done: done}))
			defer srv.Close()
			e := &env{url: srv.URL, mgr: mgr}
			sid := e.initialize(t)

			go func() {
				time.Sleep(100 * time.Millisecond) // the call is under way, or about to be: either way it is cut
				if how == "done" {
					close(done)
					return
				}
				ctx, cancel := context.WithCancel(context.Background())
				cancel() // no grace left
				mgr.Drain(ctx, time.Second)
			}()
			resp := e.do(t, rawReq{method: http.MethodPost, headers: map[string]string{"Mcp-Session-Id": sid}, body: slowCall(3000)})
			body, _ := io.ReadAll(resp.Body)
			resumable(t, string(body))
		})
	}
}

// replica is one mooring replica on a shared Redis, with its own drain.
type replica struct {
	env
	srv   *httptest.Server
	drain chan struct{}
}

func newReplica(t *testing.T, rs *redisstore.Store, opts *transport.Options) *replica {
	t.Helper()
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	mgr := session.New(rs, backend.NewInProcess(testServer()), &session.Options{
		Ownership: &session.Ownership{Lease: rs, SelfURL: srv.URL},
	})
	rp := &replica{env: env{url: srv.URL, mgr: mgr}, srv: srv, drain: make(chan struct{})}
	o := transport.Options{}
	if opts != nil {
		o = *opts
	}
	o.Drain = rp.drain
	h = transport.New(mgr, &o)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		mgr.Close()
	})
	return rp
}

func openRedis(t *testing.T) (*redistest.Server, *redisstore.Store) {
	t.Helper()
	srv := redistest.Start(t)
	rs, err := redisstore.Open(context.Background(), &redisstore.Options{URL: srv.URL(), SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rs.Close() })
	return srv, rs
}

// A stream that a draining replica passes on to the session's owner ends
// at once, after a whole event and with a retry hint, so that its client
// comes back through another replica; before, it held the drain up for its
// whole limit (issue 10, item 3: every drain lasted 10 s).
func TestDrain_EndsForwardedStreams(t *testing.T) {
	_, rs := openRedis(t)
	a := newReplica(t, rs, nil)
	b := newReplica(t, rs, nil)
	sid := a.initialize(t)

	req, _ := http.NewRequest(http.MethodGet, b.url, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	// Bounds the test if the stream does not end.
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET through b: status %d", resp.StatusCode)
	}
	first := make([]byte, 256)
	n, err := resp.Body.Read(first)
	if err != nil || !strings.Contains(string(first[:n]), "id: ") {
		t.Fatalf("GET through b: first read %q, %v; want the priming event", first[:n], err)
	}
	close(b.drain)
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("the forwarded stream did not end cleanly on the drain: %v (got %q)", err, rest)
	}
	resumable(t, string(first[:n])+string(rest))
}

// The forwarding guard: a replica that a request was passed to never passes
// it on. Two replicas whose lease names the balancer in front of them (an
// --advertise-url that points at the balancer) would otherwise pass the
// request to each other through it until something gives out; with the
// guard it fails at once, after one hop.
func TestForward_OneHopOnly(t *testing.T) {
	srv, rs := openRedis(t)
	a := newReplica(t, rs, nil)
	b := newReplica(t, rs, nil)
	c := newReplica(t, rs, nil)
	sid := c.initialize(t)
	c.mgr.Close() // releases the lease: no replica serves the session now

	var hops atomic.Int32
	targets := []string{a.url, b.url}
	lb := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := hops.Add(1)
		body, _ := io.ReadAll(r.Body)
		out, _ := http.NewRequestWithContext(r.Context(), r.Method, targets[n%2], strings.NewReader(string(body)))
		out.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	defer lb.Close()
	// The lease names the balancer, and stays.
	setLease(t, srv, sid, lb.URL, time.Minute)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, lb.URL, strings.NewReader(slowCall(0)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("request through the balancer: %v (after %d hops)", err, hops.Load())
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", resp.StatusCode)
	}
	if n := hops.Load(); n != 2 {
		t.Errorf("the request went through the balancer %d times, want 2 (the client's, and one hop)", n)
	}
}

// setLease gives session sid's lease to owner for ttl, as that replica
// would take it.
func setLease(t *testing.T, srv *redistest.Server, sid, owner string, ttl time.Duration) {
	t.Helper()
	if _, err := srv.Command("SET", "mooring:{"+sid+"}:lease", "99 "+owner, "PX", fmt.Sprint(ttl.Milliseconds())); err != nil {
		t.Fatal(err)
	}
}

// fakeOwner gives session sid's lease, for ttl, to an owner at a fresh
// loopback address that serves each connection it accepts with serve,
// until serve returns false: then its address refuses connections, and
// that last one is closed. The others are closed when the test ends.
func fakeOwner(t *testing.T, srv *redistest.Server, sid string, ttl time.Duration, serve func(net.Conn) (more bool)) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, conn)
			if !serve(conn) {
				ln.Close() // refused from now on, before the client sees the close
				conn.Close()
				return
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	setLease(t, srv, sid, "http://"+ln.Addr().String()+"/mcp", ttl)
}

// readRequest reads one request from conn, which is left unanswered.
func readRequest(conn net.Conn) {
	_, _ = http.ReadRequest(bufio.NewReader(conn))
}

// lease returns the raw lease of session sid: "<token> <owner URL>".
func lease(t *testing.T, srv *redistest.Server, sid string) string {
	t.Helper()
	v, err := srv.Command("GET", "mooring:{"+sid+"}:lease")
	if err != nil {
		t.Fatalf("reading the lease: %v", err)
	}
	return strings.TrimSpace(v)
}

// post sends a call to session sid and returns its answer; it gives up
// after 20 s (the waits under test take well under a second).
func post(t *testing.T, e *env, sid, body string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST: reading the answer: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST: status %d: %s", resp.StatusCode, data)
	}
	return string(data)
}

// An owner whose address refuses connections is gone: its sessions are
// taken over at once, under a new fencing token, instead of stalling until
// its lease runs out (issue 10, item 5). Here the owner's process even
// lives on and renews its lease (a zombie without a listener): the
// takeover fences it out.
func TestForward_RefusedOwnerIsTakenOver(t *testing.T) {
	srv, rs := openRedis(t)
	a := newReplica(t, rs, nil)
	// Without the takeover, b would wait for a lease that a keeps renewing.
	b := newReplica(t, rs, &transport.Options{OwnerWait: 5 * time.Second})
	sid := a.initialize(t)
	before := lease(t, srv, sid)
	a.srv.Listener.Close()

	if got := post(t, &b.env, sid, slowCall(0)); !strings.Contains(got, `"result"`) {
		t.Fatalf("call through b after the owner's address closed: %s", got)
	}
	after := lease(t, srv, sid)
	if !strings.HasSuffix(after, " "+b.url) {
		t.Fatalf("lease %q after the takeover, want b (%s)", after, b.url)
	}
	var tokBefore, tokAfter int
	fmt.Sscan(before, &tokBefore)
	fmt.Sscan(after, &tokAfter)
	if tokAfter <= tokBefore {
		t.Errorf("lease token %d after the takeover, want more than %d (fenced)", tokAfter, tokBefore)
	}
}

// A draining owner refuses connections too, but hands its sessions over
// itself once their calls are done: it is not taken over (that would fence
// out the call it is finishing). The request through b waits for the
// hand-over and is then served by b; a's call ends with its result.
func TestForward_DrainingOwnerIsWaitedFor(t *testing.T) {
	srv, rs := openRedis(t)
	a := newReplica(t, rs, nil)
	b := newReplica(t, rs, nil)
	sid := a.initialize(t)

	running := a.do(t, rawReq{method: http.MethodPost, headers: map[string]string{"Mcp-Session-Id": sid}, body: slowCall(1500)})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a.mgr.BeginDrain(ctx)
	a.srv.Listener.Close()
	drained := make(chan struct{})
	go func() { a.mgr.Drain(ctx, time.Second); close(drained) }()

	if got := post(t, &b.env, sid, `{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"echo","arguments":{"text":"after"}}}`); !strings.Contains(got, "after") {
		t.Fatalf("call through b during a's drain: %s", got)
	}
	body, _ := io.ReadAll(running.Body)
	if !strings.Contains(string(body), `"result"`) || strings.Contains(string(body), "interrupted") {
		t.Fatalf("the call a was finishing as it drained: %q, want its result", body)
	}
	<-drained
	if l := lease(t, srv, sid); !strings.HasSuffix(l, " "+b.url) {
		t.Errorf("lease %q after the drain, want b (%s)", l, b.url)
	}
}

// A call sent again while it runs (a connection broke, and the client, a
// balancer or the forwarding replica sent it once more) is the same call:
// its answer is the running call's stream, replayed from the start, not a
// 400 "request id already in use" (which go-sdk's client takes for a dead
// session) nor a second run.
func TestResend_RejoinsRunningCall(t *testing.T) {
	e := newEnv(t, nil)
	sid := e.initialize(t)
	first := e.do(t, rawReq{method: http.MethodPost, headers: map[string]string{"Mcp-Session-Id": sid}, body: slowCall(500)})
	if first.StatusCode != http.StatusOK {
		t.Fatalf("first: status %d", first.StatusCode)
	}
	primed := readEvents(t, first.Body, 1)[0]
	first.Body.Close() // the connection breaks

	got := post(t, e, sid, slowCall(500))
	if !strings.Contains(got, "id: "+primed.id+"\n") || !strings.Contains(got, `"result"`) {
		t.Fatalf("the resent call's answer: %q; want the running call's stream from its priming event (%s) to its result", got, primed.id)
	}
	if n := strings.Count(got, `"result"`); n != 1 {
		t.Errorf("%d results, want 1", n)
	}
}

// An owner that reads a forwarded call and dies before it answers: the
// call may have run, so it is neither sent again nor answered 502 (which
// go-sdk's client reports as a transport failure): the client gets the
// clear "request interrupted" error for it, the same that the session's
// next owner gives for a call its dead owner ran.
func TestForward_CallLostWithItsOwnerIsInterrupted(t *testing.T) {
	srv, rs := openRedis(t)
	b := newReplica(t, rs, nil)
	c := newReplica(t, rs, nil)
	sid := c.initialize(t)
	c.mgr.Close()

	// The owner: reads each request and dies with it.
	fakeOwner(t, srv, sid, time.Minute, func(conn net.Conn) bool { readRequest(conn); conn.Close(); return true })
	got := post(t, &b.env, sid, slowCall(0))
	if !strings.Contains(got, `"id":7`) || !strings.Contains(got, "request interrupted") {
		t.Fatalf("answer %q, want the call's interruption error", got)
	}
}

// A draining replica may still read a request that was on its way as it
// stopped reading (a kept-alive connection): such a request is served
// there, its session restored and handed over again once it is answered,
// not refused with a 503 that go-sdk's client reports as a failed call
// (seen once in the chaos suite's rolling restarts). A request that
// another replica forwarded is refused with Mooring-Draining instead: that
// replica restores the session itself.
func TestDrain_ServesRequestsItRead(t *testing.T) {
	st := memstore.New(nil)
	defer st.Close()
	open := func() (*session.Manager, *env) {
		mgr := session.New(st, backend.NewInProcess(testServer()), nil)
		srv := httptest.NewServer(transport.New(mgr, nil))
		t.Cleanup(func() { srv.Close(); mgr.Close() })
		return mgr, &env{url: srv.URL, mgr: mgr}
	}
	first, e1 := open()
	sid := e1.initialize(t)
	first.Close() // the session is in the store only

	mgr, e := open()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	mgr.BeginDrain(ctx)
	resp := e.do(t, rawReq{method: http.MethodPost, headers: map[string]string{"Mcp-Session-Id": sid, transport.ForwardedHeader: "1"}, body: slowCall(0)})
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get(transport.DrainingHeader) == "" {
		t.Errorf("forwarded request to a draining replica: status %d, %s %q; want 503 with the header", resp.StatusCode, transport.DrainingHeader, resp.Header.Get(transport.DrainingHeader))
	}
	if got := post(t, e, sid, slowCall(0)); !strings.Contains(got, `"result"`) {
		t.Fatalf("a request the draining replica read: %s", got)
	}
	mgr.Drain(ctx, time.Second)
	if n := mgr.Len(); n != 0 {
		t.Errorf("%d sessions left after the drain", n)
	}
}

// An owner that hangs (its process stopped: connections are accepted and
// never answered) keeps its sessions only until its lease runs out: a
// request waiting on it gives up after OwnerTimeout (the lease TTL in
// mooring serve) and is then served here, within the lease, instead of
// after a fixed 10 s.
func TestForward_HungOwnerLosesItsSessionsWithItsLease(t *testing.T) {
	srv, rs := openRedis(t)
	b := newReplica(t, rs, &transport.Options{OwnerTimeout: time.Second})
	c := newReplica(t, rs, nil)
	sid := c.initialize(t)
	c.mgr.Close()

	// The hung owner accepts connections and never answers; its lease
	// was renewed for the last time just now.
	fakeOwner(t, srv, sid, 1500*time.Millisecond, func(net.Conn) bool { return true })
	// Five times the lease, and less than the fixed 10 s it was before.
	ctx, cancel := context.WithTimeout(context.Background(), 7500*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.url, nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Mcp-Session-Id", sid)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET while the owner hangs: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET while the owner hangs: status %d", resp.StatusCode)
	}
	if l := lease(t, srv, sid); !strings.HasSuffix(l, " "+b.url) {
		t.Errorf("lease %q, want b (%s)", l, b.url)
	}
}

// The same, for a call that is safe to repeat (here: listed as retryable):
// it is sent again, and the session's next owner runs it; the client gets
// its result.
func TestForward_IdempotentCallLostWithItsOwnerIsSentAgain(t *testing.T) {
	srv, rs := openRedis(t)
	var h http.Handler
	bsrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	mgr := session.New(rs, backend.NewInProcess(testServer()), &session.Options{
		Ownership:      &session.Ownership{Lease: rs, SelfURL: bsrv.URL},
		RetryableTools: []string{"count"},
	})
	h = transport.New(mgr, nil)
	t.Cleanup(func() { bsrv.CloseClientConnections(); bsrv.Close(); mgr.Close() })
	b := &env{url: bsrv.URL, mgr: mgr}
	c := newReplica(t, rs, nil)
	sid := c.initialize(t)
	c.mgr.Close()

	// The owner reads one request and dies: its address refuses from then on.
	fakeOwner(t, srv, sid, time.Minute, func(conn net.Conn) bool { readRequest(conn); return false })
	got := post(t, b, sid, slowCall(0))
	if !strings.Contains(got, `"result"`) || strings.Contains(got, "interrupted") {
		t.Fatalf("answer %q, want the call's result", got)
	}
}
