package fallback_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/internal/redistest"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/fallback"
	"github.com/mooring-dev/mooring/store/redisstore"
)

// Sessions created while Redis is away live in memory; when Redis is back
// their events move into it with the ids that memory gave them (the ids
// their clients hold as Last-Event-ID), in order, with their content, and
// later appends are numbered above them. So do events appended meanwhile
// to a session that Redis already held. Checked on Redis itself, read by
// a client of its own.
func TestFallback_Redis_OutageEventsMoveWithTheirIDs(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t, redistest.AppendOnly())
	ropts := &redisstore.Options{URL: srv.URL(), SweepInterval: -1}
	fs := fallback.New(ctx, fallback.Options{
		Open:       func(ctx context.Context) (store.Store, error) { return redisstore.Open(ctx, ropts) },
		RetryEvery: 50 * time.Millisecond,
		OpTimeout:  time.Second,
	})
	defer fs.Close()
	if err := fs.PutSession(ctx, store.Record{ID: "old", Data: []byte("r-old")}); err != nil {
		t.Fatal(err)
	}
	first, err := fs.Append(ctx, "old", "s1", []byte("old-1"))
	if err != nil {
		t.Fatal(err)
	}

	srv.Kill()
	// The first call that meets the outage switches to memory.
	if err := fs.PutSession(ctx, store.Record{ID: "new", Data: []byte("r-new")}); err != nil {
		t.Fatalf("PutSession during the outage: %v", err)
	}
	if d, _ := fs.Degraded(); !d {
		t.Fatal("not degraded after a call met the outage")
	}
	want := map[string][]store.Event{"old": {{ID: first, Data: []byte("old-1")}}}
	appendTo := func(session, stream, data string) {
		t.Helper()
		id, err := fs.Append(ctx, session, stream, []byte(data))
		if err != nil {
			t.Fatalf("Append during the outage: %v", err)
		}
		want[session] = append(want[session], store.Event{ID: id, Data: []byte(data)})
	}
	appendTo("new", "a", "new-a1")
	appendTo("new", "b", "new-b1")
	appendTo("new", "a", "new-a2")
	appendTo("old", "s1", "old-2")
	ids, err := fs.AppendBatch(ctx, "new", "b", [][]byte{[]byte("new-b2"), []byte("new-b3")})
	if err != nil {
		t.Fatal(err)
	}
	want["new"] = append(want["new"], store.Event{ID: ids[0], Data: []byte("new-b2")}, store.Event{ID: ids[1], Data: []byte("new-b3")})

	srv.Restart()
	eventually(t, "recovery", func() bool { d, _ := fs.Degraded(); return !d })

	rs, err := redisstore.Open(ctx, ropts)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	for session, evs := range want {
		got, err := rs.Log(ctx, session)
		if err != nil {
			t.Fatalf("Redis' log of %s: %v", session, err)
		}
		if !sameEvents(got, evs) {
			t.Errorf("Redis' log of %s after the move:\n got  %v\n want %v", session, describe(got), describe(evs))
		}
	}
	rec, err := rs.GetSession(ctx, "new")
	if err != nil || string(rec.Data) != "r-new" {
		t.Errorf("record of the session created during the outage, in Redis: %q, %v", rec.Data, err)
	}
	// A client resumes from an id that memory issued: Redis answers
	// what follows it on that stream.
	after, err := rs.After(ctx, "new", want["new"][0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if !sameEvents(after, []store.Event{want["new"][2]}) {
		t.Errorf("After(%s) in Redis: %v, want [new-a2]", want["new"][0].ID, describe(after))
	}
	next, err := fs.Append(ctx, "new", "a", []byte("new-a3"))
	if err != nil {
		t.Fatal(err)
	}
	if last := want["new"][len(want["new"])-1].ID.Seq; next.Seq <= last {
		t.Errorf("append after the move got seq %d, not above the moved events' %d", next.Seq, last)
	}
}

func sameEvents(a, b []store.Event) bool {
	return slices.EqualFunc(a, b, func(x, y store.Event) bool { return x.ID == y.ID && string(x.Data) == string(y.Data) })
}

func describe(evs []store.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.ID.String() + "=" + string(ev.Data)
	}
	return out
}
