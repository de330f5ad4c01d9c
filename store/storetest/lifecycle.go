package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/mooring-dev/mooring/store"
)

// testConcurrent runs writers that share sessions, and readers that replay
// and touch while they write, then checks every stream end to end.
func testConcurrent(t *testing.T, h Harness, _ *Options) {
	const writers, perWriter, sessions, readers = 8, 200, 4, 2
	s := h(t, store.Limits{})
	sessionOf := func(g int) string { return fmt.Sprintf("c%d", g%sessions) }
	streamOf := func(g int) string { return fmt.Sprintf("w%d", g) }
	payload := func(g, i int) []byte { return []byte(fmt.Sprintf("%d/%d", g, i)) }
	for i := range sessions {
		mustPut(t, s, sessionOf(i), []byte("rec"))
	}

	ids := make([][]store.EventID, writers)
	errc := make(chan error, writers+readers)
	var writing, reading sync.WaitGroup
	for g := range writers {
		writing.Go(func() {
			for i := range perWriter {
				id, err := s.Append(ctx(t), sessionOf(g), streamOf(g), payload(g, i))
				if err != nil {
					errc <- fmt.Errorf("writer %d append %d: %w", g, i, err)
					return
				}
				ids[g] = append(ids[g], id)
			}
		})
	}
	done := make(chan struct{})
	for r := range readers {
		reading.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if err := readPrefixes(s, r, writers, sessionOf, streamOf, payload); err != nil {
					errc <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
			}
		})
	}
	writing.Wait()
	close(done)
	reading.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}

	// Seq: unique per session, increasing per writer.
	seqs := make(map[string]map[uint64]int)
	for g := range writers {
		sess := sessionOf(g)
		if seqs[sess] == nil {
			seqs[sess] = make(map[uint64]int)
		}
		for i, id := range ids[g] {
			checkID(t, id, streamOf(g))
			if w, dup := seqs[sess][id.Seq]; dup {
				t.Fatalf("session %s: Seq %d issued to writers %d and %d", sess, id.Seq, w, g)
			}
			seqs[sess][id.Seq] = g
			if i > 0 && id.Seq <= ids[g][i-1].Seq {
				t.Fatalf("writer %d: Seq %d after %d", g, id.Seq, ids[g][i-1].Seq)
			}
		}
	}
	// Every stream complete, in order, intact.
	for g := range writers {
		want := make([][]byte, perWriter)
		for i := range want {
			want[i] = payload(g, i)
		}
		wantEvents(t, mustAfter(t, s, sessionOf(g), store.EventID{Stream: streamOf(g)}), ids[g], want)
	}
}

// readPrefixes replays every writer's stream once and checks that what it
// sees so far is a prefix of what the writer writes: no gap, no disorder.
func readPrefixes(s store.Store, r, writers int, sessionOf, streamOf func(int) string, payload func(g, i int) []byte) error {
	for g := r; g < writers; g += 2 {
		if err := s.TouchSession(bg, sessionOf(g)); err != nil {
			return err
		}
		evs, err := s.After(bg, sessionOf(g), store.EventID{Stream: streamOf(g)})
		if err != nil {
			return err
		}
		for i, ev := range evs {
			if want := payload(g, i); string(ev.Data) != string(want) {
				return fmt.Errorf("stream %s event %d (%v) = %q, want %q", streamOf(g), i, ev.ID, ev.Data, want)
			}
			if i > 0 && ev.ID.Seq <= evs[i-1].ID.Seq {
				return fmt.Errorf("stream %s: Seq %d after %d", streamOf(g), ev.ID.Seq, evs[i-1].ID.Seq)
			}
		}
	}
	return nil
}

func testPing(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	if err := s.Ping(ctx(t)); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if s.Kind() == "" {
		t.Fatalf("Kind is empty")
	}
}

