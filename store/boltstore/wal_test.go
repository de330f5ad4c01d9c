package boltstore_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"reflect"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/boltstore"
	"github.com/mooring-dev/mooring/store/storetest"
)

// noCheckpoint keeps every write in the write-ahead log for the length of
// a test: what a crash then leaves is the state at Open plus the log.
const noCheckpoint = time.Hour

// crash ends s as a crash would (no checkpoint) and checks that the log
// holds something, so that the reopen really replays it.
func crash(t *testing.T, s *boltstore.Store) {
	t.Helper()
	if err := s.SimulateCrash(); err != nil {
		t.Fatalf("SimulateCrash: %v", err)
	}
	if st, err := os.Stat(boltstore.LogPath(s.Path())); err != nil || st.Size() == 0 {
		t.Fatalf("no write-ahead log after a crash: %v, %v", st, err)
	}
}

// TestConformance_CrashReopen runs the shared suite with a reopen that
// follows a crash instead of a Close: whatever the suite checks survives
// a restart must survive through the log alone.
func TestConformance_CrashReopen(t *testing.T) {
	harness := func(t *testing.T, l store.Limits) store.Store {
		return open(t, tempPath(t), &boltstore.Options{Limits: l, CheckpointInterval: noCheckpoint})
	}
	reopen := func(t *testing.T, old store.Store) store.Store {
		bs := old.(*boltstore.Store)
		path, limits := bs.Path(), bs.Limits()
		crash(t, bs)
		return open(t, path, &boltstore.Options{Limits: limits, CheckpointInterval: noCheckpoint})
	}
	storetest.Run(t, harness, &storetest.Options{Reopen: reopen})
}

// snapshot is everything a store answers about some sessions.
type snapshot map[string]sessionState

type sessionState struct {
	Record  string
	Log     []store.Event
	Streams []string
	After   map[string]string // stream → the events After(stream, 0) returns, or its error
}

func takeSnapshot(t *testing.T, s store.Store, ids ...string) snapshot {
	t.Helper()
	snap := snapshot{}
	for _, id := range ids {
		var st sessionState
		rec, err := s.GetSession(t.Context(), id)
		st.Record = fmt.Sprintf("%q %v", rec.Data, err)
		st.Log, err = s.Log(t.Context(), id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Log(%q): %v", id, err)
		}
		st.Streams, _ = s.Streams(t.Context(), id)
		st.After = map[string]string{}
		for _, stream := range []string{"a", "b", "c"} {
			evs, err := s.After(t.Context(), id, store.EventID{Stream: stream})
			st.After[stream] = fmt.Sprintf("%v %v", evs, errors.Is(err, store.ErrPurged))
		}
		snap[id] = st
	}
	return snap
}

// TestCrash_AcknowledgedWritesSurvive makes every kind of write, crashes
// without a checkpoint, and checks that the reopened store answers as the
// crashed one did: appends with their seqs, records, deletes, imports,
// caps and purge marks.
func TestCrash_AcknowledgedWritesSurvive(t *testing.T) {
	path := tempPath(t)
	opts := &boltstore.Options{Limits: store.Limits{MaxEvents: 4}, CheckpointInterval: noCheckpoint}
	s := open(t, path, opts)
	ctx := t.Context()

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(s.PutSession(ctx, store.Record{ID: "kept", Data: []byte("v1")}))
	must(s.PutSession(ctx, store.Record{ID: "kept", Data: []byte("v2")}))
	must(s.PutSession(ctx, store.Record{ID: "deleted", Data: []byte("gone")}))
	for i := range 7 { // past the cap: the oldest are purged
		_, err := s.Append(ctx, "kept", []string{"a", "b"}[i%2], []byte(fmt.Sprint("event ", i)))
		must(err)
	}
	ids, err := s.AppendBatch(ctx, "kept", "c", [][]byte{[]byte("c1"), []byte("c2")})
	must(err)
	if ids[1].Seq != 9 {
		t.Fatalf("batch ids %v, want seqs 8 and 9", ids)
	}
	_, err = s.Append(ctx, "deleted", "a", []byte("gone"))
	must(err)
	must(s.DeleteSession(ctx, "deleted"))
	must(s.Import(ctx, "imported", []store.Event{
		{ID: store.EventID{Stream: "a", Seq: 40}, Data: []byte("i40")},
		{ID: store.EventID{Stream: "b", Seq: 41}, Data: []byte("i41")},
	}))
	must(s.TouchSession(ctx, "kept"))
	_, err = s.Append(ctx, "events-only", "a", []byte(""))
	must(err)

	before := takeSnapshot(t, s, "kept", "deleted", "imported", "events-only")
	if before["kept"].After["a"] != "[] true" {
		t.Fatalf("the cap did not purge stream a: %v", before["kept"].After["a"])
	}
	crash(t, s)
	if onDisk(t, path, "kept") {
		t.Fatal("the bbolt file holds the writes already: the test checks nothing")
	}

	s = open(t, path, opts)
	after := takeSnapshot(t, s, "kept", "deleted", "imported", "events-only")
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("after a crash the store answers\n%v\nbefore it answered\n%v", after, before)
	}
	// Seqs go on where they stopped.
	for session, want := range map[string]uint64{"kept": 10, "imported": 42} {
		id, err := s.Append(ctx, session, "a", []byte("next"))
		if err != nil || id.Seq != want {
			t.Errorf("Append to %s after the crash: %v, %v; want seq %d", session, id, err, want)
		}
	}
}

