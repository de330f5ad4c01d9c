package boltstore

import (
	"context"
	"log/slog"
	"os"
	"slices"
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

// TestCrash_SweepIsReplayed checks that the sweeper's deletions are logged
// writes, replayed after a crash with the time that decided them: the
// replay of a log that holds a session's Put and its sweep leaves no trace
// of the session in the file.
func TestCrash_SweepIsReplayed(t *testing.T) {
	path := t.TempDir() + "/mooring.db"
	s, err := Open(path, &Options{
		Limits:             store.Limits{TTL: 100 * time.Millisecond},
		SweepInterval:      20 * time.Millisecond,
		CheckpointInterval: time.Hour,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutSession(t.Context(), store.Record{ID: "expires", Data: []byte("r")}); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(logPath(path))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !logged(t, f, opExpire, "expires") {
		if time.Now().After(deadline) {
			t.Fatal("the sweeper did not log the deletion of the expired session")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.SimulateCrash(); err != nil {
		t.Fatal(err)
	}

	// Replay the log into the file with the recovery alone: a store's own
	// sweeper would delete the session at Open and prove nothing.
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if !logged(t, f, opPut, "expires") {
		t.Fatal("the log does not hold the Put: the test checks nothing")
	}
	if _, err := recoverFile(db, f, slog.Default()); err != nil {
		t.Fatal(err)
	}
	if onDisk(t, db, "expires") {
		t.Fatal("a session that the sweeper deleted is in the file again after a crash")
	}
}

// logged reports whether the log holds an op of kind that names session.
func logged(t *testing.T, f *os.File, kind opKind, session string) bool {
	t.Helper()
	recs, err := readLog(f)
	if err != nil {
		t.Fatal(err)
	}
	var o op
	for _, r := range recs {
		if err := decodeOp(r.body, &o); err != nil {
			t.Fatal(err)
		}
		names := append([][]byte{o.session}, o.items...)
		if o.kind == kind && slices.ContainsFunc(names, func(b []byte) bool { return string(b) == session }) {
			return true
		}
	}
	return false
}

// The sweeper deletes expired tasks from the file, with their index
// entries, and leaves live ones.
func TestSweeper_DeletesExpiredTasksFromDisk(t *testing.T) {
	s, err := Open(t.TempDir()+"/mooring.db", &Options{SweepInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	// In this order: a checkpoint that holds the live task holds the other.
	for _, id := range []string{"expires", "alive"} {
		ttl := time.Hour
		if id == "expires" {
			ttl = 300 * time.Millisecond
		}
		if _, err := s.CreateTask(ctx, store.TaskRecord{ID: id, Scope: "s", Active: true, Expires: time.Now().Add(ttl), Data: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	}
	taskOnDisk := func(id string) (n int) {
		if err := s.db.View(func(tx *bolt.Tx) error {
			for _, has := range []bool{
				hasKey(tx.Bucket(bucketTasks), []byte(id)),
				hasKey(tx.Bucket(bucketTaskScopes), scopeKey([]byte("s"), []byte(id))),
				hasKey(tx.Bucket(bucketTaskActive), []byte(id)),
			} {
				if has {
					n++
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	// The file has the writes once they are checkpointed.
	deadline := time.Now().Add(10 * time.Second)
	for taskOnDisk("expires") > 0 || taskOnDisk("alive") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the file holds %d of the expired task's 3 entries and %d of the live one's", taskOnDisk("expires"), taskOnDisk("alive"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