func testClose(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	mustPut(t, s, "s1", []byte("rec"))
	id := mustAppend(t, s, "s1", "a", []byte("x"))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"PutSession", func() error { return s.PutSession(ctx(t), store.Record{ID: "s1"}) }},
		{"GetSession", func() error { _, err := s.GetSession(ctx(t), "s1"); return err }},
		{"TouchSession", func() error { return s.TouchSession(ctx(t), "s1") }},
		{"DeleteSession", func() error { return s.DeleteSession(ctx(t), "s1") }},
		{"ListSessions", func() error { _, _, err := s.ListSessions(ctx(t), "", 10); return err }},
		{"Append", func() error { _, err := s.Append(ctx(t), "s1", "a", []byte("y")); return err }},
		{"After", func() error { _, err := s.After(ctx(t), "s1", id); return err }},
		{"Streams", func() error { _, err := s.Streams(ctx(t), "s1"); return err }},
		{"Ping", func() error { return s.Ping(ctx(t)) }},
	}
	for _, c := range calls {
		if err := c.call(); !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", c.name, err)
		}
	}
	// Idempotent: a second Close does no harm; it may say it was closed.
	if err := s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

// Calls racing with Close either complete or return ErrClosed: nothing
// else, no panic, no hang.
func testCloseWhileBusy(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	mustPut(t, s, "s1", []byte("rec"))
	const workers = 6
	errc := make(chan error, workers)
	started := make(chan struct{}, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			sess := fmt.Sprintf("busy%d", w%3)
			for i := 0; ; i++ {
				var err error
				if w%2 == 0 {
					_, err = s.Append(bg, sess, "a", []byte("x"))
				} else {
					_, err = s.After(bg, "s1", store.EventID{Stream: "a"})
				}
				if i == 0 {
					started <- struct{}{}
				}
				if err != nil {
					errc <- err
					return
				}
			}
		})
	}
	// Every worker has made a call and goes on making them: Close races
	// with calls in flight, with no sleep needed to get there.
	for range workers {
		<-started
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("call racing with Close: %v, want ErrClosed", err)
		}
	}
}

func testReopen(t *testing.T, h Harness, opts *Options) {
	if opts.Reopen == nil {
		t.Skip("the backend keeps nothing across a reopen")
	}
	s := h(t, store.Limits{MaxEvents: 5})
	mustPut(t, s, "s1", []byte("the record"))
	aIDs, aData := appendN(t, s, "s1", "a", 7, numbered("a")) // 0 and 1 are trimmed
	bIDs, bData := appendN(t, s, "s2", "b", 2, numbered("b"))

	s = opts.Reopen(t, s)
	rec, err := s.GetSession(ctx(t), "s1")
	if err != nil || string(rec.Data) != "the record" {
		t.Fatalf("GetSession after reopen = %q, %v", rec.Data, err)
	}
	wantEvents(t, mustAfter(t, s, "s1", aIDs[1]), aIDs[2:], aData[2:])
	wantPurged(t, s, "s1", aIDs[0])
	wantEvents(t, mustAfter(t, s, "s2", store.EventID{Stream: "b"}), bIDs, bData)
	if streams, err := s.Streams(ctx(t), "s1"); err != nil || !slices.Equal(streams, []string{"a"}) {
		t.Fatalf("Streams after reopen = %q, %v; want [a]", streams, err)
	}
	if ids := listAll(t, s, 0); !slices.Equal(ids, []string{"s1"}) {
		t.Fatalf("ListSessions after reopen = %q, want [s1]", ids)
	}

	// Sequences continue where they were, and the caps still hold.
	next := mustAppend(t, s, "s1", "a", []byte("next"))
	if next.Seq <= aIDs[6].Seq {
		t.Fatalf("Seq after reopen = %d, want more than %d", next.Seq, aIDs[6].Seq)
	}
	if n := mustAppend(t, s, "s2", "b", []byte("n")); n.Seq <= bIDs[1].Seq {
		t.Fatalf("Seq after reopen = %d, want more than %d", n.Seq, bIDs[1].Seq)
	}
	wantPurged(t, s, "s1", aIDs[1])

	s = opts.Reopen(t, s)
	wantEvents(t, mustAfter(t, s, "s1", aIDs[6]), []store.EventID{next}, [][]byte{[]byte("next")})
}
