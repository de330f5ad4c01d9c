package redisstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/internal/leakcheck"
	"github.com/mooring-dev/mooring/internal/redistest"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/redisstore"
)

// TestMain fails if goroutines of rueidis or of this package outlive the
// tests: every Store must stop its janitor and connections on Close.
func TestMain(m *testing.M) {
	leakcheck.Main(m, "closed stores", 5*time.Second, "rueidis", "redisstore.(*Store)")
}

// open opens a Store on url with limits and closes it when the test ends.
func open(t testing.TB, url string, limits store.Limits) *redisstore.Store {
	t.Helper()
	s, err := redisstore.Open(context.Background(), &redisstore.Options{URL: url, Limits: limits})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// opener opens a fresh Store for one test.
type opener func(t *testing.T, limits store.Limits) *redisstore.Store

// uniquePrefix keeps stores of different tests on one server apart.
func uniquePrefix(t testing.TB) string {
	return strings.NewReplacer("/", ":", "{", "(", "}", ")").Replace(t.Name()) + ":"
}

func openerFor(url string) opener {
	return func(t *testing.T, limits store.Limits) *redisstore.Store {
		t.Helper()
		s, err := redisstore.Open(context.Background(), &redisstore.Options{URL: url, Limits: limits, KeyPrefix: uniquePrefix(t)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
}

func TestStandalone(t *testing.T) {
	srv := redistest.Start(t)
	runBehaviour(t, openerFor(srv.URL()))
}

func TestCluster(t *testing.T) {
	c := redistest.StartCluster(t, 3)
	runBehaviour(t, openerFor(c.URL()))
}

// runBehaviour checks the store's own behaviour on one deployment.
func runBehaviour(t *testing.T, open opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open opener)
	}{
		{"Session_PutGetTouchDelete", testSessionLifecycle},
		{"Session_TTLSlidesAndExpires", testTTL},
		{"Append_OrderAndIsolation", testAppendIsolation},
		{"Append_CountCapPurges", testCountCap},
		{"Append_ByteCapKeepsNewest", testByteCap},
		{"Append_Concurrent", testConcurrentAppend},
		{"Append_ConcurrentManySessions", testConcurrentManySessions},
		{"Append_ConcurrentCaps", testConcurrentCaps},
		{"Streams_OrderOfFirstRetained", testStreams},
		{"List_PagesAndSkipsGone", testList},
		{"Sweep_DropsExpiredKeepsAppended", testSweep},
		{"Keys_OddSessionIDs", testOddIDs},
		{"Close_Idempotent", testClose},
		{"Lease_OneOwnerAtATime", testLease},
		{"Lease_FencesStaleWrites", testFence},
		{"Lease_TakenFromAGoneOwner", testTakeLease},
		{"Lease_DrainingMark", testDraining},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open) })
	}
}

var ctx = context.Background()

