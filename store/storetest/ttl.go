package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/store"
)

// ttl is short so that the expiry tests finish quickly, and long enough
// that a loaded machine running -race still lands inside the time windows
// most of the time; when it does not, the checks below say "inconclusive"
// and try again rather than guess.
const ttl = 300 * time.Millisecond

// pollEvery is how often the expiry tests look.
const pollEvery = ttl / 15

// expiryGrace bounds how long after its TTL a session may still be readable.
// Backends that treat an expired session as missing on read need none; the
// grace only absorbs scheduling and timer slack.
const expiryGrace = 5 * time.Second

// waitGone calls check until it reports the thing gone and returns when the
// last check ended; it fails the test if that takes longer than deadline.
func waitGone(t *testing.T, deadline time.Time, what string, check func() bool) time.Time {
	t.Helper()
	for {
		gone := check()
		end := time.Now()
		if gone {
			return end
		}
		if end.After(deadline) {
			t.Fatalf("%s still there %v past its TTL", what, end.Sub(deadline.Add(-expiryGrace)))
		}
		time.Sleep(pollEvery)
	}
}

func testExpiry(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{TTL: ttl})
	start := time.Now()
	mustPut(t, s, "s1", []byte("rec"))
	mustAppend(t, s, "s1", "a", []byte("x"))
	mustAppend(t, s, "s1", "b", []byte("y"))
	written := time.Now()

	_, err := s.GetSession(ctx(t), "s1")
	if err != nil && time.Now().Before(start.Add(ttl)) {
		t.Fatalf("GetSession right after Put: %v", err)
	}
	// Polling with GetSession also checks that reads do not restart the TTL.
	goneAt := waitGone(t, written.Add(ttl+expiryGrace), "session", func() bool {
		_, err := s.GetSession(ctx(t), "s1")
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetSession: %v", err)
		}
		return err != nil
	})
	if goneAt.Before(start.Add(ttl)) {
		t.Fatalf("session gone %v after Put, before its TTL of %v", goneAt.Sub(start), ttl)
	}

	evs, err := s.After(ctx(t), "s1", store.EventID{Stream: "a"})
	if len(evs) != 0 {
		t.Fatalf("After on an expired session returned %v", eventIDs(evs))
	}
	wantNotFound(t, "After on an expired session", err)
	if streams, err := s.Streams(ctx(t), "s1"); len(streams) != 0 || err != nil && !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Streams on an expired session = %q, %v; want none", streams, err)
	}
	wantNotFound(t, "TouchSession on an expired session", s.TouchSession(ctx(t), "s1"))
	if ids := listAll(t, s, 0); contains(ids, "s1") {
		t.Fatalf("ListSessions lists an expired session: %q", ids)
	}

	// New events under the old id start a new log: the old ones stay gone.
	id := mustAppend(t, s, "s1", "a", []byte("new"))
	wantEvents(t, mustAfter(t, s, "s1", store.EventID{Stream: "a"}), []store.EventID{id}, [][]byte{[]byte("new")})
	if streams, err := s.Streams(ctx(t), "s1"); err != nil || !slices.Equal(streams, []string{"a"}) {
		t.Fatalf("Streams after the expired log was restarted = %q, %v; want [a]", streams, err)
	}
	_, err = s.GetSession(ctx(t), "s1")
	wantNotFound(t, "GetSession after appending to an expired session", err)
}

func testExpiryEventsOnly(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{TTL: ttl})
	mustAppend(t, s, "ev", "a", []byte("x"))
	written := time.Now()
	waitGone(t, written.Add(ttl+expiryGrace), "events without a record", eventsGone(t, s, "ev", "a"))
}

// eventsGone is a waitGone check: the stream of the session replays
// nothing (or the session is not found).
func eventsGone(t *testing.T, s store.Store, session, stream string) func() bool {
	return func() bool {
		evs, err := s.After(ctx(t), session, store.EventID{Stream: stream})
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("After: %v", err)
		}
		return len(evs) == 0
	}
}

func testTouchKeepsAlive(t *testing.T, h Harness, _ *Options) {
	checkKeepsAlive(t, h, func(s store.Store, id string) error {
		return s.TouchSession(ctx(t), id)
	})
}