// TestCrash_TouchSurvives checks that a touch's new expiry is replayed: the
// session outlives the expiry that its Put gave it.
func TestCrash_TouchSurvives(t *testing.T) {
	const ttl = 2 * time.Second
	path := tempPath(t)
	opts := &boltstore.Options{Limits: store.Limits{TTL: ttl}, CheckpointInterval: noCheckpoint}
	s := open(t, path, opts)
	start := time.Now()
	if err := s.PutSession(t.Context(), store.Record{ID: "touched", Data: []byte("r")}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(ttl / 2)
	if err := s.TouchSession(t.Context(), "touched"); err != nil {
		t.Fatal(err)
	}
	crash(t, s)
	s = open(t, path, opts)
	// Past the expiry of the Put, before the expiry of the Touch.
	time.Sleep(time.Until(start.Add(ttl * 5 / 4)))
	if _, err := s.GetSession(t.Context(), "touched"); err != nil {
		if time.Since(start) < ttl*3/2 {
			t.Fatalf("a touched session expired after a crash: %v", err)
		}
		t.Skip("too slow a machine to tell the two expiries apart")
	}
}

// TestLog_TornTailIsIgnored appends garbage and a cut-off record to the
// log, as a crash in the middle of a write leaves it: Open recovers every
// record before them and ignores the rest.
func TestLog_TornTailIsIgnored(t *testing.T) {
	for _, tc := range []struct {
		name string
		tail func(log []byte) []byte
		lost int // how many of the last appends the tail takes away
	}{
		{"garbage", func([]byte) []byte { return bytes.Repeat([]byte{0xa5, 0x00, 0x17}, 100) }, 0},
		{"zeros", func([]byte) []byte { return make([]byte, 4096) }, 0},
		{"repeated record", func(log []byte) []byte { return log[:len(log)/3] }, 0},
		{"cut last record", func([]byte) []byte { return nil }, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := tempPath(t)
			opts := &boltstore.Options{CheckpointInterval: noCheckpoint}
			s := open(t, path, opts)
			var acked []store.EventID
			for i := range 10 {
				id, err := s.Append(t.Context(), "torn", "s", []byte(fmt.Sprint("event ", i)))
				if err != nil {
					t.Fatal(err)
				}
				acked = append(acked, id)
			}
			crash(t, s)
			logPath := boltstore.LogPath(path)
			log, err := os.ReadFile(logPath)
			if err != nil {
				t.Fatal(err)
			}
			if tc.lost > 0 {
				log = log[:len(log)-5] // the last record loses its end
			}
			if err := os.WriteFile(logPath, append(log, tc.tail(log)...), 0o600); err != nil {
				t.Fatal(err)
			}

			s = open(t, path, opts)
			want := acked[:len(acked)-tc.lost]
			checkEvents(t, s, "torn", want)
			// The store goes on: new writes follow what was recovered, and
			// survive another crash.
			id, err := s.Append(t.Context(), "torn", "s", []byte("after"))
			if err != nil || id.Seq != uint64(len(want)+1) {
				t.Fatalf("Append after recovery: %v, %v; want seq %d", id, err, len(want)+1)
			}
			crash(t, s)
			s = open(t, path, opts)
			checkEvents(t, s, "torn", append(want, id))
		})
	}
}

