package boltstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/boltstore"
)

// The file keeps the pages that ended sessions freed; Compact gives them
// back and keeps every session.
func TestCompact_ReclaimsFreePages(t *testing.T) {
	path, _ := filled(t, 400)
	s := open(t, path, &boltstore.Options{NoSync: true})
	ctx := context.Background()
	for i := 20; i < 400; i++ {
		if err := s.DeleteSession(ctx, fmt.Sprintf("s%04d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := boltstore.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Sessions != 20 || st.FreeBytes < st.Size/2 {
		t.Fatalf("before: %+v; want 20 sessions and most of the file free", st)
	}
	before, after, err := boltstore.Compact(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("compacted %d -> %d bytes (%d free before)", before, after, st.FreeBytes)
	if before != st.Size || after > before/2 {
		t.Errorf("compacted %d -> %d bytes, want the file at least halved", before, after)
	}
	if err := boltstore.CheckFile(path); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, path, nil)
	for i := range 20 {
		if _, err := s2.GetSession(ctx, fmt.Sprintf("s%04d", i)); err != nil {
			t.Errorf("session %d after compaction: %v", i, err)
		}
	}
}

// A store that is open (a running mooring) is not compacted under it.
func TestCompact_RefusesOpenStore(t *testing.T) {
	path, _ := filled(t, 1)
	open(t, path, nil)
	if _, _, err := boltstore.Compact(path, nil); err == nil {
		t.Fatal("Compact of an open store succeeded")
	}
}

// CountSessions counts the sessions of the store, also those written
// since the last checkpoint.
func TestStore_CountSessions(t *testing.T) {
	path, _ := filled(t, 30)
	s := open(t, path, &boltstore.Options{NoSync: true, CheckpointInterval: time.Hour})
	ctx := context.Background()
	for i := range 5 {
		if err := s.PutSession(ctx, store.Record{ID: fmt.Sprintf("n%d", i), Data: []byte("r")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteSession(ctx, "s0000"); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountSessions(ctx); err != nil || n != 34 {
		t.Errorf("CountSessions = %d, %v; want 34", n, err)
	}
}
