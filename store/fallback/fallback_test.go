package fallback_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/fallback"
	"github.com/mooring-dev/mooring/store/memstore"
)

var errDown = errors.New("connection refused")

// flaky is a primary store that can be switched off, as a Redis that stops.
type flaky struct {
	*memstore.Store
	down atomic.Bool
}

func (f *flaky) check() error {
	if f.down.Load() {
		return errDown
	}
	return nil
}
func (f *flaky) Ping(ctx context.Context) error { return f.check() }
func (f *flaky) PutSession(ctx context.Context, r store.Record) error {
	if err := f.check(); err != nil {
		return err
	}
	return f.Store.PutSession(ctx, r)
}
func (f *flaky) GetSession(ctx context.Context, id string) (store.Record, error) {
	if err := f.check(); err != nil {
		return store.Record{}, err
	}
	return f.Store.GetSession(ctx, id)
}
func (f *flaky) Append(ctx context.Context, s, st string, d []byte) (store.EventID, error) {
	if err := f.check(); err != nil {
		return store.EventID{}, err
	}
	return f.Store.Append(ctx, s, st, d)
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFallback_OutageAndRecovery(t *testing.T) {
	ctx := context.Background()
	primary := &flaky{Store: memstore.New(nil)}
	var changes atomic.Int32
	fs := fallback.New(ctx, fallback.Options{
		Open:       func(context.Context) (store.Store, error) { return primary, primary.check() },
		RetryEvery: 20 * time.Millisecond,
		OnChange:   func(bool, error) { changes.Add(1) },
	})
	defer fs.Close()

	if err := fs.PutSession(ctx, store.Record{ID: "old", Data: []byte("r0")}); err != nil {
		t.Fatal(err)
	}
	before, err := fs.Append(ctx, "old", "s", []byte("e1"))
	if err != nil {
		t.Fatal(err)
	}

	primary.down.Store(true)
	// Writes go on, in memory, and the state is visible.
	if err := fs.PutSession(ctx, store.Record{ID: "new", Data: []byte("r1")}); err != nil {
		t.Fatalf("put during outage: %v", err)
	}
	if d, _ := fs.Degraded(); !d {
		t.Fatal("not degraded during an outage")
	}
	if err := fs.Ping(ctx); err == nil {
		t.Error("Ping succeeds while degraded")
	}
	during, err := fs.Append(ctx, "old", "s", []byte("e2"))
	if err != nil {
		t.Fatal(err)
	}
	if during.Seq <= before.Seq {
		t.Errorf("event id during outage %v does not sort after %v", during, before)
	}
	if _, err := fs.Append(ctx, "new", "s", []byte("n1")); err != nil {
		t.Fatal(err)
	}
	// A replay from an id the primary issued cannot be answered from memory
	// alone: that would skip what only the primary holds.
	if _, err := fs.After(ctx, "old", before); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("replay from a primary id during outage: %v, want ErrUnavailable", err)
	}
	// A session only the primary knows is unavailable, not gone.
	if _, err := fs.GetSession(ctx, "old"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("get of a primary-only session during outage: %v, want ErrUnavailable", err)
	}

	primary.down.Store(false)
	eventually(t, "recovery", func() bool { d, _ := fs.Degraded(); return !d })
	if got := changes.Load(); got != 2 {
		t.Errorf("OnChange called %d times, want 2", got)
	}
	// Everything written during the outage is in the primary now.
	if r, err := primary.Store.GetSession(ctx, "new"); err != nil || string(r.Data) != "r1" {
		t.Fatalf("session from the outage in primary: %q, %v", r.Data, err)
	}
	evs, err := primary.Store.After(ctx, "old", store.EventID{Stream: "s", Seq: before.Seq})
	if err != nil || len(evs) != 1 || string(evs[0].Data) != "e2" || evs[0].ID != during {
		t.Fatalf("events from the outage in primary: %+v, %v", evs, err)
	}
	// New appends continue above the imported ids.
	after, err := fs.Append(ctx, "old", "s", []byte("e3"))
	if err != nil || after.Seq <= during.Seq {
		t.Fatalf("append after recovery: %v, %v; want seq above %d", after, err, during.Seq)
	}
}

