// Package storetest is the conformance suite that every store.Store backend
// passes: memory, bolt and redis alike. A backend's test file provides a
// Harness and calls Run:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, l store.Limits) store.Store {
//			s := memstore.New(&memstore.Options{Limits: l})
//			t.Cleanup(func() { s.Close() })
//			return s
//		}, nil)
//	}
//
// The suite checks what the doc comments of store.Store promise, plus the
// few behaviours the rest of mooring relies on that the comments leave
// implicit (they are marked "pinned" where they are checked):
//
//   - After on a session that does not exist returns store.ErrNotFound
//     (the session package turns it into store.ErrBadEventID);
//   - the newest event is never trimmed by a cap, even when it alone
//     exceeds MaxBytes (Append-before-send would otherwise lose it);
//   - a session that has events but no record is not listed and cannot be
//     read with GetSession;
//   - every event id survives its wire form (ParseEventID(id.String())).
//
// Subtests run in parallel, each on a fresh store, and are named for the
// behaviour they check. BenchAppend and BenchReplay are shared benchmarks.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/mooring-dev/mooring/store"
)

// Harness makes a fresh, empty store for one subtest with the given limits.
// It should register a t.Cleanup that closes the store; the suite may close
// the store first, so that cleanup must ignore store.ErrClosed.
type Harness func(t *testing.T, limits store.Limits) store.Store

// Options hold the capabilities of a backend. A nil *Options means none of
// the optional capabilities.
type Options struct {
	// Reopen closes old and returns a new store over the same data, with the
	// same limits: what a restart of mooring does. Nil skips the
	// persistence checks (memory has nothing to reopen).
	Reopen func(t *testing.T, old store.Store) store.Store
}

// Run runs the conformance suite against the stores h makes.
func Run(t *testing.T, h Harness, opts *Options) {
	if opts == nil {
		opts = &Options{}
	}
	runTests(t, h, opts, append([]suiteTest{
		// Sessions.
		{"Session/PutThenGet", testPutThenGet},
		{"Session/PutReplaces", testPutReplaces},
		{"Session/PutAndGetCopyData", testPutAndGetCopyData},
		{"Session/GetMissingIsNotFound", testGetMissingIsNotFound},
		{"Session/TouchExistingAndMissing", testTouch},
		{"Session/DeleteRemovesRecordAndEvents", testDelete},
		{"Session/DeleteMissingIsNoError", testDeleteMissing},
		{"Session/ListEmpty", testListEmpty},
		{"Session/ListPagesReturnEachIDOnce", testListPages},
		{"Session/ListSkipsSessionsWithoutRecord", testListSkipsEventsOnly},
		{"Session/CountSessions", testCount},

		// The event log.
		{"Log/AppendIDsIncreaseAndEchoStream", testAppendIDs},
		{"Log/SeqIndependentAcrossSessions", testSeqAcrossSessions},
		{"Log/AfterReplaysStreamInOrder", testAfterReplays},
		{"Log/AfterKeepsBinaryAndEmptyPayloads", testAfterPayloads},
		{"Log/AppendCopiesData", testAppendCopiesData},
		{"Log/AfterNeverCrossesSessions", testAfterIsolation},
		{"Log/AfterMissingSessionIsNotFound", testAfterMissingSession},
		{"Log/AfterInvalidStreamReturnsNothing", testAfterInvalidStream},
		{"Log/AppendRejectsInvalidStream", testAppendInvalidStream},
		{"Log/StreamsInFirstEventOrder", testStreamsOrder},
		{"Log/LogReturnsAllStreamsInOrder", testLogAllStreams},
		{"Log/AppendBatchInOrder", testAppendBatch},

		// Caps.
		{"Caps/MaxEventsTrimsOldest", testMaxEvents},
		{"Caps/MaxBytesTrimsOldest", testMaxBytes},
		{"Caps/StreamThatLostNothingReplays", testStreamLostNothing},
		{"Caps/NewestEventIsKeptOverMaxBytes", testNewestKept},
		{"Caps/StreamsFollowFirstRetainedEvent", testStreamsAfterTrim},
		{"Caps/PurgeOfOneSessionSparesOthers", testPurgeIsolation},

		// Expiry.
		{"TTL/SessionAndEventsExpire", testExpiry},
		{"TTL/EventsWithoutRecordExpire", testExpiryEventsOnly},
		{"TTL/TouchKeepsAlive", testTouchKeepsAlive},
		{"TTL/PutKeepsAlive", testPutKeepsAlive},
		{"TTL/AppendKeepsAlive", testAppendKeepsAlive},
		{"TTL/SteadyAppendsKeepAlive", testAppendsKeepAlive},

		// Concurrency and life cycle.
		{"Concurrent/WritersAndReaders", testConcurrent},
		{"Lifecycle/Ping", testPing},
		{"Lifecycle/CloseThenErrClosed", testClose},
		{"Lifecycle/CloseWhileBusy", testCloseWhileBusy},
		{"Lifecycle/ReopenKeepsEverything", testReopen},

		// Moving sessions in (store.Importer); skipped by stores without it.
		{"Import", testImport},
	}, taskTests...))
}

