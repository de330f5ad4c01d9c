package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/store"
)

// importBase is where imported seqs start: the range of the memory
// fallback, which numbers a session's events from the clock in
// microseconds (see store/fallback), far above what a primary store issued.
const importBase uint64 = 1_700_000_000_000_001

// testImport checks store.Importer, for the stores that implement it: the
// way sessions move out of the memory fallback into the primary store
// without the ids their clients hold changing meaning.
func testImport(t *testing.T, h Harness, opts *Options) {
	if _, ok := h(t, store.Limits{}).(store.Importer); !ok {
		t.Skip("the store does not implement store.Importer")
	}
	runTests(t, h, opts, []suiteTest{
		{"KeepsIDsAndAppendContinuesAbove", testImportKeepsIDs},
		{"OutOfOrderIsSorted", testImportOutOfOrder},
		{"TwiceDoesNotDuplicate", testImportTwice},
		{"OnTopOfAppendedEvents", testImportOverAppended},
		{"EventsOnlyThenRecord", testImportEventsOnly},
		{"SeqIsPerSession", testImportIsolation},
		{"Empty", testImportEmpty},
		{"CapsApply", testImportCaps},
		{"EventsExpire", testImportExpiry},
		{"Reopen", testImportReopen},
	})
}

// importer makes a store and returns it as an Importer too.
func importer(t *testing.T, h Harness, limits store.Limits) (store.Store, store.Importer) {
	s := h(t, limits)
	imp, ok := s.(store.Importer)
	if !ok {
		t.Fatalf("%s store made by the harness is not a store.Importer", s.Kind())
	}
	return s, imp
}

func mustImport(t *testing.T, imp store.Importer, session string, events []store.Event) {
	t.Helper()
	if err := imp.Import(t.Context(), session, events); err != nil {
		t.Fatalf("Import(%q, %d events %v): %v", session, len(events), eventIDs(events), err)
	}
}

// sparse makes events with the given streams and seqs importBase+offset,
// each with its own payload (one empty, one binary, to see bytes kept).
func sparse(streams []string, offsets []uint64) []store.Event {
	evs := make([]store.Event, len(streams))
	for i, stream := range streams {
		data := []byte(fmt.Sprintf("imported %s %d", stream, i))
		switch i {
		case 1:
			data = []byte{}
		case 2:
			data = []byte{0, 0xff, '\n', 0, '"'}
		}
		evs[i] = store.Event{ID: store.EventID{Stream: stream, Seq: importBase + offsets[i]}, Data: data}
	}
	return evs
}

func payloads(evs []store.Event) [][]byte {
	data := make([][]byte, len(evs))
	for i, ev := range evs {
		data[i] = ev.Data
	}
	return data
}

// ofStream picks one stream's ids and payloads out of events.
func ofStream(evs []store.Event, stream string) ([]store.EventID, [][]byte) {
	var ids []store.EventID
	var data [][]byte
	for _, ev := range evs {
		if ev.ID.Stream == stream {
			ids = append(ids, ev.ID)
			data = append(data, ev.Data)
		}
	}
	return ids, data
}

// Events given out of Seq order are imported all the same, in order: none
// is taken for one that is present already.
func testImportOutOfOrder(t *testing.T, h Harness, _ *Options) {
	s, imp := importer(t, h, store.Limits{})
	evs := sparse([]string{"a", "a", "a"}, []uint64{0, 4, 9})
	mustImport(t, imp, "s1", []store.Event{evs[2], evs[0], evs[1]})
	ids, data := ofStream(evs, "a")
	wantEvents(t, mustAfter(t, s, "s1", store.EventID{Stream: "a"}), ids, data)
}

