package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/internal/redistest"
	"github.com/mooring-dev/mooring/store"
)

// These tests build batches by hand, so that one script certainly carries
// several sessions and streams; the concurrent tests in redisstore_test
// check the same through the public API, where batching is up to timing.

func openInternal(t *testing.T, url string, limits store.Limits) *Store {
	t.Helper()
	s, err := Open(context.Background(), &Options{URL: url, Limits: limits, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func req(session, stream string, data ...string) *appendReq {
	r := &appendReq{ctx: context.Background(), session: session, stream: stream, data: data, done: make(chan struct{})}
	for _, d := range data {
		r.size += len(d)
	}
	return r
}

// TestBatch_SeveralSessionsCapsAndMarks runs one script over three
// sessions, two requests of one of them, with a count cap that trims
// events of several streams, old and new.
func TestBatch_SeveralSessionsCapsAndMarks(t *testing.T) {
	srv := redistest.Start(t)
	s := openInternal(t, srv.URL(), store.Limits{MaxEvents: 3})
	ctx := context.Background()
	// Records without a TTL, so that the scripts' PEXPIREAT shows: the
	// first append to a session (a and b below, c in the batch) sets it.
	for _, id := range []string{"a", "b", "c"} {
		if _, err := srv.Command("SET", s.keys.record(id), "r"); err != nil {
			t.Fatal(err)
		}
	}
	// a: seqs 1 (x), 2 (y), 3 (x); b: 1 (x).
	for _, e := range []struct{ session, stream string }{{"a", "x"}, {"a", "y"}, {"a", "x"}, {"b", "x"}} {
		if _, err := s.Append(ctx, e.session, e.stream, []byte("old")); err != nil {
			t.Fatal(err)
		}
	}
	batch := []*appendReq{
		req("a", "z", "a4"),                   // a: seq 4
		req("b", "y", "b2", "b3"),             // b: seqs 2, 3
		req("c", "x", "c1"),                   // c: seq 1, a new session
		req("a", "y", "a5", "a6"),             // a: seqs 5, 6
		req("b", "z", "b4", "b5"),             // b: seqs 4, 5
		req("a", "q", "a7", "a8"),             // a: seqs 7, 8
		req("c", "x", "c2", "c3"),             // c: seqs 2, 3
		req("c", "y", "c4", "c5", "c6", "c7"), // c: seqs 4..7, more than the cap
	}
	s.execBatch(ctx, batch)
	want := []uint64{4, 2, 1, 5, 4, 7, 2, 4}
	for i, r := range batch {
		if r.err != nil || r.first != want[i] {
			t.Fatalf("request %d (%s): first = %d, %v; want %d", i, r.session, r.first, r.err, want[i])
		}
	}

	// a kept 6 (y), 7 (q), 8 (q): x lost 1 and 3, y lost 2 and 5, z lost 4.
	checkLog(t, s, "a", "6y 7q 8q")
	checkMark(t, s, "a", "x", 3)
	checkMark(t, s, "a", "y", 5)
	checkMark(t, s, "a", "z", 4)
	// b kept 3 (y), 4 (z), 5 (z): x lost 1, y lost 2.
	checkLog(t, s, "b", "3y 4z 5z")
	checkMark(t, s, "b", "x", 1)
	checkMark(t, s, "b", "y", 2)
	// c kept 5, 6, 7 (y): x lost 1..3, y lost 4 of its own batch.
	checkLog(t, s, "c", "5y 6y 7y")
	checkMark(t, s, "c", "x", 3)
	checkMark(t, s, "c", "y", 4)

	// Every key of every session in the batch has the TTL.
	for _, id := range []string{"a", "b", "c"} {
		for _, k := range s.keys.session(id) {
			ttl, err := srv.Command("PTTL", k)
			if n, _ := strconv.Atoi(ttl); err != nil || n <= 0 {
				t.Errorf("PTTL %s = %s, %v; want a TTL", k, ttl, err)
			}
		}
	}
	// bytes follows the trimming: 3 events of 2 bytes in each session.
	for _, id := range []string{"a", "b", "c"} {
		if got, err := srv.Command("HGET", s.keys.session(id)[2], "bytes"); err != nil || got != "6" {
			t.Errorf("bytes of %s = %s, %v; want 6", id, got, err)
		}
	}
}

// checkLog compares the log of a session with "<seq><stream> ...".
func checkLog(t *testing.T, s *Store, session, want string) {
	t.Helper()
	evs, err := s.Log(context.Background(), session)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		got = append(got, fmt.Sprintf("%d%s", ev.ID.Seq, ev.ID.Stream))
	}
	if strings.Join(got, " ") != want {
		t.Errorf("log of %s = %q, want %q", session, strings.Join(got, " "), want)
	}
}

// checkMark checks that a replay of stream after its last removed seq
// works and one from just before it is ErrPurged.
func checkMark(t *testing.T, s *Store, session, stream string, last uint64) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.After(ctx, session, store.EventID{Stream: stream, Seq: last}); err != nil {
		t.Errorf("%s: After(%s, %d) = %v; want events", session, stream, last, err)
	}
	if _, err := s.After(ctx, session, store.EventID{Stream: stream, Seq: last - 1}); !errors.Is(err, store.ErrPurged) {
		t.Errorf("%s: After(%s, %d) = %v; want ErrPurged", session, stream, last-1, err)
	}
}

// TestBatch_BadSessionFailsAlone: a session whose keys have the wrong type
// fails its requests only, and writes nothing.
func TestBatch_BadSessionFailsAlone(t *testing.T) {
	srv := redistest.Start(t)
	s := openInternal(t, srv.URL(), store.Limits{})
	ctx := context.Background()
	if _, err := srv.Command("SET", s.keys.session("badmeta")[2], "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Command("SET", s.keys.session("badev")[1], "x"); err != nil {
		t.Fatal(err)
	}
	batch := []*appendReq{req("ok1", "s", "1"), req("badmeta", "s", "2"), req("badev", "s", "3", "4"), req("ok2", "s", "5")}
	s.execBatch(ctx, batch)
	for _, i := range []int{0, 3} {
		if r := batch[i]; r.err != nil || r.first != 1 {
			t.Errorf("%s: first = %d, %v; want 1", r.session, r.first, r.err)
		}
	}
	for _, i := range []int{1, 2} {
		if r := batch[i]; r.err == nil || !strings.Contains(r.err.Error(), "WRONGTYPE") || !strings.Contains(r.err.Error(), r.session) {
			t.Errorf("%s: err = %v; want WRONGTYPE naming the session", r.session, r.err)
		}
	}
	if got, err := srv.Command("HGET", s.keys.session("badev")[2], "seq"); err != nil || got != "" {
		t.Errorf("badev's seq = %q, %v; want none: nothing of a failed session is written", got, err)
	}
}

// TestBatch_SeqsPastDoublePrecision: seqs stay exact where Lua numbers
// would not (above 2^53), including a carry over every digit.
func TestBatch_SeqsPastDoublePrecision(t *testing.T) {
	srv := redistest.Start(t)
	s := openInternal(t, srv.URL(), store.Limits{})
	ctx := context.Background()
	for _, seq := range []uint64{1<<60 + 1, 99999999999999999} {
		session := strconv.FormatUint(seq, 10)
		if err := s.Import(ctx, session, []store.Event{{ID: store.EventID{Stream: "s", Seq: seq}, Data: []byte("i")}}); err != nil {
			t.Fatal(err)
		}
		ids, err := s.AppendBatch(ctx, session, "s", [][]byte{[]byte("a"), []byte("b")})
		if err != nil || ids[0].Seq != seq+1 || ids[1].Seq != seq+2 {
			t.Fatalf("AppendBatch after import of %d = %v, %v", seq, ids, err)
		}
		checkLog(t, s, session, fmt.Sprintf("%ds %ds %ds", seq, seq+1, seq+2))
	}
}

// TestBatch_TakeKeepsSlotsApart: on a Cluster a batch holds one slot's
// requests, in queue order, and stops at the first that does not fit.
func TestBatch_TakeKeepsSlotsApart(t *testing.T) {
	mk := func(slot uint16, events int) *appendReq {
		return &appendReq{slot: slot, data: make([]string, events)}
	}
	a1, b1, a2, a3, b2, a4 := mk(1, 1), mk(2, 1), mk(1, 2), mk(1, batchEvents), mk(2, 1), mk(1, 1)
	q := &appender{queue: []*appendReq{a1, b1, a2, a3, b2, a4}}
	if got := q.take(); len(got) != 2 || got[0] != a1 || got[1] != a2 {
		t.Fatalf("first batch = %v", got)
	}
	if len(q.queue) != 4 || q.queue[0] != b1 || q.queue[1] != a3 || q.queue[2] != b2 || q.queue[3] != a4 {
		t.Fatalf("left in the queue: %v", q.queue)
	}
	if got := q.take(); len(got) != 2 || got[0] != b1 || got[1] != b2 {
		t.Fatalf("second batch = %v", got)
	}
	if got := q.take(); len(got) != 1 || got[0] != a3 {
		t.Fatalf("third batch = %v: a request larger than a batch goes alone", got)
	}
}

// TestSlot_MatchesRedis compares slot with CLUSTER KEYSLOT.
func TestSlot_MatchesRedis(t *testing.T) {
	if got := slot("123456789"); got != 0x31C3&16383 {
		t.Fatalf("slot(123456789) = %#x, want the CRC16 test vector 0x31c3", got)
	}
	c := redistest.StartCluster(t, 3)
	s := openInternal(t, c.URL(), store.Limits{})
	if !s.cluster {
		t.Fatal("store on a Cluster does not know it")
	}
	for _, id := range []string{"", "a", "abc", "x{y}z", "%", "0f8fad5b-d9cb-469f-a165-70867728950e", strings.Repeat("é", 40)} {
		key := s.keys.session(id)[1]
		want, err := s.client.Do(context.Background(), s.client.B().ClusterKeyslot().Key(key).Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		if got := slot(hashTag(id)); int64(got) != want {
			t.Errorf("slot of %q = %d, Redis says %d", key, got, want)
		}
	}
}

// TestBatch_FencedSessionFailsAlone: in one script, the requests of a
// session whose lease moved on fail with ErrFenced and write nothing; the
// holder's requests of another session, one of the same session without a
// fence, and one under the current token are appended.
func TestBatch_FencedSessionFailsAlone(t *testing.T) {
	srv := redistest.Start(t)
	s := openInternal(t, srv.URL(), store.Limits{})
	ctx := context.Background()
	stale, _, err := s.AcquireLease(ctx, "moved", "replica-a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(store.WithFence(ctx, stale.Token), "moved", "s", []byte("0")); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseLease(ctx, "moved", "replica-a"); err != nil {
		t.Fatal(err)
	}
	cur, _, err := s.AcquireLease(ctx, "moved", "replica-b", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	mine, _, err := s.AcquireLease(ctx, "mine", "replica-a", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	fenced := func(r *appendReq, tok uint64) *appendReq {
		r.fence = strconv.FormatUint(tok, 10)
		return r
	}
	batch := []*appendReq{
		fenced(req("moved", "s", "1", "2"), stale.Token), // refused
		fenced(req("mine", "s", "a"), mine.Token),        // mine: seq 1
		req("moved", "s", "3"),                           // no fence: seq 2
		fenced(req("moved", "s", "4"), stale.Token),      // refused
		fenced(req("moved", "s", "5"), cur.Token),        // the holder: seq 3
	}
	s.execBatch(ctx, batch)
	for _, i := range []int{0, 3} {
		if r := batch[i]; !errors.Is(r.err, store.ErrFenced) || !strings.Contains(r.err.Error(), "moved") {
			t.Errorf("request %d: err = %v; want ErrFenced naming the session", i, r.err)
		}
	}
	for i, want := range map[int]uint64{1: 1, 2: 2, 4: 3} {
		if r := batch[i]; r.err != nil || r.first != want {
			t.Errorf("request %d (%s): first = %d, %v; want %d", i, r.session, r.first, r.err, want)
		}
	}
	checkLog(t, s, "moved", "1s 2s 3s")
	checkLog(t, s, "mine", "1s")
}

// TestAppend_RestartsTTLWhenDue: an Append restarts the TTL of the
// session's keys (and writes the expiry it gave them to meta's x) only
// when less than TTL - TTL/64 is left, and whatever x says when the log
// was new.
func TestAppend_RestartsTTLWhenDue(t *testing.T) {
	srv := redistest.Start(t)
	const ttl = 640 * time.Second // the TTL restarts when less than 630 s are left
	s := openInternal(t, srv.URL(), store.Limits{TTL: ttl})
	ctx := context.Background()
	k := s.keys.session("s")
	pttl := func(key string) time.Duration {
		t.Helper()
		v, err := srv.Command("PTTL", key)
		n, _ := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("PTTL %s = %s, %v; want a TTL", key, v, err)
		}
		return time.Duration(n) * time.Millisecond
	}
	x := func() int64 {
		t.Helper()
		v, err := srv.Command("HGET", k[2], "x")
		n, perr := strconv.ParseInt(v, 10, 64)
		if err != nil || perr != nil {
			t.Fatalf("HGET x = %q, %v", v, err)
		}
		return n
	}
	appendOne := func() {
		t.Helper()
		if _, err := s.Append(ctx, "s", "a", []byte("e")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutSession(ctx, store.Record{ID: "s", Data: []byte("r")}); err != nil {
		t.Fatal(err)
	}
	appendOne()
	first := x()
	for _, key := range k {
		if d := pttl(key); d < ttl-time.Minute {
			t.Fatalf("PTTL %s = %v after the first append, want about %v", key, d, ttl)
		}
	}

	// Not due: x and the TTLs stay as they are.
	for _, key := range k {
		if _, err := srv.Command("PEXPIRE", key, "635000"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.Command("HSET", k[2], "x", strconv.FormatInt(first-5000, 10)); err != nil {
		t.Fatal(err)
	}
	appendOne()
	if got := x(); got != first-5000 {
		t.Fatalf("x = %d after an append that was not due, want %d", got, first-5000)
	}
	for _, key := range k {
		if d := pttl(key); d > 635*time.Second {
			t.Fatalf("PTTL %s = %v: restarted by an append that was not due", key, d)
		}
	}

	// Due (x says less than 630 s are left): restarted, x follows.
	for _, key := range k {
		if _, err := srv.Command("PEXPIRE", key, "620000"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := srv.Command("HSET", k[2], "x", strconv.FormatInt(first-20000, 10)); err != nil {
		t.Fatal(err)
	}
	appendOne()
	if got := x(); got < first {
		t.Fatalf("x = %d after a due append, want at least %d", got, first)
	}
	for _, key := range k {
		if d := pttl(key); d < 635*time.Second {
			t.Fatalf("PTTL %s = %v: not restarted by a due append", key, d)
		}
	}

	// A log that is gone while meta stays (x fresh) gets its TTL anyway.
	if _, err := srv.Command("DEL", k[1]); err != nil {
		t.Fatal(err)
	}
	appendOne()
	pttl(k[1])
}
