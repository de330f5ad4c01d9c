package boltstore

import (
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/store"
)

// TestApplyFailure_OnlyTheFailingWriteFails sends a write that bbolt
// rejects (a bucket with an empty name) among many good ones: the committer
// rolls back, rebuilds its transaction from the logged writes, and answers
// the error to that write alone. What the store holds, before and after a
// crash, is exactly what was acknowledged.
func TestApplyFailure_OnlyTheFailingWriteFails(t *testing.T) {
	path := t.TempDir() + "/mooring.db"
	opts := &Options{CheckpointInterval: time.Hour}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	// Writes since the last checkpoint, which the rebuild must apply again.
	for i := range 5 {
		if _, err := s.Append(ctx, "before", "s", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	acked := map[string][]uint64{}
	for g := range 16 {
		wg.Go(func() {
			session := fmt.Sprintf("good-%d", g%4)
			for range 20 {
				id, err := s.Append(ctx, session, "s", []byte("x"))
				if err != nil {
					t.Errorf("a good append failed: %v", err)
					return
				}
				mu.Lock()
				acked[session] = append(acked[session], id.Seq)
				mu.Unlock()
			}
		})
	}
	for range 10 {
		wg.Go(func() {
			if _, err := s.write(encodeAppend(s.limits, "", "s", [][]byte{[]byte("bad")})); err == nil {
				t.Error("a write that bbolt must reject succeeded")
			}
		})
	}
	wg.Wait()

	check := func(s *Store) {
		t.Helper()
		evs, err := s.After(ctx, "before", store.EventID{Stream: "s"})
		if err != nil || len(evs) != 5 {
			t.Fatalf("the writes before the failure: %v, %v", evs, err)
		}
		for session, seqs := range acked {
			evs, err := s.After(ctx, session, store.EventID{Stream: "s"})
			if err != nil {
				t.Fatal(err)
			}
			var got []uint64
			for _, ev := range evs {
				got = append(got, ev.ID.Seq)
			}
			want := make([]uint64, len(seqs))
			for i := range want {
				want[i] = uint64(i + 1)
			}
			if !reflect.DeepEqual(got, want) || len(seqs) != len(got) {
				t.Fatalf("%s holds seqs %v, acknowledged %v", session, got, seqs)
			}
		}
	}
	check(s)
	if err := s.SimulateCrash(); err != nil {
		t.Fatal(err)
	}
	if err := CheckFile(path); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := CheckFile(path); err != nil {
		t.Fatal(err)
	}
}

// TestLogFailure_WriteFailsAndLeavesNoTrace closes the log's file under the
// committer: the append that cannot be logged fails, its event is not
// readable (it never was durable), Ping reports the failure, and what was
// acknowledged before survives.
func TestLogFailure_WriteFailsAndLeavesNoTrace(t *testing.T) {
	path := t.TempDir() + "/mooring.db"
	opts := &Options{CheckpointInterval: time.Hour}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := s.Append(ctx, "l", "s", []byte("acked")); err != nil {
		t.Fatal(err)
	}
	s.commits.log.f.Close() // os.File is safe to close while another goroutine uses it
	if _, err := s.Append(ctx, "l", "s", []byte("lost")); err == nil {
		t.Fatal("an append that could not be logged succeeded")
	}
	evs, err := s.After(ctx, "l", store.EventID{Stream: "s"})
	if err != nil || len(evs) != 1 || string(evs[0].Data) != "acked" {
		t.Fatalf("after a failed log write the store answers %v, %v; want only the acknowledged event", evs, err)
	}
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping is healthy although the log cannot be written")
	}
	_ = s.SimulateCrash() // fails to close the log's file a second time

	s, err = Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	evs, err = s.After(ctx, "l", store.EventID{Stream: "s"})
	if err != nil || len(evs) != 1 || string(evs[0].Data) != "acked" {
		t.Fatalf("after a restart the store answers %v, %v; want only the acknowledged event", evs, err)
	}
	if id, err := s.Append(ctx, "l", "s", []byte("next")); err != nil || id.Seq != 2 {
		t.Fatalf("Append after the restart: %v, %v; want seq 2", id, err)
	}
}
