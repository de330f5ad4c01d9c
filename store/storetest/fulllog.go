package storetest

import (
	"errors"
	"fmt"
	"testing"

	"github.com/mooring-dev/mooring/store"
)

// Log returns every retained event of one session, all streams, in Seq
// order, after trimming, and nothing of other sessions.
func testLogAllStreams(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{MaxEvents: 4})
	mustPut(t, s, "s1", nil)
	mustPut(t, s, "s2", nil)
	mustAppend(t, s, "s2", "a", []byte("other"))
	var want []store.EventID
	for i, st := range []string{"a", "b", "a", "c", "b", "a"} {
		id := mustAppend(t, s, "s1", st, []byte(fmt.Sprint(i)))
		want = append(want, id)
	}
	want = want[2:] // MaxEvents 4: the two oldest are gone
	got, err := s.Log(ctx(t), "s1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("Log: %d events, want %d", len(got), len(want))
	}
	for i, ev := range got {
		if ev.ID != want[i] || string(ev.Data) != fmt.Sprint(i+2) {
			t.Errorf("Log[%d] = %v %q, want %v %q", i, ev.ID, ev.Data, want[i], fmt.Sprint(i+2))
		}
	}
	if _, err := s.Log(ctx(t), "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Log of a missing session: %v, want ErrNotFound", err)
	}
}
