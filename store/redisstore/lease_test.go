package redisstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/store"
)

func testLease(t *testing.T, open opener) {
	s := open(t, store.Limits{})
	a, ok, err := s.AcquireLease(ctx, "s1", "replica-a", time.Minute)
	if err != nil || !ok || a.Owner != "replica-a" || a.Token == 0 {
		t.Fatalf("first acquire: %+v %v %v", a, ok, err)
	}
	b, ok, err := s.AcquireLease(ctx, "s1", "replica-b", time.Minute)
	if err != nil || ok || b.Owner != "replica-a" || b.Token != a.Token {
		t.Fatalf("acquire of a held lease: %+v %v %v; want refused, held by replica-a", b, ok, err)
	}
	if r, ok, err := s.AcquireLease(ctx, "s1", "replica-a", time.Minute); err != nil || !ok || r.Token != a.Token {
		t.Fatalf("renew: %+v %v %v; want the same token", r, ok, err)
	}
	// Another session's lease is its own.
	if _, ok, err := s.AcquireLease(ctx, "s2", "replica-b", time.Minute); err != nil || !ok {
		t.Fatalf("other session: %v %v", ok, err)
	}
	// Release by a non-holder does nothing; by the holder frees it.
	if err := s.ReleaseLease(ctx, "s1", "replica-b"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.AcquireLease(ctx, "s1", "replica-b", time.Minute); ok {
		t.Fatal("a non-holder's release freed the lease")
	}
	if err := s.ReleaseLease(ctx, "s1", "replica-a"); err != nil {
		t.Fatal(err)
	}
	c, ok, err := s.AcquireLease(ctx, "s1", "replica-b", 200*time.Millisecond)
	if err != nil || !ok || c.Token <= a.Token {
		t.Fatalf("acquire after release: %+v %v %v; want a larger fencing token than %d", c, ok, err, a.Token)
	}
	// A lease that is not renewed runs out: a dead owner's session is taken over.
	deadline := time.Now().Add(5 * time.Second)
	for {
		d, ok, err := s.AcquireLease(ctx, "s1", "replica-c", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			if d.Token <= c.Token {
				t.Errorf("token after expiry %d, want above %d", d.Token, c.Token)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("an unrenewed lease never ran out")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// testFence: writes made under a lease token that the session's lease no
// longer holds (a paused owner whose lease another replica took) fail with
// ErrFenced and write nothing; the current holder's writes, and writes
// without a token, go through.
func testFence(t *testing.T, open opener) {
	s := open(t, store.Limits{})
	old, ok, err := s.AcquireLease(ctx, "f1", "replica-a", time.Minute)
	if err != nil || !ok {
		t.Fatalf("acquire: %+v %v %v", old, ok, err)
	}
	oldCtx := store.WithFence(ctx, old.Token)
	if err := s.PutSession(oldCtx, store.Record{ID: "f1", Data: []byte("v1")}); err != nil {
		t.Fatalf("holder's put: %v", err)
	}
	if _, err := s.AppendBatch(oldCtx, "f1", "s", [][]byte{[]byte("e1"), []byte("e2")}); err != nil {
		t.Fatalf("holder's append: %v", err)
	}
	if err := s.TouchSession(oldCtx, "f1"); err != nil {
		t.Fatalf("holder's touch: %v", err)
	}

	// replica-a pauses past its lease; replica-b takes the session.
	if err := s.ReleaseLease(ctx, "f1", "replica-a"); err != nil {
		t.Fatal(err)
	}
	cur, ok, err := s.AcquireLease(ctx, "f1", "replica-b", time.Minute)
	if err != nil || !ok || cur.Token <= old.Token {
		t.Fatalf("takeover: %+v %v %v", cur, ok, err)
	}

	if _, err := s.Append(oldCtx, "f1", "s", []byte("stale")); !errors.Is(err, store.ErrFenced) {
		t.Errorf("stale append: %v, want ErrFenced", err)
	}
	if _, err := s.AppendBatch(oldCtx, "f1", "s", [][]byte{[]byte("stale1"), []byte("stale2")}); !errors.Is(err, store.ErrFenced) {
		t.Errorf("stale append batch: %v, want ErrFenced", err)
	}
	if err := s.PutSession(oldCtx, store.Record{ID: "f1", Data: []byte("stale")}); !errors.Is(err, store.ErrFenced) {
		t.Errorf("stale put: %v, want ErrFenced", err)
	}
	if err := s.TouchSession(oldCtx, "f1"); !errors.Is(err, store.ErrFenced) {
		t.Errorf("stale touch: %v, want ErrFenced", err)
	}
	checkFenceState(t, s, "f1", "v1", 2)

	// The holder writes on, from the seq the stale writes did not take.
	curCtx := store.WithFence(ctx, cur.Token)
	if id, err := s.Append(curCtx, "f1", "s", []byte("e3")); err != nil || id.Seq != 3 {
		t.Errorf("holder's append: %v %v, want seq 3", id, err)
	}
	if err := s.PutSession(curCtx, store.Record{ID: "f1", Data: []byte("v2")}); err != nil {
		t.Errorf("holder's put: %v", err)
	}
	// Writes without a token (tools, imports) are not fenced.
	if id, err := s.Append(ctx, "f1", "s", []byte("e4")); err != nil || id.Seq != 4 {
		t.Errorf("unfenced append: %v %v, want seq 4", id, err)
	}
	checkFenceState(t, s, "f1", "v2", 4)

	// A lease that ran out with nobody taking it does not fence (as after a
	// Redis outage that outlasted the lease): no other replica owns the
	// session. Once another takes it, the old token is fenced again.
	if err := s.ReleaseLease(ctx, "f1", "replica-b"); err != nil {
		t.Fatal(err)
	}
	if id, err := s.Append(curCtx, "f1", "s", []byte("e5")); err != nil || id.Seq != 5 {
		t.Errorf("append after the lease ran out, unowned: %v %v, want seq 5", id, err)
	}
	if _, ok, err := s.AcquireLease(ctx, "f1", "replica-c", time.Minute); err != nil || !ok {
		t.Fatalf("replica-c takes the session: %v %v", ok, err)
	}
	if _, err := s.Append(curCtx, "f1", "s", []byte("late")); !errors.Is(err, store.ErrFenced) {
		t.Errorf("append after replica-c took the session: %v, want ErrFenced", err)
	}
	checkFenceState(t, s, "f1", "v2", 5)
}

// checkFenceState checks a session's record and that its log holds seqs 1
// to n.
func checkFenceState(t *testing.T, s store.Store, id, rec string, n uint64) {
	t.Helper()
	r, err := s.GetSession(ctx, id)
	if err != nil || string(r.Data) != rec {
		t.Errorf("record = %q, %v; want %q", r.Data, err, rec)
	}
	evs, err := s.Log(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(evs)) != n || (n > 0 && evs[n-1].ID.Seq != n) {
		t.Errorf("log has %d events (%v); want seqs 1..%d", len(evs), evs, n)
	}
}

// testTakeLease: a replica takes the lease of a session from an owner that
// is gone (its address refuses connections) under a new token, which fences
// the old owner; it takes nothing from any other holder.
func testTakeLease(t *testing.T, open opener) {
	s := open(t, store.Limits{})
	a, _, err := s.AcquireLease(ctx, "t1", "replica-a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if l, ok, err := s.TakeLease(ctx, "t1", "replica-x", "replica-b", time.Minute); err != nil || ok || l.Owner != "replica-a" {
		t.Fatalf("take from a replica that does not hold it: %+v %v %v; want refused, held by replica-a", l, ok, err)
	}
	b, ok, err := s.TakeLease(ctx, "t1", "replica-a", "replica-b", time.Minute)
	if err != nil || !ok || b.Owner != "replica-b" || b.Token <= a.Token {
		t.Fatalf("take from its holder: %+v %v %v; want replica-b with a token above %d", b, ok, err, a.Token)
	}
	if _, err := s.Append(store.WithFence(ctx, a.Token), "t1", "s", []byte("late")); !errors.Is(err, store.ErrFenced) {
		t.Errorf("the old owner's write after the takeover: %v, want ErrFenced", err)
	}
	// A second take (a resend) renews.
	if again, ok, err := s.TakeLease(ctx, "t1", "replica-a", "replica-b", time.Minute); err != nil || !ok || again.Token != b.Token {
		t.Fatalf("take again: %+v %v %v; want the same token %d", again, ok, err, b.Token)
	}
	if r, ok, _ := s.AcquireLease(ctx, "t1", "replica-b", time.Minute); !ok || r.Token != b.Token {
		t.Fatalf("the taker renews: %+v %v", r, ok)
	}
}

// testDraining: a replica's draining mark is seen by the others until it is
// cleared or runs out.
func testDraining(t *testing.T, open opener) {
	s := open(t, store.Limits{})
	check := func(when string, want bool) {
		t.Helper()
		if got, err := s.Draining(ctx, "replica-a"); err != nil || got != want {
			t.Fatalf("%s: draining %v %v, want %v", when, got, err, want)
		}
	}
	check("before", false)
	if err := s.MarkDraining(ctx, "replica-a", time.Minute); err != nil {
		t.Fatal(err)
	}
	check("marked", true)
	if got, _ := s.Draining(ctx, "replica-b"); got {
		t.Fatal("another replica is draining too")
	}
	if err := s.MarkDraining(ctx, "replica-a", 0); err != nil {
		t.Fatal(err)
	}
	check("cleared", false)
	if err := s.MarkDraining(ctx, "replica-a", 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for d, _ := s.Draining(ctx, "replica-a"); d; d, _ = s.Draining(ctx, "replica-a") {
		if time.Now().After(deadline) {
			t.Fatal("the draining mark never ran out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