func testImportKeepsIDs(t *testing.T, h Harness, _ *Options) {
	s, imp := importer(t, h, store.Limits{})
	mustPut(t, s, "s1", []byte("rec"))
	evs := sparse([]string{"get", "p-1", "get", "p-1", "get"}, []uint64{0, 3, 7, 10, 1_000_000})
	mustImport(t, imp, "s1", evs)

	for _, stream := range []string{"get", "p-1"} {
		ids, data := ofStream(evs, stream)
		for _, id := range ids {
			checkID(t, id, stream)
		}
		wantEvents(t, mustAfter(t, s, "s1", store.EventID{Stream: stream}), ids, data)
		// A Last-Event-ID that the fallback issued means the same here.
		wantEvents(t, mustAfter(t, s, "s1", ids[0]), ids[1:], data[1:])
	}
	// The whole log, as a restore reads it, has them in seq order.
	if all, err := s.Log(ctx(t), "s1"); err != nil {
		t.Fatalf("Log after Import: %v", err)
	} else {
		wantEvents(t, all, eventIDs(evs), payloads(evs))
	}
	if streams, err := s.Streams(ctx(t), "s1"); err != nil || !slices.Equal(streams, []string{"get", "p-1"}) {
		t.Fatalf("Streams after Import = %q, %v; want [get p-1]", streams, err)
	}
	if rec, err := s.GetSession(ctx(t), "s1"); err != nil || string(rec.Data) != "rec" {
		t.Fatalf("GetSession after Import = %q, %v; want the record kept", rec.Data, err)
	}

	// Appends continue above the highest imported seq, in any stream.
	top := evs[len(evs)-1].ID
	next := mustAppend(t, s, "s1", "p-1", []byte("after"))
	if next.Seq <= top.Seq {
		t.Fatalf("Append after Import got Seq %d, want more than the imported %d", next.Seq, top.Seq)
	}
	then := mustAppend(t, s, "s1", "get", []byte("then"))
	if then.Seq <= next.Seq {
		t.Fatalf("second Append after Import got Seq %d after %d", then.Seq, next.Seq)
	}
	ids, data := ofStream(evs, "get")
	wantEvents(t, mustAfter(t, s, "s1", store.EventID{Stream: "get"}),
		append(ids, then), append(data, []byte("then")))
	wantEvents(t, mustAfter(t, s, "s1", top), []store.EventID{then}, [][]byte{[]byte("then")})
	pids, _ := ofStream(evs, "p-1")
	wantEvents(t, mustAfter(t, s, "s1", pids[len(pids)-1]), []store.EventID{next}, [][]byte{[]byte("after")})
}

// Recovery may be tried again after a failure half way, so importing what
// is there already must change nothing, and an overlapping batch adds only
// what is new.
func testImportTwice(t *testing.T, h Harness, _ *Options) {
	s, imp := importer(t, h, store.Limits{})
	mustPut(t, s, "s1", nil)
	evs := sparse([]string{"a", "a", "b", "a"}, []uint64{0, 1, 2, 5})
	mustImport(t, imp, "s1", evs[:2])
	mustImport(t, imp, "s1", evs[:2])
	mustImport(t, imp, "s1", evs) // overlaps the first two
	mustImport(t, imp, "s1", evs)
	// Same ids, other payloads: what is present stays as it is.
	changed := slices.Clone(evs)
	for i := range changed {
		changed[i].Data = []byte("changed")
	}
	mustImport(t, imp, "s1", changed)

	for _, stream := range []string{"a", "b"} {
		ids, data := ofStream(evs, stream)
		wantEvents(t, mustAfter(t, s, "s1", store.EventID{Stream: stream}), ids, data)
	}
	next := mustAppend(t, s, "s1", "a", []byte("next"))
	if next.Seq <= evs[3].ID.Seq {
		t.Fatalf("Append after Import got Seq %d, want more than %d", next.Seq, evs[3].ID.Seq)
	}
	// And an import of old events after an Append leaves the log alone.
	mustImport(t, imp, "s1", evs)
	ids, data := ofStream(evs, "a")
	wantEvents(t, mustAfter(t, s, "s1", store.EventID{Stream: "a"}), append(ids, next), append(data, []byte("next")))
}