func testPutKeepsAlive(t *testing.T, h Harness, _ *Options) {
	checkKeepsAlive(t, h, func(s store.Store, id string) error {
		return s.PutSession(ctx(t), store.Record{ID: id, Data: []byte("rec")})
	})
}

// store.Limits: the TTL slides on every Put, Touch and Append, for the
// session and its events alike.
func testAppendKeepsAlive(t *testing.T, h Harness, _ *Options) {
	checkKeepsAlive(t, h, func(s store.Store, id string) error {
		_, err := s.Append(ctx(t), id, "a", []byte("later"))
		return err
	})
}

// A session that only appends, never Put or Touch, stays alive for as long
// as its appends come more often than its TTL: a backend may restart the
// TTL on Append only when part of it has passed (see store.Limits), but
// never so rarely that a session appended to every ttl/4 expires. Checked
// for several TTLs in a row, so that an Append that does not restart the
// TTL shows. A stall between two appends longer than half a TTL makes the
// attempt inconclusive.
func testAppendsKeepAlive(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{TTL: ttl})
	const attempts = 5
	for attempt := range attempts {
		id := fmt.Sprintf("s%d", attempt)
		mustPut(t, s, id, []byte("rec"))
		first := mustAppend(t, s, id, "a", []byte("first"))
		last := time.Now()
		stalled := false
		for end := last.Add(3 * ttl); time.Now().Before(end); {
			time.Sleep(ttl / 4)
			start := time.Now()
			if start.Sub(last) > ttl/2 {
				stalled = true
				break
			}
			_, getErr := s.GetSession(ctx(t), id)
			evs, afterErr := s.After(ctx(t), id, store.EventID{Stream: "a"})
			for _, err := range []error{getErr, afterErr} {
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("reading the session back: %v", err)
				}
			}
			if time.Since(last) > ttl/2 {
				stalled = true
				break
			}
			if getErr != nil || afterErr != nil || len(evs) == 0 || evs[0].ID != first {
				t.Fatalf("session appended to every %v gone after %v (record: %v; events: %v, %v)",
					ttl/4, time.Since(last), getErr, eventIDs(evs), afterErr)
			}
			mustAppend(t, s, id, "a", []byte("more"))
			last = time.Now()
		}
		if !stalled {
			return
		}
		t.Logf("attempt %d inconclusive: more than %v between two appends", attempt, ttl/2)
	}
	t.Fatalf("inconclusive %d times: the machine is too slow for a TTL of %v", attempts, ttl)
}

// checkKeepsAlive writes a session and an event, runs op half a TTL later,
// and checks that both are still there after the first TTL has passed. A
// check that comes too late to tell (the op's own TTL also passed, because
// the machine stalled) is inconclusive and tried again with a new session.
func checkKeepsAlive(t *testing.T, h Harness, op func(s store.Store, id string) error) {
	s := h(t, store.Limits{TTL: ttl})
	const attempts = 5
	for attempt := range attempts {
		id := fmt.Sprintf("s%d", attempt)
		mustPut(t, s, id, []byte("rec"))
		first := mustAppend(t, s, id, "a", []byte("first"))
		written := time.Now() // the first expiry is at most written+ttl

		time.Sleep(time.Until(written.Add(ttl / 2)))
		opStart := time.Now() // the new expiry is at least opStart+ttl
		if err := op(s, id); err != nil {
			t.Fatalf("keep-alive op: %v", err)
		}
		time.Sleep(time.Until(written.Add(ttl + ttl/4)))

		_, getErr := s.GetSession(ctx(t), id)
		evs, afterErr := s.After(ctx(t), id, store.EventID{Stream: "a"})
		checked := time.Now()
		for _, err := range []error{getErr, afterErr} {
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("reading the session back: %v", err)
			}
		}
		if getErr == nil && afterErr == nil && len(evs) > 0 && evs[0].ID == first {
			return
		}
		if checked.Before(opStart.Add(ttl)) {
			t.Fatalf("session gone %v after the op that should have restarted its TTL of %v (record: %v; events: %v, %v)",
				checked.Sub(opStart), ttl, getErr, eventIDs(evs), afterErr)
		}
		t.Logf("attempt %d inconclusive: the check ran %v after the op, past its TTL", attempt, checked.Sub(opStart))
	}
	t.Fatalf("inconclusive %d times: the machine is too slow for a TTL of %v", attempts, ttl)
}
