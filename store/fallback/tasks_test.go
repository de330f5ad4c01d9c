package fallback_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/fallback"
	"github.com/mooring-dev/mooring/store/memstore"
)

func (f *flaky) CreateTask(ctx context.Context, r store.TaskRecord) (store.TaskRecord, error) {
	if err := f.check(); err != nil {
		return store.TaskRecord{}, err
	}
	return f.Store.CreateTask(ctx, r)
}
func (f *flaky) GetTask(ctx context.Context, id string) (store.TaskRecord, error) {
	if err := f.check(); err != nil {
		return store.TaskRecord{}, err
	}
	return f.Store.GetTask(ctx, id)
}
func (f *flaky) ListTasks(ctx context.Context, scope, cursor string, limit int) ([]store.TaskRecord, string, error) {
	if err := f.check(); err != nil {
		return nil, "", err
	}
	return f.Store.ListTasks(ctx, scope, cursor, limit)
}

func TestFallback_TasksDuringOutage(t *testing.T) {
	ctx := context.Background()
	primary := &flaky{Store: memstore.New(nil)}
	fs := fallback.New(ctx, fallback.Options{
		Open:       func(context.Context) (store.Store, error) { return primary, primary.check() },
		RetryEvery: 20 * time.Millisecond,
	})
	defer fs.Close()
	rec := func(id string) store.TaskRecord {
		return store.TaskRecord{ID: id, Scope: "s", Active: true, Expires: time.Now().Add(time.Hour), Data: []byte(id)}
	}
	if _, err := fs.CreateTask(ctx, rec("old")); err != nil {
		t.Fatal(err)
	}
	primary.down.Store(true)
	if _, err := fs.CreateTask(ctx, rec("new")); err != nil {
		t.Fatalf("create during outage: %v", err)
	}
	if got, err := fs.GetTask(ctx, "new"); err != nil || string(got.Data) != "new" {
		t.Fatalf("get of the outage's task: %+v %v", got, err)
	}
	// Unavailable, never gone; and no list that hides the primary's tasks.
	if _, err := fs.GetTask(ctx, "old"); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("get of a primary-only task during outage: %v, want ErrUnavailable", err)
	}
	if _, _, err := fs.ListTasks(ctx, "s", "", 10); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("list during outage: %v, want ErrUnavailable", err)
	}
	primary.down.Store(false)
	eventually(t, "recovery", func() bool { d, _ := fs.Degraded(); return !d })
	if got, err := primary.Store.GetTask(ctx, "new"); err != nil || string(got.Data) != "new" || !got.Active {
		t.Fatalf("the outage's task in the primary: %+v %v", got, err)
	}
	recs, _, err := fs.ListTasks(ctx, "s", "", 10)
	if err != nil || len(recs) != 2 {
		t.Fatalf("list after recovery: %v %v", recs, err)
	}
}