// The fallback case for a session that the primary knew before the outage:
// its low seqs are in the store, the events written during the outage come
// with high ones. Imported events at or below what the session holds are
// left out.
func testImportOverAppended(t *testing.T, h Harness, _ *Options) {
	s, imp := importer(t, h, store.Limits{})
	mustPut(t, s, "s1", []byte("rec"))
	ids, data := appendN(t, s, "s1", "get", 3, numbered("get"))

	stale := store.Event{ID: store.EventID{Stream: "get", Seq: ids[1].Seq}, Data: []byte("stale")}
	fresh := sparse([]string{"get", "p-9", "get"}, []uint64{0, 1, 2})
	mustImport(t, imp, "s1", append([]store.Event{stale}, fresh...))

	fids, fdata := ofStream(fresh, "get")
	wantEvents(t, mustAfter(t, s, "s1", store.EventID{Stream: "get"}),
		append(slices.Clone(ids), fids...), append(slices.Clone(data), fdata...))
	// A client that saw the last event before the outage gets exactly the
	// ones written during it.
	wantEvents(t, mustAfter(t, s, "s1", ids[2]), fids, fdata)
	if all, err := s.Log(ctx(t), "s1"); err != nil {
		t.Fatalf("Log after Import: %v", err)
	} else {
		wantIDs := append(slices.Clone(ids), eventIDs(fresh)...)
		wantData := append(slices.Clone(data), payloads(fresh)...)
		wantEvents(t, all, wantIDs, wantData)
	}
	pids, pdata := ofStream(fresh, "p-9")
	wantEvents(t, mustAfter(t, s, "s1", store.EventID{Stream: "p-9"}), pids, pdata)
	if next := mustAppend(t, s, "s1", "get", nil); next.Seq <= fresh[2].ID.Seq {
		t.Fatalf("Append after Import got Seq %d, want more than %d", next.Seq, fresh[2].ID.Seq)
	}
}

// A session created during the outage arrives as events first, then its
// record (the fallback imports, then puts).
func testImportEventsOnly(t *testing.T, h Harness, _ *Options) {
	s, imp := importer(t, h, store.Limits{})
	evs := sparse([]string{"get", "get"}, []uint64{0, 4})
	mustImport(t, imp, "new", evs)
	_, err := s.GetSession(ctx(t), "new")
	wantNotFound(t, "GetSession of a session with imported events but no record", err)
	ids, data := ofStream(evs, "get")
	wantEvents(t, mustAfter(t, s, "new", store.EventID{Stream: "get"}), ids, data)

	mustPut(t, s, "new", []byte("rec"))
	if rec, err := s.GetSession(ctx(t), "new"); err != nil || string(rec.Data) != "rec" {
		t.Fatalf("GetSession after Import and Put = %q, %v", rec.Data, err)
	}
	wantEvents(t, mustAfter(t, s, "new", store.EventID{Stream: "get"}), ids, data)
	if got := listAll(t, s, 0); !slices.Equal(got, []string{"new"}) {
		t.Fatalf("ListSessions = %q, want [new]", got)
	}
	if next := mustAppend(t, s, "new", "get", nil); next.Seq <= ids[1].Seq {
		t.Fatalf("Append after Import got Seq %d, want more than %d", next.Seq, ids[1].Seq)
	}
}

// Raising one session's seq leaves every other session's alone.
func testImportIsolation(t *testing.T, h Harness, _ *Options) {
	s, imp := importer(t, h, store.Limits{})
	mustPut(t, s, "s1", nil)
	mustPut(t, s, "s2", nil)
	before := mustAppend(t, s, "s2", "a", []byte("x"))
	mustImport(t, imp, "s1", sparse([]string{"a", "a"}, []uint64{0, 1}))
	after := mustAppend(t, s, "s2", "a", []byte("y"))
	if after.Seq >= importBase {
		t.Fatalf("Import into s1 moved s2's seq: Append to s2 got %d (before: %d)", after.Seq, before.Seq)
	}
	wantEvents(t, mustAfter(t, s, "s2", store.EventID{Stream: "a"}),
		[]store.EventID{before, after}, [][]byte{[]byte("x"), []byte("y")})
}

