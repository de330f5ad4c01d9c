package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/mooring-dev/mooring/store"
)

func testAppendIDs(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	mustPut(t, s, "s1", nil)
	seen := make(map[uint64]bool)
	var last uint64
	for i := range 20 {
		stream := []string{"a", "b", "get"}[i%3]
		id := mustAppend(t, s, "s1", stream, []byte(fmt.Sprint(i)))
		if seen[id.Seq] {
			t.Fatalf("Seq %d issued twice in one session", id.Seq)
		}
		seen[id.Seq] = true
		if id.Seq <= last {
			t.Fatalf("append %d: Seq %d after %d; want increasing in the order of Append calls", i, id.Seq, last)
		}
		last = id.Seq
	}
}

// Two sessions appended in turn each get their own increasing sequence, and
// neither sees the other's events.
func testSeqAcrossSessions(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	ids := map[string][]store.EventID{}
	data := map[string][][]byte{}
	for i := range 10 {
		for _, sess := range []string{"A", "B"} {
			d := []byte(sess + fmt.Sprint(i))
			ids[sess] = append(ids[sess], mustAppend(t, s, sess, "s", d))
			data[sess] = append(data[sess], d)
		}
	}
	for _, sess := range []string{"A", "B"} {
		for i := 1; i < len(ids[sess]); i++ {
			if ids[sess][i].Seq <= ids[sess][i-1].Seq {
				t.Fatalf("session %s: Seq %d after %d", sess, ids[sess][i].Seq, ids[sess][i-1].Seq)
			}
		}
		wantEvents(t, mustAfter(t, s, sess, store.EventID{Stream: "s"}), ids[sess], data[sess])
	}
}

func testAfterReplays(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	mustPut(t, s, "s1", nil)
	var ids, other []store.EventID
	var data, otherData [][]byte
	for i := range 12 {
		d := []byte(fmt.Sprintf("event %d", i))
		if i%3 == 2 {
			other = append(other, mustAppend(t, s, "s1", "other", d))
			otherData = append(otherData, d)
			continue
		}
		ids = append(ids, mustAppend(t, s, "s1", "main", d))
		data = append(data, d)
	}
	// From the start, from every event, and from past the end.
	wantEvents(t, mustAfter(t, s, "s1", store.EventID{Stream: "main"}), ids, data)
	for i, id := range ids {
		wantEvents(t, mustAfter(t, s, "s1", id), ids[i+1:], data[i+1:])
	}
	wantEvents(t, mustAfter(t, s, "s1", store.EventID{Stream: "main", Seq: 1 << 62}), nil, nil)
	// An id of another stream only reads that stream.
	wantEvents(t, mustAfter(t, s, "s1", other[0]), other[1:], otherData[1:])
	// A stream that never had an event replays as nothing.
	wantEvents(t, mustAfter(t, s, "s1", store.EventID{Stream: "never"}), nil, nil)
}

func testAfterPayloads(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	big := make([]byte, 256<<10)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	payloads := [][]byte{
		[]byte("text"),
		{0, 0, 0},
		{},
		{0xff, 0xfe, 0, 0x80, '\n', '\r', 0},
		nil,
		[]byte("data: not\n\nan SSE frame\n"),
		big,
		{0},
	}
	var ids []store.EventID
	for _, p := range payloads {
		ids = append(ids, mustAppend(t, s, "s1", "bin", p))
	}
	want := slices.Clone(payloads)
	want[4] = []byte{} // nil and empty payloads read back alike
	wantEvents(t, mustAfter(t, s, "s1", store.EventID{Stream: "bin"}), ids, want)
}

func testAppendCopiesData(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	d := []byte("original")
	id := mustAppend(t, s, "s1", "a", d)
	copy(d, "CHANGED!")
	evs := mustAfter(t, s, "s1", store.EventID{Stream: "a"})
	wantEvents(t, evs, []store.EventID{id}, [][]byte{[]byte("original")})
	copy(evs[0].Data, "CHANGED!")
	wantEvents(t, mustAfter(t, s, "s1", store.EventID{Stream: "a"}), []store.EventID{id}, [][]byte{[]byte("original")})
}

