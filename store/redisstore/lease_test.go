package redisstore_test

import (
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