func testImportEmpty(t *testing.T, h Harness, _ *Options) {
	s, imp := importer(t, h, store.Limits{})
	mustPut(t, s, "s1", nil)
	mustImport(t, imp, "s1", nil)
	mustImport(t, imp, "s1", []store.Event{})
	wantEvents(t, mustAfter(t, s, "s1", store.EventID{Stream: "a"}), nil, nil)
	if id := mustAppend(t, s, "s1", "a", nil); id.Seq >= importBase {
		t.Fatalf("Append after an empty Import got Seq %d", id.Seq)
	}
}

// Caps hold for imported events as for appended ones: the oldest go first,
// with purge detection.
func testImportCaps(t *testing.T, h Harness, _ *Options) {
	s, imp := importer(t, h, store.Limits{MaxEvents: 5})
	if s.Kind() == "memory" {
		// The memory store is only ever the source of an import.
		t.Skip("memstore.Import does not apply caps")
	}
	mustPut(t, s, "s1", nil)
	old := mustAppend(t, s, "s1", "a", []byte("old"))
	var evs []store.Event
	for i := range 7 {
		evs = append(evs, store.Event{ID: store.EventID{Stream: "a", Seq: importBase + uint64(3*i)}, Data: []byte(fmt.Sprint("imp", i))})
	}
	mustImport(t, imp, "s1", evs) // 8 events under a cap of 5: old, imp0, imp1 go
	ids, data := ofStream(evs, "a")
	wantPurged(t, s, "s1", store.EventID{Stream: "a"})
	wantPurged(t, s, "s1", old)
	wantPurged(t, s, "s1", ids[0])
	wantEvents(t, mustAfter(t, s, "s1", ids[1]), ids[2:], data[2:])

	next := mustAppend(t, s, "s1", "a", []byte("next"))
	wantPurged(t, s, "s1", ids[1])
	wantEvents(t, mustAfter(t, s, "s1", ids[2]), append(slices.Clone(ids[3:]), next), append(slices.Clone(data[3:]), []byte("next")))
}

// Imported events expire with the TTL like appended ones, also in a
// session that has no record yet.
func testImportExpiry(t *testing.T, h Harness, _ *Options) {
	s, imp := importer(t, h, store.Limits{TTL: ttl})
	evs := sparse([]string{"a"}, []uint64{0})
	mustImport(t, imp, "ev", evs)
	written := time.Now()
	waitGone(t, written.Add(ttl+expiryGrace), "imported events", eventsGone(t, s, "ev", "a"))
}

func testImportReopen(t *testing.T, h Harness, opts *Options) {
	if opts.Reopen == nil {
		t.Skip("the backend keeps nothing across a reopen")
	}
	s, imp := importer(t, h, store.Limits{})
	mustPut(t, s, "s1", []byte("rec"))
	evs := sparse([]string{"a", "b", "a"}, []uint64{0, 2, 9})
	mustImport(t, imp, "s1", evs)

	s = opts.Reopen(t, s)
	for _, stream := range []string{"a", "b"} {
		ids, data := ofStream(evs, stream)
		wantEvents(t, mustAfter(t, s, "s1", store.EventID{Stream: stream}), ids, data)
	}
	if next := mustAppend(t, s, "s1", "b", nil); next.Seq <= evs[2].ID.Seq {
		t.Fatalf("Append after Import and reopen got Seq %d, want more than %d", next.Seq, evs[2].ID.Seq)
	}
}