func testSessionLifecycle(t *testing.T, open opener) {
	s := open(t, store.Limits{})
	if _, err := s.GetSession(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of unknown session: err = %v, want ErrNotFound", err)
	}
	if err := s.TouchSession(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Touch of unknown session: err = %v, want ErrNotFound", err)
	}
	if err := s.PutSession(ctx, store.Record{ID: "a", Data: []byte("one\x00two")}); err != nil {
		t.Fatal(err)
	}
	rec, err := s.GetSession(ctx, "a")
	if err != nil || rec.ID != "a" || string(rec.Data) != "one\x00two" {
		t.Fatalf("Get = %+v, %v", rec, err)
	}
	if err := s.TouchSession(ctx, "a"); err != nil {
		t.Fatalf("Touch: %v", err)
	}
	if _, err := s.Append(ctx, "a", "get", []byte("e1")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSession(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetSession(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after Delete: err = %v", err)
	}
	if _, err := s.After(ctx, "a", store.EventID{Stream: "get"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("After after Delete: err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteSession(ctx, "a"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
}

func testTTL(t *testing.T, open opener) {
	const ttl = 400 * time.Millisecond
	s := open(t, store.Limits{TTL: ttl})
	if err := s.PutSession(ctx, store.Record{ID: "a", Data: []byte("r")}); err != nil {
		t.Fatal(err)
	}
	// Appends keep record and events alive past the first TTL.
	for range 4 {
		time.Sleep(ttl / 2)
		if _, err := s.Append(ctx, "a", "get", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.GetSession(ctx, "a"); err != nil {
		t.Fatalf("record expired although Append slid the TTL: %v", err)
	}
	time.Sleep(ttl + 200*time.Millisecond)
	if _, err := s.GetSession(ctx, "a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after TTL: err = %v, want ErrNotFound", err)
	}
	if _, err := s.After(ctx, "a", store.EventID{Stream: "get"}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("After after TTL: err = %v, want ErrNotFound", err)
	}
	// A new incarnation starts its sequence again.
	id, err := s.Append(ctx, "a", "get", []byte("y"))
	if err != nil || id.Seq != 1 {
		t.Fatalf("Append after expiry = %v, %v; want seq 1", id, err)
	}
}

func testAppendIsolation(t *testing.T, open opener) {
	s := open(t, store.Limits{})
	var want []store.Event
	for i := range 10 {
		stream := []string{"get", "post-1"}[i%2]
		data := []byte(fmt.Sprintf("m%d", i))
		id, err := s.Append(ctx, "a", stream, data)
		if err != nil {
			t.Fatal(err)
		}
		if id.Seq != uint64(i+1) || id.Stream != stream {
			t.Fatalf("Append #%d = %v", i, id)
		}
		if stream == "get" {
			want = append(want, store.Event{ID: id, Data: data})
		}
		if _, err := s.Append(ctx, "b", stream, []byte("other session")); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.After(ctx, "a", store.EventID{Stream: "get"})
	if err != nil || !equalEvents(got, want) {
		t.Fatalf("After(get, 0) = %v, %v; want %v", got, err, want)
	}
	got, err = s.After(ctx, "a", want[2].ID)
	if err != nil || !equalEvents(got, want[3:]) {
		t.Fatalf("After(%v) = %v, %v; want %v", want[2].ID, got, err, want[3:])
	}
	got, err = s.After(ctx, "a", store.EventID{Stream: "get", Seq: 1 << 63})
	if err != nil || len(got) != 0 {
		t.Fatalf("After past the end = %v, %v", got, err)
	}
	got, err = s.After(ctx, "a", store.EventID{Stream: "nope"})
	if err != nil || got != nil {
		t.Fatalf("After of an unknown stream = %v, %v; want nil, nil", got, err)
	}
	// The caller owns returned data.
	got, _ = s.After(ctx, "a", store.EventID{Stream: "get"})
	got[0].Data[0] = 'X'
	again, _ := s.After(ctx, "a", store.EventID{Stream: "get"})
	if string(again[0].Data) != "m0" {
		t.Fatalf("changing returned data changed the store: %q", again[0].Data)
	}
	if _, err := s.Append(ctx, "a", "bad_stream", nil); err == nil {
		t.Fatal("Append with an invalid stream id succeeded")
	}
}

func testCountCap(t *testing.T, open opener) {
	s := open(t, store.Limits{MaxEvents: 5})
	for i := range 12 {
		id, err := s.Append(ctx, "a", []string{"get", "post"}[i%3/2], []byte{byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		if id.Seq != uint64(i+1) {
			t.Fatalf("append %d: seq %d, want %d", i, id.Seq, i+1)
		}
	}
	// Kept: seqs 8..12. Removed: 1..7, the last "post" one being 6.
	if _, err := s.After(ctx, "a", store.EventID{Stream: "get"}); !errors.Is(err, store.ErrPurged) {
		t.Fatalf("After(get, 0): err = %v, want ErrPurged", err)
	}
	if _, err := s.After(ctx, "a", store.EventID{Stream: "post", Seq: 3}); !errors.Is(err, store.ErrPurged) {
		t.Fatalf("After(post, 3): err = %v, want ErrPurged", err)
	}
	got, err := s.After(ctx, "a", store.EventID{Stream: "post", Seq: 6})
	if err != nil || len(got) != 2 || got[0].ID.Seq != 9 || got[1].ID.Seq != 12 {
		t.Fatalf("After(post, 6) = %v, %v; want seqs 9 and 12", got, err)
	}
	got, err = s.After(ctx, "a", store.EventID{Stream: "get", Seq: 7})
	if err != nil || len(got) != 3 || got[0].ID.Seq != 8 {
		t.Fatalf("After(get, 7) = %v, %v; want seqs 8, 10, 11", got, err)
	}
}

func testByteCap(t *testing.T, open opener) {
	s := open(t, store.Limits{MaxBytes: 100})
	for range 5 {
		if _, err := s.Append(ctx, "a", "get", bytes.Repeat([]byte("x"), 30)); err != nil {
			t.Fatal(err)
		}
	}
	// 3 × 30 bytes fit; seqs 1 and 2 are gone.
	got, err := s.After(ctx, "a", store.EventID{Stream: "get", Seq: 2})
	if err != nil || len(got) != 3 {
		t.Fatalf("After(get, 2) = %d events, %v; want 3", len(got), err)
	}
	// One event bigger than the cap is still kept, alone.
	big, err := s.Append(ctx, "a", "get", bytes.Repeat([]byte("y"), 500))
	if err != nil {
		t.Fatal(err)
	}
	got, err = s.After(ctx, "a", store.EventID{Stream: "get", Seq: big.Seq - 1})
	if err != nil || len(got) != 1 || len(got[0].Data) != 500 {
		t.Fatalf("After the big event's predecessor = %d events, %v", len(got), err)
	}
	if _, err := s.After(ctx, "a", store.EventID{Stream: "get", Seq: big.Seq - 2}); !errors.Is(err, store.ErrPurged) {
		t.Fatalf("err = %v, want ErrPurged", err)
	}
	// The byte count followed the trimming: small events fit again.
	for range 3 {
		if _, err := s.Append(ctx, "a", "get", bytes.Repeat([]byte("z"), 30)); err != nil {
			t.Fatal(err)
		}
	}
	got, err = s.After(ctx, "a", big)
	if err != nil || len(got) != 3 {
		t.Fatalf("After the big event = %d events, %v; want 3", len(got), err)
	}
}

func testConcurrentAppend(t *testing.T, open opener) {
	s := open(t, store.Limits{MaxEvents: 10000})
	const workers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				if _, err := s.Append(ctx, "a", "get", []byte(fmt.Sprintf("%d-%d", w, i))); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := s.After(ctx, "a", store.EventID{Stream: "get"})
	if err != nil || len(got) != workers*each {
		t.Fatalf("After = %d events, %v", len(got), err)
	}
	for i, ev := range got {
		if ev.ID.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d: seqs must be dense and ordered", i, ev.ID.Seq)
		}
	}
}

// testConcurrentManySessions appends from many callers at once, to many
// sessions and several callers per session, with Append and AppendBatch,
// so that batches carry many sessions and several requests of one: every
// id is unique in its session, each caller's ids rise, and a replay of each
// caller's stream is exactly what it was acknowledged, in order.
func testConcurrentManySessions(t *testing.T, open opener) {
	s := open(t, store.Limits{MaxEvents: 100000})
	const sessions, perSession, rounds = 12, 4, 40
	type acked struct {
		session, stream string
		events          []store.Event
	}
	results := make([]acked, sessions*perSession)
	var wg sync.WaitGroup
	for w := range results {
		wg.Go(func() {
			a := &results[w]
			a.session, a.stream = fmt.Sprintf("s%d", w%sessions), fmt.Sprintf("w%d", w)
			for i := range rounds {
				data := [][]byte{[]byte(fmt.Sprintf("%s-%d", a.stream, i))}
				if i%3 == 0 {
					data = append(data, []byte(fmt.Sprintf("%s-%d-b", a.stream, i)))
				}
				var ids []store.EventID
				var err error
				if len(data) == 1 {
					var id store.EventID
					id, err = s.Append(ctx, a.session, a.stream, data[0])
					ids = []store.EventID{id}
				} else {
					ids, err = s.AppendBatch(ctx, a.session, a.stream, data)
				}
				if err != nil {
					t.Error(err)
					return
				}
				for j, id := range ids {
					a.events = append(a.events, store.Event{ID: id, Data: data[j]})
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	seen := make(map[string]map[uint64]bool)
	for _, a := range results {
		if seen[a.session] == nil {
			seen[a.session] = make(map[uint64]bool)
		}
		for i, ev := range a.events {
			if seen[a.session][ev.ID.Seq] {
				t.Fatalf("session %s: seq %d given twice", a.session, ev.ID.Seq)
			}
			seen[a.session][ev.ID.Seq] = true
			if i > 0 && ev.ID.Seq <= a.events[i-1].ID.Seq {
				t.Fatalf("caller %s: seq %d after %d", a.stream, ev.ID.Seq, a.events[i-1].ID.Seq)
			}
		}
		got, err := s.After(ctx, a.session, store.EventID{Stream: a.stream})
		if err != nil || !equalEvents(got, a.events) {
			t.Fatalf("After(%s, %s) = %d events, %v; want the %d acknowledged", a.session, a.stream, len(got), err, len(a.events))
		}
	}
	// Seqs are dense: nothing was appended that was not acknowledged.
	for session, seqs := range seen {
		for seq := range uint64(len(seqs)) {
			if !seqs[seq+1] {
				t.Fatalf("session %s: seq %d missing of %d", session, seq+1, len(seqs))
			}
		}
	}
}

// testConcurrentCaps appends from many callers at once, one stream each,
// with a small count cap: each session keeps exactly its newest events,
// and each stream's purge mark is its last removed event.
func testConcurrentCaps(t *testing.T, open opener) {
	const maxEvents = 5
	s := open(t, store.Limits{MaxEvents: maxEvents})
	const sessions, perSession, rounds = 6, 5, 20
	acked := make([][]store.EventID, sessions*perSession)
	var wg sync.WaitGroup
	for w := range acked {
		wg.Go(func() {
			for range rounds {
				id, err := s.Append(ctx, fmt.Sprintf("s%d", w%sessions), fmt.Sprintf("w%d", w), []byte("e"))
				if err != nil {
					t.Error(err)
					return
				}
				acked[w] = append(acked[w], id)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	const total = perSession * rounds
	for w, ids := range acked {
		session := fmt.Sprintf("s%d", w%sessions)
		var kept, removed []store.EventID
		for _, id := range ids {
			if id.Seq > total-maxEvents {
				kept = append(kept, id)
			} else {
				removed = append(removed, id)
			}
		}
		if len(removed) == 0 {
			t.Fatalf("caller %d lost no event; the test needs more rounds", w)
		}
		last := removed[len(removed)-1]
		got, err := s.After(ctx, session, last)
		if err != nil || len(got) != len(kept) {
			t.Fatalf("After(%s, %v) = %v, %v; want the %d kept", session, last, got, err, len(kept))
		}
		if _, err := s.After(ctx, session, store.EventID{Stream: last.Stream, Seq: last.Seq - 1}); !errors.Is(err, store.ErrPurged) {
			t.Fatalf("After(%s, %s_%d) = %v; want ErrPurged", session, last.Stream, last.Seq-1, err)
		}
	}
	for i := range sessions {
		if evs, err := s.Log(ctx, fmt.Sprintf("s%d", i)); err != nil || len(evs) != maxEvents || evs[0].ID.Seq != total-maxEvents+1 {
			t.Fatalf("Log(s%d) = %v, %v; want seqs %d..%d", i, evs, err, total-maxEvents+1, total)
		}
	}
}

func testStreams(t *testing.T, open opener) {
	s := open(t, store.Limits{MaxEvents: 3})
	if got, err := s.Streams(ctx, "a"); err != nil || got != nil {
		t.Fatalf("Streams of unknown session = %v, %v", got, err)
	}
	for _, st := range []string{"A", "B", "A", "C"} {
		if _, err := s.Append(ctx, "a", st, nil); err != nil {
			t.Fatal(err)
		}
	}
	// A1 was trimmed: retained B2 A3 C4.
	got, err := s.Streams(ctx, "a")
	if err != nil || !slices.Equal(got, []string{"B", "A", "C"}) {
		t.Fatalf("Streams = %v, %v; want [B A C]", got, err)
	}
}

func testList(t *testing.T, open opener) {
	s := open(t, store.Limits{})
	var want []string
	for i := range 25 {
		id := fmt.Sprintf("s%02d", i)
		if err := s.PutSession(ctx, store.Record{ID: id, Data: []byte("r")}); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	// Events alone do not make a listed session.
	if _, err := s.Append(ctx, "events-only", "get", nil); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"s03", "s10", "s11", "s24"} {
		if err := s.DeleteSession(ctx, id); err != nil {
			t.Fatal(err)
		}
		want = slices.DeleteFunc(want, func(x string) bool { return x == id })
	}
	var got []string
	cursor, pages := "", 0
	for {
		ids, next, err := s.ListSessions(ctx, cursor, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) > 7 {
			t.Fatalf("page of %d ids, limit 7", len(ids))
		}
		got = append(got, ids...)
		pages++
		if next == "" {
			break
		}
		cursor = next
	}
	if !slices.Equal(got, want) || pages != 3 {
		t.Fatalf("listed %v in %d pages; want %v in 3", got, pages, want)
	}
	all, next, err := s.ListSessions(ctx, "", 0)
	if err != nil || next != "" || !slices.Equal(all, want) {
		t.Fatalf("ListSessions(limit 0) = %v, %q, %v", all, next, err)
	}
}

func testSweep(t *testing.T, open opener) {
	const ttl = 300 * time.Millisecond
	s := open(t, store.Limits{TTL: ttl})
	for _, id := range []string{"dies", "lives"} {
		if err := s.PutSession(ctx, store.Record{ID: id, Data: []byte("r")}); err != nil {
			t.Fatal(err)
		}
	}
	// Only Appends keep "lives" alive; its index score falls behind.
	for range 4 {
		time.Sleep(ttl / 3)
		if _, err := s.Append(ctx, "lives", "get", nil); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(ttl / 3)
	removed, err := s.Sweep(ctx)
	if err != nil || removed != 1 {
		t.Fatalf("Sweep = %d, %v; want 1 removed", removed, err)
	}
	ids, _, err := s.ListSessions(ctx, "", 0)
	if err != nil || !slices.Equal(ids, []string{"lives"}) {
		t.Fatalf("ListSessions = %v, %v", ids, err)
	}
	if removed, err := s.Sweep(ctx); err != nil || removed != 0 {
		t.Fatalf("second Sweep = %d, %v; want 0", removed, err)
	}
}

func testOddIDs(t *testing.T, open opener) {
	s := open(t, store.Limits{})
	// Braces would break the hash tag (CROSSSLOT on a Cluster) if they
	// reached the keys unescaped; % must not collide with the escapes.
	ids := []string{"", "}", "{", "a}b{c", "%7D", "%", "x:rec", "ü ✓"}
	for i, id := range ids {
		data := []byte(fmt.Sprintf("rec %d", i))
		if err := s.PutSession(ctx, store.Record{ID: id, Data: data}); err != nil {
			t.Fatalf("Put %q: %v", id, err)
		}
		if _, err := s.Append(ctx, id, "get", data); err != nil {
			t.Fatalf("Append %q: %v", id, err)
		}
	}
	for i, id := range ids {
		want := fmt.Sprintf("rec %d", i)
		rec, err := s.GetSession(ctx, id)
		if err != nil || string(rec.Data) != want {
			t.Fatalf("Get %q = %q, %v; want %q", id, rec.Data, err, want)
		}
		evs, err := s.After(ctx, id, store.EventID{Stream: "get"})
		if err != nil || len(evs) != 1 || string(evs[0].Data) != want {
			t.Fatalf("After %q = %v, %v", id, evs, err)
		}
	}
	listed, _, err := s.ListSessions(ctx, "", 0)
	if err != nil || len(listed) != len(ids) {
		t.Fatalf("ListSessions = %q, %v", listed, err)
	}
}

func testClose(t *testing.T, open opener) {
	s := open(t, store.Limits{})
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := s.Close(); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("second Close: err = %v, want ErrClosed", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Ping after Close: err = %v", err)
	}
	if _, err := s.Append(ctx, "a", "get", nil); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Append after Close: err = %v", err)
	}
}

func equalEvents(a, b []store.Event) bool {
	return slices.EqualFunc(a, b, func(x, y store.Event) bool {
		return x.ID == y.ID && bytes.Equal(x.Data, y.Data)
	})
}

func TestInfo(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv.URL(), store.Limits{})
	version, mem, clients, err := s.Info(ctx)
	if err != nil || version == "" || mem <= 0 || clients < 1 {
		t.Fatalf("Info = %q, %d, %d, %v", version, mem, clients, err)
	}
}

func TestKeys_SessionSharesOneSlot(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv.URL(), store.Limits{})
	if err := s.PutSession(ctx, store.Record{ID: "abc", Data: []byte("r")}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "abc", "get", []byte("e")); err != nil {
		t.Fatal(err)
	}
	keys, err := srv.Command("KEYS", "*")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(keys, "\n")
	slices.Sort(got)
	want := []string{"mooring:{abc}:ev", "mooring:{abc}:meta", "mooring:{abc}:rec", "mooring:{index}:exp", "mooring:{index}:ids"}
	if !slices.Equal(got, want) {
		t.Fatalf("keys = %q, want %q", got, want)
	}
	for _, k := range want[:3] {
		if ttl, err := srv.Command("PTTL", k); err != nil || ttl == "-1" || ttl == "-2" {
			t.Errorf("PTTL %s = %s, %v; every session key must expire", k, ttl, err)
		}
	}
}

// TestCountCap_LazyTrim: a full log may hold up to an eighth of the cap
// past it in Redis, but After, Streams and Log show exactly the newest
// MaxEvents events, and a replay that needs one of the extra entries is
// ErrPurged, as if each append had trimmed at the cap.
func TestCountCap_LazyTrim(t *testing.T) {
	srv := redistest.Start(t)
	const maxEvents = 64 // slack: 8 entries
	s := open(t, srv.URL(), store.Limits{MaxEvents: maxEvents})
	var ids []store.EventID
	for i := range maxEvents + 7 {
		id, err := s.Append(ctx, "lazy", []string{"a", "b"}[i%2], []byte{byte(i)})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	// 71 appended; Redis trims only past 72, so it holds all of them.
	if n, err := srv.Command("XLEN", "mooring:{lazy}:ev"); err != nil || n != "71" {
		t.Fatalf("XLEN = %s, %v; want 71 (no trim within the slack)", n, err)
	}
	kept := ids[len(ids)-maxEvents:] // seqs 8..71
	all, err := s.Log(ctx, "lazy")
	if err != nil || len(all) != maxEvents || all[0].ID != kept[0] {
		t.Fatalf("Log = %d events, %v; want %d from %v", len(all), err, maxEvents, kept[0])
	}
	// Streams in the order of their oldest kept event: seq 8 is of b, while
	// the log's first entry (seq 1, removed for readers) is of a.
	if streams, err := s.Streams(ctx, "lazy"); err != nil || !slices.Equal(streams, []string{"b", "a"}) {
		t.Fatalf("Streams = %q, %v; want [b a]", streams, err)
	}
	// Seq 6 (stream b) and 7 (stream a) are past the cap: a replay of
	// either stream from before them is purged, one from after is whole.
	for _, after := range []store.EventID{ids[3], ids[4]} { // seqs 4 (b), 5 (a)
		if _, err := s.After(ctx, "lazy", after); !errors.Is(err, store.ErrPurged) {
			t.Errorf("After(%v) = %v; want ErrPurged", after, err)
		}
	}
	got, err := s.After(ctx, "lazy", ids[5]) // seq 6, stream b
	if err != nil || len(got) != 32 || got[0].ID.Seq != 8 {
		t.Fatalf("After(%v) = %d events, %v; want 32 from seq 8", ids[5], len(got), err)
	}
	if got, err = s.After(ctx, "lazy", ids[6]); err != nil || len(got) != 32 || got[0].ID.Seq != 9 {
		t.Fatalf("After(%v) = %d events, %v; want 32 from seq 9", ids[6], len(got), err)
	}
	// Two more appends pass the slack: the log is trimmed to the cap.
	for i := range 2 {
		if _, err := s.Append(ctx, "lazy", "a", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := srv.Command("XLEN", "mooring:{lazy}:ev"); err != nil || n != "64" {
		t.Fatalf("XLEN = %s, %v; want 64 after passing the slack", n, err)
	}
}