func TestFallback_StartsDegraded(t *testing.T) {
	ctx := context.Background()
	primary := &flaky{Store: memstore.New(nil)}
	primary.down.Store(true)
	fs := fallback.New(ctx, fallback.Options{
		Open:       func(context.Context) (store.Store, error) { return primary, primary.check() },
		RetryEvery: 20 * time.Millisecond,
	})
	defer fs.Close()
	if d, reason := fs.Degraded(); !d || reason == nil {
		t.Fatalf("unreachable primary at start: degraded=%v reason=%v", d, reason)
	}
	if err := fs.PutSession(ctx, store.Record{ID: "a", Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	primary.down.Store(false)
	eventually(t, "recovery", func() bool { d, _ := fs.Degraded(); return !d })
	if _, err := primary.Store.GetSession(ctx, "a"); err != nil {
		t.Fatalf("session created before the primary ever answered: %v", err)
	}
}

// With NoFallback an outage is an error the caller can see (503), in
// OpTimeout at most, and nothing moves to memory.
func TestFallback_NoFallbackAnswersUnavailable(t *testing.T) {
	ctx := context.Background()
	primary := &flaky{Store: memstore.New(nil)}
	fs := fallback.New(ctx, fallback.Options{
		Open:       func(context.Context) (store.Store, error) { return primary, nil },
		NoFallback: true,
	})
	defer fs.Close()
	primary.down.Store(true)
	if err := fs.PutSession(ctx, store.Record{ID: "a", Data: []byte("x")}); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("put during outage: %v, want ErrUnavailable", err)
	}
	if d, _ := fs.Degraded(); d {
		t.Error("NoFallback switched to memory")
	}
	primary.down.Store(false)
	if err := fs.PutSession(ctx, store.Record{ID: "a", Data: []byte("x")}); err != nil {
		t.Fatalf("put after the outage: %v", err)
	}
}

// fencing is a primary that refuses fenced writes, as Redis does for a
// replica whose lease another one took.
type fencing struct{ *memstore.Store }

func (f *fencing) Append(ctx context.Context, s, st string, d []byte) (store.EventID, error) {
	if _, ok := store.FenceFrom(ctx); ok {
		return store.EventID{}, fmt.Errorf("primary: append to session %q: %w", s, store.ErrFenced)
	}
	return f.Store.Append(ctx, s, st, d)
}

// TestFallback_FencedIsNoOutage: a write refused by the lease's fencing
// token reaches the caller as ErrFenced, and neither degrades the store
// nor lands in memory.
func TestFallback_FencedIsNoOutage(t *testing.T) {
	ctx := context.Background()
	primary := &fencing{memstore.New(nil)}
	fs := fallback.New(ctx, fallback.Options{Open: func(context.Context) (store.Store, error) { return primary, nil }})
	defer fs.Close()
	if _, err := fs.Append(store.WithFence(ctx, 7), "s1", "s", []byte("stale")); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("fenced append: %v, want ErrFenced", err)
	}
	if degraded, reason := fs.Degraded(); degraded {
		t.Fatalf("degraded after a fenced write: %v", reason)
	}
	if evs, err := fs.Log(ctx, "s1"); err == nil && len(evs) > 0 {
		t.Fatalf("the fenced write landed: %v", evs)
	}
}

// Two replicas on one primary that went away: the first to see it back
// answers "unavailable" (a client retries), not "not found" (a client's
// session ends), for a session that the other still holds in its memory
// fallback, until the other has had its retries to move it there.
func TestFallback_SessionOfASlowerReplicaIsNotGoneAfterRecovery(t *testing.T) {
	ctx := context.Background()
	primary := &flaky{Store: memstore.New(nil)}
	open := func(context.Context) (store.Store, error) { return primary, primary.check() }
	const retry = 300 * time.Millisecond
	quick := fallback.New(ctx, fallback.Options{Open: open, RetryEvery: retry})
	defer quick.Close()
	// The slower replica retries only long after the test.
	slow := fallback.New(ctx, fallback.Options{Open: open, RetryEvery: time.Hour})
	defer slow.Close()

	primary.down.Store(true)
	for _, fs := range []*fallback.Store{quick, slow} {
		if _, err := fs.GetSession(ctx, "x"); err == nil {
			t.Fatal("GetSession with the primary down succeeded")
		}
		if d, _ := fs.Degraded(); !d {
			t.Fatal("not degraded after an outage")
		}
	}
	if err := slow.PutSession(ctx, store.Record{ID: "made-in-outage", Data: []byte("r")}); err != nil {
		t.Fatal(err)
	}
	primary.down.Store(false)
	eventually(t, "the quick replica recovering", func() bool { d, _ := quick.Degraded(); return !d })
	recovered := time.Now()
	_, err := quick.GetSession(ctx, "made-in-outage")
	if time.Since(recovered) < retry && !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("GetSession right after recovery of a session another replica holds in memory: %v, want ErrUnavailable (not gone)", err)
	}
	// Once the others have had their chance, a session missing from the
	// primary is gone.
	eventually(t, "not found after the settling time", func() bool {
		_, err := quick.GetSession(ctx, "made-in-outage")
		return errors.Is(err, store.ErrNotFound)
	})
}
