package tasks_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/fallback"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/tasks"
)

// downable is a primary store that can be switched off, as a Redis that
// stops answering.
type downable struct {
	*memstore.Store
	down atomic.Bool
}

var errDown = errors.New("connection refused")

func (d *downable) check() error {
	if d.down.Load() {
		return errDown
	}
	return nil
}

func (d *downable) Ping(context.Context) error { return d.check() }

func (d *downable) GetTask(ctx context.Context, id string) (store.TaskRecord, error) {
	if err := d.check(); err != nil {
		return store.TaskRecord{}, err
	}
	return d.Store.GetTask(ctx, id)
}

func (d *downable) UpdateTask(ctx context.Context, r store.TaskRecord) (store.TaskRecord, error) {
	if err := d.check(); err != nil {
		return store.TaskRecord{}, err
	}
	return d.Store.UpdateTask(ctx, r)
}

// A runner that finishes while the store is away keeps its outcome until
// the store is back, then stores it: the task completes, it is not lost.
func TestManager_OutcomeWaitsOutAnOutage(t *testing.T) {
	primary := &downable{Store: memstore.New(nil)}
	fs := fallback.New(context.Background(), fallback.Options{
		Open:       func(context.Context) (store.Store, error) { return primary, primary.check() },
		RetryEvery: 50 * time.Millisecond,
		OpTimeout:  time.Second,
	})
	t.Cleanup(func() { fs.Close() })
	m := newManager(t, fs, &tasks.Options{SweepInterval: -1})
	ctx := ctxT(t)
	finish := make(chan struct{})
	tk, err := m.Create(ctx, &tasks.Task{Scope: "s"}, func(context.Context, *tasks.Task) ([]byte, error) {
		<-finish
		return []byte(`{"done":true}`), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	primary.down.Store(true)
	if _, err := m.Get(ctx, tk.ID, "s"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Get during the outage: %v, want ErrUnavailable", err)
	}
	close(finish)
	time.Sleep(1500 * time.Millisecond) // the outcome's first tries fail
	primary.down.Store(false)
	got, err := m.Wait(ctx, tk.ID, "s")
	if err != nil || got.Status != tasks.Completed || string(got.Result) != `{"done":true}` {
		t.Fatalf("after the outage: %+v %v", got, err)
	}
}
