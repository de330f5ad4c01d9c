package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/mooring-dev/mooring/store"
)

func testPutThenGet(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	records := map[string][]byte{
		"text":   []byte(`{"protocolVersion":"2025-06-18"}`),
		"binary": {0, 1, 2, 0xff, 0, 0xfe},
		"empty":  {},
	}
	for id, data := range records {
		mustPut(t, s, id, data)
	}
	for id, data := range records {
		rec, err := s.GetSession(ctx(t), id)
		if err != nil {
			t.Fatalf("GetSession(%q): %v", id, err)
		}
		if rec.ID != id || !bytes.Equal(rec.Data, data) {
			t.Fatalf("GetSession(%q) = {%q, %q}, want {%q, %q}", id, rec.ID, rec.Data, id, data)
		}
	}
}

func testPutReplaces(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	mustPut(t, s, "s1", []byte("first version, longer than the second"))
	mustPut(t, s, "s1", []byte("second"))
	rec, err := s.GetSession(ctx(t), "s1")
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	if string(rec.Data) != "second" {
		t.Fatalf("GetSession after a replace = %q, want %q", rec.Data, "second")
	}
	if ids := listAll(t, s, 0); !slices.Equal(ids, []string{"s1"}) {
		t.Fatalf("ListSessions after a replace = %q, want [s1]", ids)
	}
}

// A store must not keep the caller's slice, nor hand out its own.
func testPutAndGetCopyData(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	data := []byte("original")
	mustPut(t, s, "s1", data)
	copy(data, "CHANGED!")
	rec, err := s.GetSession(ctx(t), "s1")
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	if string(rec.Data) != "original" {
		t.Fatalf("record changed with the caller's slice: %q", rec.Data)
	}
	copy(rec.Data, "CHANGED!")
	rec, err = s.GetSession(ctx(t), "s1")
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	if string(rec.Data) != "original" {
		t.Fatalf("record changed with a returned slice: %q", rec.Data)
	}
}

func testGetMissingIsNotFound(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	_, err := s.GetSession(ctx(t), "never-existed")
	wantNotFound(t, "GetSession of a missing session", err)
	mustPut(t, s, "other", []byte("x"))
	_, err = s.GetSession(ctx(t), "never-existed")
	wantNotFound(t, "GetSession of a missing session beside another one", err)
}

func testTouch(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	mustPut(t, s, "s1", []byte("data"))
	if err := s.TouchSession(ctx(t), "s1"); err != nil {
		t.Fatalf("TouchSession of an existing session: %v", err)
	}
	rec, err := s.GetSession(ctx(t), "s1")
	if err != nil || string(rec.Data) != "data" {
		t.Fatalf("GetSession after Touch = %q, %v; want %q", rec.Data, err, "data")
	}
	wantNotFound(t, "TouchSession of a missing session", s.TouchSession(ctx(t), "missing"))
	// A Touch must not create what it did not find.
	_, err = s.GetSession(ctx(t), "missing")
	wantNotFound(t, "GetSession after touching a missing session", err)
}

func testDelete(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	mustPut(t, s, "gone", []byte("data"))
	mustPut(t, s, "kept", []byte("data"))
	mustAppend(t, s, "gone", "a", []byte("1"))
	mustAppend(t, s, "gone", "b", []byte("2"))
	keptID := mustAppend(t, s, "kept", "a", []byte("k"))

	if err := s.DeleteSession(ctx(t), "gone"); err != nil {
		t.Fatalf("DeleteSession: %v", err)
	}
	_, err := s.GetSession(ctx(t), "gone")
	wantNotFound(t, "GetSession after delete", err)
	evs, err := s.After(ctx(t), "gone", store.EventID{Stream: "a"})
	if len(evs) != 0 {
		t.Fatalf("After on a deleted session returned %v", eventIDs(evs))
	}
	wantNotFound(t, "After on a deleted session (pinned)", err)
	if streams, err := s.Streams(ctx(t), "gone"); err != nil && !errors.Is(err, store.ErrNotFound) || len(streams) != 0 {
		t.Fatalf("Streams on a deleted session = %q, %v; want none", streams, err)
	}
	if ids := listAll(t, s, 0); !slices.Equal(ids, []string{"kept"}) {
		t.Fatalf("ListSessions after delete = %q, want [kept]", ids)
	}
	wantEvents(t, mustAfter(t, s, "kept", store.EventID{Stream: "a"}), []store.EventID{keptID}, [][]byte{[]byte("k")})

	// A new session under the same id starts empty: nothing comes back.
	mustPut(t, s, "gone", []byte("again"))
	if evs := mustAfter(t, s, "gone", store.EventID{Stream: "a"}); len(evs) != 0 {
		t.Fatalf("events of a deleted session came back: %v", eventIDs(evs))
	}
}

func testDeleteMissing(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	if err := s.DeleteSession(ctx(t), "missing"); err != nil {
		t.Fatalf("DeleteSession of a missing session: %v", err)
	}
	mustPut(t, s, "s1", nil)
	for i := range 2 {
		if err := s.DeleteSession(ctx(t), "s1"); err != nil {
			t.Fatalf("DeleteSession #%d: %v", i+1, err)
		}
	}
}

func testListEmpty(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	ids, next, err := s.ListSessions(ctx(t), "", 10)
	if err != nil || len(ids) != 0 || next != "" {
		t.Fatalf("ListSessions on an empty store = %q, %q, %v; want nothing", ids, next, err)
	}
}

func testListPages(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	want := make([]string, 25)
	for i := range want {
		want[i] = fmt.Sprintf("session-%02d", i)
		mustPut(t, s, want[i], []byte("r"))
	}
	got := listAll(t, s, 10)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("ListSessions in pages of 10 = %q, want %q", got, want)
	}
	// The order is stable: a second listing gives the same sequence.
	first, second := listAll(t, s, 10), listAll(t, s, 10)
	if !slices.Equal(first, second) {
		t.Fatalf("two listings differ:\n%q\n%q", first, second)
	}
}

// Pinned: a session is its record; events alone do not make one.
func testListSkipsEventsOnly(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	mustPut(t, s, "with-record", []byte("r"))
	mustAppend(t, s, "events-only", "a", []byte("e"))
	if ids := listAll(t, s, 0); !slices.Equal(ids, []string{"with-record"}) {
		t.Fatalf("ListSessions = %q, want [with-record]", ids)
	}
	_, err := s.GetSession(ctx(t), "events-only")
	wantNotFound(t, "GetSession of a session with events but no record", err)
}
