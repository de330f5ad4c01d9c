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

// AppendBatch appends in order, as Append would one by one.
func testAppendBatch(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	mustPut(t, s, "s1", nil)
	first := mustAppend(t, s, "s1", "a", []byte("0"))
	ids, err := s.AppendBatch(ctx(t), "s1", "a", [][]byte{[]byte("1"), {}, []byte("3")})
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 3 {
		t.Fatalf("AppendBatch: %d ids, want 3", len(ids))
	}
	prev := first.Seq
	for _, id := range ids {
		if id.Stream != "a" || id.Seq <= prev {
			t.Fatalf("AppendBatch ids %v after %v: want stream a, increasing", ids, first)
		}
		prev = id.Seq
	}
	if next := mustAppend(t, s, "s1", "a", []byte("4")); next.Seq <= prev {
		t.Fatalf("Append after AppendBatch: %v, want above %d", next, prev)
	}
	evs, err := s.After(ctx(t), "s1", first)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range evs {
		got = append(got, string(ev.Data))
	}
	if fmt.Sprint(got) != "[1  3 4]" {
		t.Errorf("replay after a batch: %q, want [1 \"\" 3 4]", got)
	}
	if _, err := s.AppendBatch(ctx(t), "s1", "bad stream", [][]byte{[]byte("x")}); err == nil {
		t.Error("AppendBatch accepted an invalid stream id")
	}
}
