package tasks_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/tasks"
)

// readCounter counts a TaskStore's GetTask calls.
type readCounter struct {
	store.TaskStore
	reads atomic.Int64
}

func (c *readCounter) GetTask(ctx context.Context, id string) (store.TaskRecord, error) {
	c.reads.Add(1)
	return c.TaskStore.GetTask(ctx, id)
}

// A task that this Manager settled is answered without a store read
// (tasks/result of a quick task), as the store holds it: same scope rule.
func TestManager_SettledAnsweredWithoutRead(t *testing.T) {
	st := &readCounter{TaskStore: memstore.New(nil)}
	m := newManager(t, st, &tasks.Options{SweepInterval: -1})
	ctx := ctxT(t)
	done := make(chan struct{})
	tk, err := m.Create(ctx, &tasks.Task{Scope: "s", TTL: time.Minute}, func(context.Context, *tasks.Task) ([]byte, error) {
		defer close(done)
		return []byte(`{"content":[]}`), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	<-done
	// The runner returned; its outcome is committed soon after.
	var got *tasks.Task
	for deadline := time.Now().Add(20 * time.Second); ; {
		if got, err = m.Wait(ctx, tk.ID, "s"); err != nil {
			t.Fatal(err)
		}
		if got.Status == tasks.Completed || time.Now().After(deadline) {
			break
		}
	}
	st.reads.Store(0)
	for range 3 {
		if got, err = m.Wait(ctx, tk.ID, "s"); err != nil || got.Status != tasks.Completed || string(got.Result) != `{"content":[]}` {
			t.Fatalf("Wait = %+v, %v", got, err)
		}
		if got, err = m.Get(ctx, tk.ID, "s"); err != nil || got.Status != tasks.Completed {
			t.Fatalf("Get = %+v, %v", got, err)
		}
	}
	if n := st.reads.Load(); n != 0 {
		t.Errorf("%d store reads for a task settled here, want 0", n)
	}
	rec, err := st.TaskStore.GetTask(ctx, tk.ID)
	if err != nil || rec.Version != got.Version {
		t.Errorf("stored version %d (%v), answered %d", rec.Version, err, got.Version)
	}
	if _, err := m.Get(ctx, tk.ID, "other"); !errors.Is(err, tasks.ErrNotFound) {
		t.Errorf("Get from another scope: %v, want ErrNotFound", err)
	}
}

// The kept outcome ends with the task: past its expiry (sooner than the
// cache's own 10 s), Get says what the store says.
func TestManager_SettledExpires(t *testing.T) {
	var now atomic.Pointer[time.Time]
	start := time.Now()
	now.Store(&start)
	st := memstore.New(nil)
	m := newManager(t, st, &tasks.Options{SweepInterval: -1, Now: func() time.Time { return *now.Load() }})
	ctx := ctxT(t)
	tk, err := m.Create(ctx, &tasks.Task{Scope: "s", TTL: 8 * time.Second}, func(context.Context, *tasks.Task) ([]byte, error) {
		return []byte(`{}`), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Wait(ctx, tk.ID, "s"); err != nil {
		t.Fatal(err)
	}
	later := start.Add(9 * time.Second)
	now.Store(&later)
	if err := st.DeleteTask(ctx, tk.ID); err != nil { // what the store's expiry does
		t.Fatal(err)
	}
	if got, err := m.Get(ctx, tk.ID, "s"); !errors.Is(err, tasks.ErrNotFound) {
		t.Errorf("Get of an expired task = %+v, %v; want ErrNotFound", got, err)
	}
}

// A waiter woken by a change that this Manager committed (here the
// runner's lease renewals, then an Update to input_required) takes the
// task as committed instead of reading it from the store again.
func TestManager_WaitTakesLocalChangesWithoutRead(t *testing.T) {
	st := &readCounter{TaskStore: memstore.New(nil)}
	// No polling: every read would come from a wake.
	m := newManager(t, st, &tasks.Options{SweepInterval: -1, PollInterval: time.Hour, LeaseTTL: 150 * time.Millisecond})
	ctx := ctxT(t)
	ask := make(chan struct{})
	tk, err := m.Create(ctx, &tasks.Task{Scope: "s", TTL: time.Minute}, func(ctx context.Context, t *tasks.Task) ([]byte, error) {
		select {
		case <-ask:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return nil, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan *tasks.Task, 1)
	st.reads.Store(0)
	go func() {
		w, err := m.WaitUntil(ctx, tk.ID, "s", func(t *tasks.Task) bool { return t.Status == tasks.InputRequired })
		if err != nil {
			t.Error(err)
		}
		got <- w
	}()
	// Several renewals (every 50 ms) while the waiter waits.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		rec, err := st.TaskStore.GetTask(ctx, tk.ID)
		if err != nil {
			t.Fatal(err)
		}
		if rec.Version >= tk.Version+5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the lease was renewed %d times in 20s", rec.Version-tk.Version)
		}
	}
	if n := st.reads.Load(); n > 1 {
		t.Errorf("%d store reads while the lease was renewed 5 times, want 1 (the waiter's first)", n)
	}
	if _, err := m.Update(ctx, tk.ID, "s", func(t *tasks.Task) error { t.Status = tasks.InputRequired; return nil }); err != nil {
		t.Fatal(err)
	}
	if w := <-got; w == nil || w.Status != tasks.InputRequired {
		t.Fatalf("WaitUntil = %+v", w)
	}
	close(ask)
}
