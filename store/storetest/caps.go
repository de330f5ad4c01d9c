package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mooring-dev/mooring/store"
)

// appendN appends n events to one stream and returns their ids and payloads.
func appendN(t *testing.T, s store.Store, session, stream string, n int, payload func(i int) []byte) ([]store.EventID, [][]byte) {
	t.Helper()
	ids := make([]store.EventID, n)
	data := make([][]byte, n)
	for i := range n {
		data[i] = payload(i)
		ids[i] = mustAppend(t, s, session, stream, data[i])
	}
	return ids, data
}

func numbered(stream string) func(int) []byte {
	return func(i int) []byte { return []byte(fmt.Sprintf("%s-%d", stream, i)) }
}

// random payloads do not compress, so a store that compresses keeps about
// as many of them as one that does not.
func random(size int, seed uint64) func(int) []byte {
	rng := rand.New(rand.NewPCG(seed, seed))
	return func(int) []byte {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
}

func testMaxEvents(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{MaxEvents: 5})
	mustPut(t, s, "s1", nil)
	ids, data := appendN(t, s, "s1", "a", 12, numbered("a"))
	// 0..6 are gone, 7..11 kept.
	wantPurged(t, s, "s1", store.EventID{Stream: "a"})
	wantPurged(t, s, "s1", ids[0])
	wantPurged(t, s, "s1", ids[5])
	wantEvents(t, mustAfter(t, s, "s1", ids[6]), ids[7:], data[7:])
	wantEvents(t, mustAfter(t, s, "s1", ids[9]), ids[10:], data[10:])
	wantEvents(t, mustAfter(t, s, "s1", ids[11]), nil, nil)
}

func testMaxBytes(t *testing.T, h Harness, _ *Options) {
	// 300-byte events under a 1000-byte cap: three fit, a fourth does not.
	s := h(t, store.Limits{MaxBytes: 1000})
	mustPut(t, s, "s1", nil)
	ids, data := appendN(t, s, "s1", "a", 10, random(300, 7))
	wantPurged(t, s, "s1", store.EventID{Stream: "a"})
	wantPurged(t, s, "s1", ids[5])
	wantEvents(t, mustAfter(t, s, "s1", ids[6]), ids[7:], data[7:])
}

// Trimming one stream must not make another one unreplayable.
func testStreamLostNothing(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{MaxEvents: 5})
	mustPut(t, s, "s1", nil)
	oldIDs, _ := appendN(t, s, "s1", "old", 6, numbered("old"))
	newIDs, newData := appendN(t, s, "s1", "new", 3, numbered("new"))
	wantEvents(t, mustAfter(t, s, "s1", store.EventID{Stream: "new"}), newIDs, newData)
	wantPurged(t, s, "s1", store.EventID{Stream: "old"})
	// A client that saw the whole old stream has nothing to miss.
	wantEvents(t, mustAfter(t, s, "s1", oldIDs[5]), nil, nil)
}

// Pinned: an Append always keeps the event it adds, else the message it
// carries could not be sent (the log comes before the wire).
func testNewestKept(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{MaxBytes: 100})
	small := mustAppend(t, s, "s1", "a", []byte("small"))
	bigData := random(500, 3)(0)
	big := mustAppend(t, s, "s1", "a", bigData)
	wantEvents(t, mustAfter(t, s, "s1", small), []store.EventID{big}, [][]byte{bigData})
	wantPurged(t, s, "s1", store.EventID{Stream: "a"})
	// The next event pushes the big one out.
	next := mustAppend(t, s, "s1", "a", []byte("next"))
	wantEvents(t, mustAfter(t, s, "s1", big), []store.EventID{next}, [][]byte{[]byte("next")})
	wantPurged(t, s, "s1", small)
}

func testStreamsAfterTrim(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{MaxEvents: 3})
	mustPut(t, s, "s1", nil)
	steps := []struct {
		stream string
		want   []string
	}{
		{"x", []string{"x"}},
		{"y", []string{"x", "y"}},
		{"x", []string{"x", "y"}},
		{"z", []string{"y", "x", "z"}}, // the first x is gone
		{"z", []string{"x", "z"}},
		{"z", []string{"z"}},
	}
	for i, st := range steps {
		mustAppend(t, s, "s1", st.stream, []byte(st.stream))
		got, err := s.Streams(ctx(t), "s1")
		if err != nil || !slices.Equal(got, st.want) {
			t.Fatalf("after append %d (%s): Streams = %q, %v; want %q", i, st.stream, got, err, st.want)
		}
	}
}

// Caps and purge marks belong to one session.
func testPurgeIsolation(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{MaxEvents: 3})
	bIDs, bData := appendN(t, s, "B", "s", 3, numbered("B"))
	appendN(t, s, "A", "s", 10, numbered("A"))
	wantPurged(t, s, "A", store.EventID{Stream: "s"})
	wantEvents(t, mustAfter(t, s, "B", store.EventID{Stream: "s"}), bIDs, bData)
}