// A Last-Event-ID is only ever looked up inside its own session, even when
// another session has a stream of the same name.
func testAfterIsolation(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	mustPut(t, s, "A", nil)
	mustPut(t, s, "B", nil)
	mustPut(t, s, "C", nil)
	var aIDs []store.EventID
	for i := range 6 {
		aIDs = append(aIDs, mustAppend(t, s, "A", "s", []byte(fmt.Sprintf("A secret %d", i))))
	}
	b1 := mustAppend(t, s, "B", "s", []byte("B one"))
	b2 := mustAppend(t, s, "B", "s", []byte("B two"))

	wantEvents(t, mustAfter(t, s, "B", store.EventID{Stream: "s"}), []store.EventID{b1, b2}, [][]byte{[]byte("B one"), []byte("B two")})
	// A's ids, presented to B, select by B's sequence only.
	for _, id := range aIDs {
		for _, ev := range mustAfter(t, s, "B", id) {
			if strings.HasPrefix(string(ev.Data), "A ") {
				t.Fatalf("After(B, %v) returned A's event %v %q", id, ev.ID, ev.Data)
			}
		}
	}
	// A session with a record and no events has nothing to replay.
	evs, err := s.After(ctx(t), "C", aIDs[0])
	if len(evs) != 0 || err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("After(C, %v) = %v, %v; want no events", aIDs[0], eventIDs(evs), err)
	}
	if streams, err := s.Streams(ctx(t), "C"); err != nil || len(streams) != 0 {
		t.Fatalf("Streams(C) = %q, %v; want none", streams, err)
	}
}

// Pinned: the session package turns this ErrNotFound into ErrBadEventID.
func testAfterMissingSession(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	mustAppend(t, s, "present", "s", []byte("x"))
	evs, err := s.After(ctx(t), "absent", store.EventID{Stream: "s"})
	if len(evs) != 0 {
		t.Fatalf("After on a missing session returned %v", eventIDs(evs))
	}
	wantNotFound(t, "After on a missing session", err)
}

// No stream can be named by an id that Append would refuse, so none can
// match another stream's events by a prefix or an escape.
func testAfterInvalidStream(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	mustAppend(t, s, "s1", "a", []byte("x"))
	mustAppend(t, s, "s1", "ab", []byte("y"))
	for _, stream := range []string{"", "a\x00", "a_", "a\x00\x00", "a%", "*", "a*", ".*"} {
		evs, _ := s.After(ctx(t), "s1", store.EventID{Stream: stream})
		if len(evs) != 0 {
			t.Fatalf("After(stream %q) returned %v", stream, eventIDs(evs))
		}
	}
}

func testAppendInvalidStream(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	mustPut(t, s, "s1", nil)
	bad := []string{"", "a_b", "a b", "a/b", "a\x00", "ü", "a:b", strings.Repeat("a", 65)}
	for _, stream := range bad {
		if id, err := s.Append(ctx(t), "s1", stream, []byte("x")); err == nil {
			t.Fatalf("Append(stream %q) = %v, want an error", stream, id)
		}
	}
	if streams, err := s.Streams(ctx(t), "s1"); err != nil || len(streams) != 0 {
		t.Fatalf("Streams after refused appends = %q, %v; want none", streams, err)
	}
	for _, stream := range []string{strings.Repeat("a", 64), "A-z-09", "-"} {
		mustAppend(t, s, "s1", stream, []byte("x"))
	}
}

func testStreamsOrder(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	mustPut(t, s, "s1", nil)
	for _, stream := range []string{"b", "a", "b", "c", "a", "get", "b"} {
		mustAppend(t, s, "s1", stream, []byte(stream))
	}
	got, err := s.Streams(ctx(t), "s1")
	if want := []string{"b", "a", "c", "get"}; err != nil || !slices.Equal(got, want) {
		t.Fatalf("Streams = %q, %v; want %q", got, err, want)
	}
	got, err = s.Streams(ctx(t), "missing")
	if len(got) != 0 || err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Streams of a missing session = %q, %v; want none", got, err)
	}
}