// TestLog_ReplayIsIdempotent puts back a log whose records were
// checkpointed already (as if its truncation had been lost): Open must not
// apply them again.
func TestLog_ReplayIsIdempotent(t *testing.T) {
	path := tempPath(t)
	opts := &boltstore.Options{CheckpointInterval: noCheckpoint}
	s := open(t, path, opts)
	var acked []store.EventID
	for i := range 5 {
		id, err := s.Append(t.Context(), "once", "s", []byte(fmt.Sprint("event ", i)))
		if err != nil {
			t.Fatal(err)
		}
		acked = append(acked, id)
	}
	log, err := os.ReadFile(boltstore.LogPath(path))
	if err != nil || len(log) == 0 {
		t.Fatalf("read the log: %d bytes, %v", len(log), err)
	}
	if err := s.Close(); err != nil { // checkpoints and empties the log
		t.Fatal(err)
	}
	if err := os.WriteFile(boltstore.LogPath(path), log, 0o600); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second time after a crash, so the same log stays
		s = open(t, path, opts)
		checkEvents(t, s, "once", acked)
		if err := s.SimulateCrash(); err != nil {
			t.Fatal(err)
		}
	}
	s = open(t, path, opts)
	id, err := s.Append(t.Context(), "once", "s", []byte("next"))
	if err != nil || id.Seq != 6 {
		t.Fatalf("Append after replays: %v, %v; want seq 6", id, err)
	}
}

// TestFormat_MarksAFileWithALog checks the format value: "2" while a log
// may hold writes (an older mooring must not open the file and miss them),
// "1" again after Close.
func TestFormat_MarksAFileWithALog(t *testing.T) {
	path := tempPath(t)
	s := open(t, path, &boltstore.Options{CheckpointInterval: noCheckpoint})
	if _, err := s.Append(t.Context(), "f", "s", []byte("x")); err != nil {
		t.Fatal(err)
	}
	crash(t, s)
	if got := format(t, path); got != "2" {
		t.Errorf("format after a crash %q, want 2", got)
	}
	s = open(t, path, nil)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := format(t, path); got != "1" {
		t.Errorf("format after Close %q, want 1", got)
	}
	if st, err := os.Stat(boltstore.LogPath(path)); err != nil || st.Size() != 0 {
		t.Errorf("log after Close: %v, %v; want an empty file", st, err)
	}
}

// checkEvents checks that the session's stream "s" holds exactly want.
func checkEvents(t *testing.T, s store.Store, session string, want []store.EventID) {
	t.Helper()
	evs, err := s.After(t.Context(), session, store.EventID{Stream: "s"})
	if err != nil {
		t.Fatalf("After: %v", err)
	}
	var got []store.EventID
	for _, ev := range evs {
		got = append(got, ev.ID)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}

// onDisk reports whether the bbolt file of a closed store holds any part of
// a session, read with bbolt itself.
func onDisk(t *testing.T, path, id string) bool {
	t.Helper()
	var found bool
	view(t, path, func(tx *bolt.Tx) {
		found = tx.Bucket([]byte("sessions")).Get([]byte(id)) != nil || tx.Bucket([]byte("data")).Bucket([]byte(id)) != nil
	})
	return found
}

func format(t *testing.T, path string) string {
	t.Helper()
	var f string
	view(t, path, func(tx *bolt.Tx) { f = string(tx.Bucket([]byte("info")).Get([]byte("format"))) })
	return f
}

func view(t *testing.T, path string, fn func(tx *bolt.Tx)) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(func(tx *bolt.Tx) error { fn(tx); return nil }); err != nil {
		t.Fatal(err)
	}
}
