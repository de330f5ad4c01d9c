package boltstore

import (
	"context"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mooring-dev/mooring/store"
)

func TestSweeper_DeletesExpiredSessionsFromDisk(t *testing.T) {
	path := t.TempDir() + "/mooring.db"
	s, err := Open(path, &Options{Limits: store.Limits{TTL: 200 * time.Millisecond}, SweepInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, id := range []string{"expires", "alive"} {
		if err := s.PutSession(ctx, store.Record{ID: id, Data: []byte("rec")}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, id, "a", []byte("event")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Append(ctx, "events-only", "a", []byte("event")); err != nil {
		t.Fatal(err)
	}

	// Keep "alive" alive; wait for the sweeper to take the others away.
	deadline := time.Now().Add(10 * time.Second)
	for !onDisk(t, s.db, "alive") || onDisk(t, s.db, "expires") || onDisk(t, s.db, "events-only") {
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not delete the expired sessions")
		}
		if err := s.TouchSession(ctx, "alive"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after sweeps: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Read the file itself, with bbolt and not the store.
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if !onDisk(t, db, "alive") {
		t.Error("the sweeper deleted a live session")
	}
	for _, id := range []string{"expires", "events-only"} {
		if onDisk(t, db, id) {
			t.Errorf("expired session %q is still in the file", id)
		}
	}
}

// onDisk reports whether any part of a session is in the file.
func onDisk(t *testing.T, db *bolt.DB, id string) bool {
	t.Helper()
	var found bool
	if err := db.View(func(tx *bolt.Tx) error {
		found = tx.Bucket(bucketSessions).Get([]byte(id)) != nil || tx.Bucket(bucketData).Bucket([]byte(id)) != nil
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return found
}

func TestSweepInterval_Default(t *testing.T) {
	for _, tc := range []struct {
		ttl, want time.Duration
	}{
		{time.Second, time.Second},          // TTL/4 below the floor
		{time.Hour, time.Minute},            // TTL/4 above the ceiling
		{2 * time.Minute, 30 * time.Second}, // TTL/4
	} {
		o := Options{Limits: store.Limits{TTL: tc.ttl}}
		if got := o.withDefaults().SweepInterval; got != tc.want {
			t.Errorf("TTL %v: sweep interval %v, want %v", tc.ttl, got, tc.want)
		}
	}
}