// suiteTest is one named check of the suite.
type suiteTest struct {
	name string
	fn   func(t *testing.T, h Harness, opts *Options)
}

// runTests runs each test as a parallel subtest, each on its own stores.
func runTests(t *testing.T, h Harness, opts *Options, tests []suiteTest) {
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, h, opts)
		})
	}
}

// mustPut writes a record or fails the test.
func mustPut(t *testing.T, s store.Store, id string, data []byte) {
	t.Helper()
	if err := s.PutSession(t.Context(), store.Record{ID: id, Data: data}); err != nil {
		t.Fatalf("PutSession(%q): %v", id, err)
	}
}

// mustAppend appends an event, checks the id it gets and returns it.
func mustAppend(t *testing.T, s store.Store, session, stream string, data []byte) store.EventID {
	t.Helper()
	id, err := s.Append(t.Context(), session, stream, data)
	if err != nil {
		t.Fatalf("Append(%q, %q): %v", session, stream, err)
	}
	checkID(t, id, stream)
	return id
}

// checkID checks what every event id must be: of its stream, with a
// non-zero Seq, and readable back from its wire form.
func checkID(t *testing.T, id store.EventID, stream string) {
	t.Helper()
	if id.Stream != stream {
		t.Fatalf("event id %v: Stream = %q, want %q", id, id.Stream, stream)
	}
	if id.Seq == 0 {
		t.Fatalf("event id %v: Seq is 0, which ParseEventID rejects", id)
	}
	back, err := store.ParseEventID(id.String())
	if err != nil || back != id {
		t.Fatalf("ParseEventID(%q) = %v, %v; want %v", id.String(), back, err, id)
	}
}

// mustAfter replays a stream or fails the test.
func mustAfter(t *testing.T, s store.Store, session string, after store.EventID) []store.Event {
	t.Helper()
	evs, err := s.After(t.Context(), session, after)
	if err != nil {
		t.Fatalf("After(%q, %v): %v", session, after, err)
	}
	return evs
}

// wantEvents checks a replay against the ids and payloads expected.
func wantEvents(t *testing.T, got []store.Event, ids []store.EventID, data [][]byte) {
	t.Helper()
	if len(got) != len(ids) {
		t.Fatalf("replay has %d events %v, want %d %v", len(got), eventIDs(got), len(ids), ids)
	}
	for i, ev := range got {
		if ev.ID != ids[i] {
			t.Fatalf("replay event %d: id %v, want %v (replay %v)", i, ev.ID, ids[i], eventIDs(got))
		}
		if !bytes.Equal(ev.Data, data[i]) {
			t.Fatalf("replay event %d (%v): data %q, want %q", i, ev.ID, short(ev.Data), short(data[i]))
		}
	}
}

// wantPurged checks that a replay fails with ErrPurged and returns nothing.
func wantPurged(t *testing.T, s store.Store, session string, after store.EventID) {
	t.Helper()
	evs, err := s.After(t.Context(), session, after)
	if !errors.Is(err, store.ErrPurged) {
		t.Fatalf("After(%q, %v) = %d events, %v; want ErrPurged", session, after, len(evs), err)
	}
	if len(evs) != 0 {
		t.Fatalf("After(%q, %v) returned %d events with ErrPurged; a replay is complete or an error", session, after, len(evs))
	}
}

// wantNotFound checks that err is (or wraps) store.ErrNotFound.
func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("%s: err = %v, want ErrNotFound", what, err)
	}
}

// listAll pages through ListSessions and returns every id it saw, failing
// on an id seen twice.
func listAll(t *testing.T, s store.Store, limit int) []string {
	t.Helper()
	var all []string
	seen := make(map[string]bool)
	cursor := ""
	// A backend may return short or empty pages, but it must finish.
	for page := 0; ; page++ {
		if page > 1000 {
			t.Fatalf("ListSessions did not finish after %d pages", page)
		}
		ids, next, err := s.ListSessions(t.Context(), cursor, limit)
		if err != nil {
			t.Fatalf("ListSessions(%q, %d): %v", cursor, limit, err)
		}
		if limit > 0 && len(ids) > limit {
			t.Fatalf("ListSessions(%q, %d) returned %d ids", cursor, limit, len(ids))
		}
		for _, id := range ids {
			if seen[id] {
				t.Fatalf("ListSessions returned %q twice", id)
			}
			seen[id] = true
			all = append(all, id)
		}
		if next == "" {
			return all
		}
		cursor = next
	}
}

func contains(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func eventIDs(evs []store.Event) []store.EventID {
	ids := make([]store.EventID, len(evs))
	for i, ev := range evs {
		ids[i] = ev.ID
	}
	return ids
}

// short keeps failure messages readable when payloads are large.
func short(b []byte) []byte {
	if len(b) > 40 {
		return append(b[:40:40], fmt.Sprintf("...(%d bytes)", len(b))...)
	}
	return b
}

// ctx is a short name for the test's context in calls whose error the
// suite checks by hand.
func ctx(t *testing.T) context.Context { return t.Context() }

// bg is the context of calls made from goroutines that may outlive a
// failed test.
var bg = context.Background()
