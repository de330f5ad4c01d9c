package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/internal/redistest"
)

// The chaos suite (issue 10): three replicas on one real redis-server,
// behind a round-robin balancer without sticky sessions, under load from
// go-sdk clients that call slow_count over and over (a progress
// notification per step), while replicas are restarted or killed. The
// counts are printed on stdout, for CI logs.

const (
	replicaLoadClients = 12
	replicaLoadSteps   = 5
	replicaLoadEvery   = 60 * time.Millisecond
	// A call takes about 0.3 s; one that has no answer after this is hung.
	replicaLoadLimit = 30 * time.Second
)

func chaosArgs(t *testing.T) (*redistest.Server, []string) {
	srv := redistest.Start(t)
	return srv, []string{"--store", "redis", "--redis-url", srv.URL(), "--store-fallback", "fail",
		"--lease-ttl", "3s", "--drain-grace", "15s"}
}

// (a) Rolling deploys are invisible: two passes of SIGTERM and restart over
// the three replicas, one at a time, under load. Every call returns its
// result (none fails, none hangs), every notification arrives once, every
// session goes on under its id.
func TestChaos_RollingRestarts(t *testing.T) {
	_, args := chaosArgs(t)
	rs := startReplicas(t, 3, args...)
	lb := startBalancer(t, rs.addrs)
	l := startLoad(t, lb.url(), replicaLoadClients, replicaLoadSteps, replicaLoadEvery, replicaLoadLimit)

	var drains []string
	for range 2 {
		for i := range rs.procs {
			time.Sleep(time.Second) // the load runs on all three for a while
			took := rs.drain(i)
			drains = append(drains, took.Round(time.Millisecond).String())
			rs.restart(i)
		}
	}
	time.Sleep(time.Second)
	l.finish()

	c := l.check(t)
	report(t, "rolling-restarts", c, fmt.Sprintf("restarts=%d drains=[%s] balancer_502=%d balancer_passed_on=%d",
		len(drains), strings.Join(drains, " "), lb.failed.Load(), lb.passedOn.Load()))
	if c.calls < replicaLoadClients*10 {
		t.Errorf("only %d calls: the load did not run", c.calls)
	}
	if c.failed+c.hung+c.lostNotes+c.dupNotes+c.lostSessions > 0 || lb.failed.Load() > 0 {
		t.Errorf("rolling restarts were not invisible: %s, %d 502s from the balancer", c, lb.failed.Load())
	}
}

// (b) kill -9 of a replica every 10 s (restarted a second later), of
// replicas 0 and 1 in turn: replica 2 is never killed, so the sessions it
// owns all along are the control (when all three took turns, every
// session was some kill's victim and the checks by session had nothing
// to check). The sessions that the killed replica owned are taken over at
// once (its address refuses connections), and their calls that were
// running there are run again, since slow_count is idempotent (idempotentHint): every
// call returns its result. Their progress notifications start over with
// the re-run: only the killed replica's sessions may see repeats. Calls of
// sessions owned elsewhere resume (their streams through the dead replica
// come back through another) with every notification once. No session is
// lost. A call that fails must fail with the clear "request interrupted"
// error, and only in a session that the killed replica owned.
func TestChaos_KillOwners(t *testing.T) {
	const kills = 3
	srv, args := chaosArgs(t)
	rs := startReplicas(t, 3, args...)
	lb := startBalancer(t, rs.addrs)
	l := startLoad(t, lb.url(), replicaLoadClients, replicaLoadSteps, replicaLoadEvery, replicaLoadLimit)

	// The sessions that a killed replica owned: only their calls may fail.
	victims := make(map[string]bool)
	for k := range kills {
		time.Sleep(10 * time.Second)
		victim := k % 2
		for _, lc := range l.clients {
			// The lease's value is "<token> <owner URL>".
			if lease, _ := srv.Command("GET", "mooring:{"+lc.sid+"}:lease"); strings.Contains(lease+"/", "//"+rs.addrs[victim]+"/") {
				victims[lc.sid] = true
			}
		}
		rs.kill(victim)
		time.Sleep(time.Second)
		rs.restart(victim)
	}
	time.Sleep(2 * time.Second)
	l.finish()

	c := l.check(t)
	report(t, "kill-owners", c, fmt.Sprintf("kills=%d victim_sessions=%d balancer_502=%d balancer_passed_on=%d", kills, len(victims), lb.failed.Load(), lb.passedOn.Load()))
	if c.calls < replicaLoadClients*10 {
		t.Errorf("only %d calls: the load did not run", c.calls)
	}
	// With 12 sessions on 3 replicas, a kill that finds none is a
	// (2/3)^12 chance; none at all means the lease lookup above went
	// stale, and the kills tested nothing.
	if len(victims) == 0 {
		t.Error("no session's lease named a killed replica")
	}
	// slow_count is idempotent: its calls cut off by the crash ran again.
	if c.failed > 0 {
		t.Errorf("%d calls failed; the calls of an idempotent tool cut off by a crash are to be run again", c.failed)
	}
	for e := range c.errs {
		if !strings.Contains(e, "interrupted") {
			t.Errorf("a call failed without the clear interruption error: %s", e)
		}
	}
	for sid, n := range c.failedBySession {
		if !victims[sid] {
			t.Errorf("%d calls of session %s failed, which no killed replica owned", n, sid)
		}
	}
	// A re-run starts its progress over: repeats are the killed replicas'
	// sessions' only, and a call that returned its result lost none.
	for sid, n := range c.dupNotesBySession {
		if !victims[sid] {
			t.Errorf("%d notifications repeated or out of order in session %s, which no killed replica owned", n, sid)
		}
	}
	if c.hung+c.lostSessions+c.lostNotes > 0 {
		t.Errorf("after kill -9: %s", c)
	}
}
