package e2e

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/internal/redistest"
	"github.com/mooring-dev/mooring/internal/stdiotest"
	"github.com/mooring-dev/mooring/internal/tcpproxy"
)

// Chaos through mooring connect, in the manner of etcd's robustness
// tests: calls run in waves while a proxy cuts every connection at
// intervals and mooring is killed (SIGKILL) and restarted once; then a
// checker accounts for every call. None may hang, be answered twice, see
// the session lost, or get a progress notification twice or out of order;
// each gets its result, mooring's error for a call the crash cut off, or
// the bridge's error for a call whose POST broke before mooring answered
// (it is not repeated: slow_count may have run).
func TestConnect_Chaos(t *testing.T) {
	args := storeArgs(t, "bolt")
	addr := freeAddr(t)
	p := start(t, addr, args...)
	proxy, err := tcpproxy.New(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	b := startConnect(t, "http://"+proxy.Addr()+"/mcp")
	b.Initialize(30 * time.Second)

	const waves, perWave, count = 6, 4, 20
	id := 100
	cuts := 0
	for w := 0; w < waves; w++ {
		for i := 0; i < perWave; i++ {
			id++
			b.Send(slowCount(id, count, 25, fmt.Sprint("t", id)))
		}
		time.Sleep(300 * time.Millisecond)
		cuts += proxy.Cut()
		if w == waves/2 {
			p.kill()
			time.Sleep(time.Second)
			p = start(t, addr, args...)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("cut %d connections", cuts)
	if cuts == 0 {
		t.Error("the proxy never had a connection to cut: the waves ran without their faults")
	}

	var results, interrupted, unsure int
	for n := 101; n <= id; n++ {
		m := b.Answer(n, 90*time.Second)
		switch {
		case m.Error == nil:
			if got := stdiotest.ResultText(t, m); got != fmt.Sprintf("counted to %d", count) {
				t.Errorf("call %d: %q", n, got)
			}
			results++
		case strings.Contains(m.Error.Message, "may or may not have run"):
			unsure++
		case strings.Contains(m.Error.Message, "mooring connect"):
			t.Errorf("call %d: the bridge failed it: %s", n, m.Error.Message)
		default:
			interrupted++
		}
	}
	t.Logf("%d calls: %d results, %d cut off by the crash (mooring's error), %d not repeated by the bridge", id-100, results, interrupted, unsure)
	if results == 0 {
		t.Error("no call got its result")
	}

	// Every answer once; progress per call in order, without gaps or
	// duplicates (a call that mooring ran again may start over at 1).
	answers := map[string]int{}
	progress := map[string][]float64{}
	for _, m := range b.Messages() {
		switch {
		case m.Method == "" && len(m.ID) > 0:
			answers[string(m.ID)]++
		case m.Method == "notifications/progress":
			var pp struct {
				Token    string  `json:"progressToken"`
				Progress float64 `json:"progress"`
			}
			_ = json.Unmarshal(m.Params, &pp)
			progress[pp.Token] = append(progress[pp.Token], pp.Progress)
		case m.Method == "notifications/message" && strings.Contains(string(m.Params), "mooring-connect"):
			t.Errorf("the bridge told the client: %s", m.Params)
		}
	}
	for k, v := range answers {
		if v != 1 {
			t.Errorf("request %s answered %d times", k, v)
		}
	}
	for tok, vs := range progress {
		for i, v := range vs {
			if v != 1 && (i == 0 || v != vs[i-1]+1) {
				t.Errorf("progress of %s: %v: gap or duplicate at %d", tok, vs, i)
				break
			}
		}
	}
}

// Two replicas on Redis behind a load balancer that is not sticky, and the
// one that owns the session dies (SIGKILL) in the middle of a call: the
// other takes the session over, mooring connect's resumed stream gets the
// call's answer from it, and the session goes on without a new one.
func TestConnect_ReplicaDies(t *testing.T) {
	srv := redistest.Start(t)
	args := []string{"--store", "redis", "--redis-url", srv.URL(), "--store-fallback", "fail", "--lease-ttl", "2s"}
	a := start(t, freeAddr(t), args...)
	z := start(t, freeAddr(t), args...)
	ua, _ := url.Parse("http://" + a.addr)
	uz, _ := url.Parse("http://" + z.addr)
	front := httptest.NewServer(&roundRobin{targets: []*url.URL{ua, uz}, hits: make(map[string]int)})
	t.Cleanup(front.Close) // after mooring connect's cleanup: Close waits for its streams

	b := startConnect(t, front.URL+"/mcp")
	b.Initialize(30 * time.Second)
	b.Send(slowCount(2, 80, 50, "r"))
	b.Wait(20*time.Second, "progress before the kill", func(m rpcMsg) bool { return m.Method == "notifications/progress" })
	sid := b.sessionID(t)
	lease, err := srv.Command("GET", "mooring:{"+sid+"}:lease")
	if err != nil {
		t.Fatalf("reading the lease: %v", err)
	}
	owner := a
	if strings.Contains(lease, z.addr) {
		owner = z
	} else if !strings.Contains(lease, a.addr) {
		t.Fatalf("lease %q names neither replica", lease)
	}
	owner.kill()

	checkAnswerAcross(t, b.Answer(2, 60*time.Second), "the call across the owner's death", "counted to 80")
	b.Send(slowCount(3, 2, 1, ""))
	if got := stdiotest.ResultText(t, b.Answer(3, 30*time.Second)); got != "counted to 2" {
		t.Fatalf("the next call: %q", got)
	}
	if b.logged(newSession) {
		t.Error("the survivor kept the session, yet mooring connect opened a new one")
	}
}
