package tasks_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/tasks"
)

// blockForever runs until its context ends.
func blockForever(ctx context.Context, _ *tasks.Task) ([]byte, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// DeadRunnerSuite checks the settling of tasks whose process died: a is
// abandoned as kill -9 would leave it, b sees the task afterwards.
// open(t) gives a function that returns a handle on one store's data per
// call: each Manager gets its own, as separate processes would.
func DeadRunnerSuite(t *testing.T, open func(t *testing.T) func() store.TaskStore) {
	lease := 300 * time.Millisecond
	opts := func() *tasks.Options {
		return &tasks.Options{LeaseTTL: lease, SweepInterval: -1, PollInterval: 20 * time.Millisecond}
	}
	t.Run("NotRetryableFails", func(t *testing.T) {
		st := open(t)
		ctx := ctxT(t)
		a := newManager(t, st(), opts())
		tk, err := a.Create(ctx, &tasks.Task{Scope: "s", Tool: "slow"}, blockForever)
		if err != nil {
			t.Fatal(err)
		}
		a.Abandon()
		b := newManager(t, st(), opts())
		// b polls; the lease runs out; b settles it.
		got, err := b.Wait(ctx, tk.ID, "s")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != tasks.Failed || got.Error == nil || !strings.Contains(got.Error.Message, "stopped before the task finished") {
			t.Fatalf("got %+v (error %+v)", got, got.Error)
		}
		if !got.UpdatedAt.After(tk.LeaseUntil.Add(-time.Millisecond)) {
			t.Fatalf("settled at %v, before the lease ran out at %v", got.UpdatedAt, tk.LeaseUntil)
		}
	})
	t.Run("RetryableCompletesOnReRun", func(t *testing.T) {
		st := open(t)
		ctx := ctxT(t)
		a := newManager(t, st(), opts())
		tk, _ := a.Create(ctx, &tasks.Task{Scope: "s", Tool: "idem", Retryable: true}, blockForever)
		a.Abandon()
		b := newManager(t, st(), opts())
		b.SetRunnerFor(func(t *tasks.Task) tasks.Runner {
			return func(context.Context, *tasks.Task) ([]byte, error) { return []byte(`{"again":true}`), nil }
		})
		got, err := b.Wait(ctx, tk.ID, "s")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != tasks.Completed || string(got.Result) != `{"again":true}` || got.Attempts != 2 || got.Runner != b.Self() {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("RetryableGivesUpAfterMaxAttempts", func(t *testing.T) {
		st := open(t)
		ctx := ctxT(t)
		o := opts()
		o.MaxAttempts = 2
		a := newManager(t, st(), o)
		tk, _ := a.Create(ctx, &tasks.Task{Scope: "s", Retryable: true}, blockForever)
		a.Abandon()
		b := newManager(t, st(), o)
		b.SetRunnerFor(func(t *tasks.Task) tasks.Runner { return blockForever })
		if _, err := b.WaitUntil(ctx, tk.ID, "s", func(t *tasks.Task) bool { return t.Attempts == 2 }); err != nil {
			t.Fatal(err)
		}
		b.Abandon()
		c := newManager(t, st(), o)
		c.SetRunnerFor(func(t *tasks.Task) tasks.Runner { return blockForever })
		got, err := c.Wait(ctx, tk.ID, "s")
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != tasks.Failed || !strings.Contains(got.Error.Message, "gave up after 2 attempts") {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("CancelFromAnotherManager", func(t *testing.T) {
		st := open(t)
		ctx := ctxT(t)
		a := newManager(t, st(), opts())
		ended := make(chan struct{})
		tk, _ := a.Create(ctx, &tasks.Task{Scope: "s"}, func(ctx context.Context, _ *tasks.Task) ([]byte, error) {
			<-ctx.Done()
			close(ended)
			return nil, ctx.Err()
		})
		b := newManager(t, st(), opts())
		got, err := b.Cancel(ctx, tk.ID, "s")
		if err != nil || got.Status != tasks.Cancelled {
			t.Fatalf("cancel: %+v %v", got, err)
		}
		select { // a's renewal sees it
		case <-ended:
		case <-ctx.Done():
			t.Fatal("the runner on a did not stop")
		}
	})
	t.Run("SweepSettlesUnwatchedTasks", func(t *testing.T) {
		st := open(t)
		ctx := ctxT(t)
		a := newManager(t, st(), opts())
		tk, _ := a.Create(ctx, &tasks.Task{Scope: "s"}, blockForever)
		a.Abandon()
		o := opts()
		o.SweepInterval = 50 * time.Millisecond
		newManager(t, st(), o)
		reader := st()
		for {
			rec, err := reader.GetTask(ctx, tk.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !rec.Active {
				break
			}
			select {
			case <-ctx.Done():
				t.Fatal("the sweep did not settle the task")
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	t.Run("CloseReleasesLease", func(t *testing.T) {
		st := open(t)
		ctx := ctxT(t)
		o := opts()
		o.LeaseTTL = time.Hour // only the release lets b settle it soon
		a := tasks.NewManager(st(), o)
		tk, _ := a.Create(ctx, &tasks.Task{Scope: "s"}, blockForever)
		a.Close()
		b := newManager(t, st(), o)
		got, err := b.Get(ctx, tk.ID, "s")
		if err != nil || got.Status != tasks.Failed {
			t.Fatalf("got %+v %v", got, err)
		}
	})
}

func TestDeadRunner_Memory(t *testing.T) {
	DeadRunnerSuite(t, func(*testing.T) func() store.TaskStore {
		st := memstore.New(nil)
		return func() store.TaskStore { return st }
	})
}

type countMetrics struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *countMetrics) TaskStatus(status string, _ time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[status]++
}

// A re-run counts as a task entering working, as the metric says.
func TestDeadRunner_ReRunCounted(t *testing.T) {
	st := memstore.New(nil)
	ctx := ctxT(t)
	a := newManager(t, st, &tasks.Options{LeaseTTL: 200 * time.Millisecond, SweepInterval: -1})
	tk, _ := a.Create(ctx, &tasks.Task{Scope: "s", Retryable: true}, blockForever)
	a.Abandon()
	var met countMetrics
	b := newManager(t, st, &tasks.Options{LeaseTTL: 200 * time.Millisecond, SweepInterval: -1, Metrics: &met})
	b.SetRunnerFor(func(*tasks.Task) tasks.Runner { return rerun })
	if _, err := b.Wait(ctx, tk.ID, "s"); err != nil {
		t.Fatal(err)
	}
	met.mu.Lock()
	defer met.mu.Unlock()
	if met.n["working"] != 1 || met.n["completed"] != 1 {
		t.Fatalf("counted %v; want one working (the re-run) and one completed", met.n)
	}
}

// A task that waited for input when its process died runs again as
// working, without the dead run's pending input requests.
func TestDeadRunner_ReRunDropsPendingInput(t *testing.T) {
	st := memstore.New(nil)
	ctx := ctxT(t)
	a := newManager(t, st, &tasks.Options{LeaseTTL: 200 * time.Millisecond, SweepInterval: -1})
	tk, _ := a.Create(ctx, &tasks.Task{Scope: "s", Retryable: true}, blockForever)
	if _, err := a.Update(ctx, tk.ID, "s", func(t *tasks.Task) error {
		t.Status, t.InputRequests = tasks.InputRequired, []byte(`{"q":{}}`)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	a.Abandon()
	b := newManager(t, st, &tasks.Options{LeaseTTL: 200 * time.Millisecond, SweepInterval: -1})
	b.SetRunnerFor(func(*tasks.Task) tasks.Runner { return blockForever })
	got, err := b.WaitUntil(ctx, tk.ID, "s", func(t *tasks.Task) bool { return t.Attempts == 2 })
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != tasks.Working || got.InputRequests != nil {
		t.Fatalf("re-run: %+v", got)
	}
}
