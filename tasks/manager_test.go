package tasks_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/tasks"
)

func newManager(t *testing.T, st store.TaskStore, o *tasks.Options) *tasks.Manager {
	t.Helper()
	if o == nil {
		o = &tasks.Options{}
	}
	if o.PollInterval == 0 {
		o.PollInterval = 20 * time.Millisecond
	}
	m := tasks.NewManager(st, o)
	m.Start()
	t.Cleanup(func() { m.Close() })
	return m
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestManager_CreateCompletes(t *testing.T) {
	st := memstore.New(nil)
	m := newManager(t, st, nil)
	ctx := ctxT(t)
	release := make(chan struct{})
	created, err := m.Create(ctx, &tasks.Task{Scope: "s1", Tool: "echo", TTL: time.Minute}, func(ctx context.Context, tk *tasks.Task) ([]byte, error) {
		<-release
		return []byte(`{"content":[]}`), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Committed before Create returned.
	rec, err := st.GetTask(ctx, created.ID)
	if err != nil || !rec.Active || rec.Scope != "s1" {
		t.Fatalf("stored %+v, %v", rec, err)
	}
	if created.Status != tasks.Working || created.TTL != time.Minute || created.PollInterval != 20*time.Millisecond {
		t.Fatalf("created %+v", created)
	}
	if _, err := m.Get(ctx, created.ID, "other"); !errors.Is(err, tasks.ErrNotFound) {
		t.Fatalf("other scope: %v", err)
	}
	close(release)
	done, err := m.Wait(ctx, created.ID, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if done.Status != tasks.Completed || string(done.Result) != `{"content":[]}` {
		t.Fatalf("done %+v", done)
	}
	rec, _ = st.GetTask(ctx, created.ID)
	if rec.Active {
		t.Fatal("completed task still active in the store")
	}
}

func TestManager_RunnerErrors(t *testing.T) {
	m := newManager(t, memstore.New(nil), nil)
	ctx := ctxT(t)
	rpc, _ := m.Create(ctx, &tasks.Task{Scope: "s"}, func(context.Context, *tasks.Task) ([]byte, error) {
		return nil, &jsonrpc.Error{Code: -32602, Message: "bad args"}
	})
	plain, _ := m.Create(ctx, &tasks.Task{Scope: "s"}, func(context.Context, *tasks.Task) ([]byte, error) {
		return nil, errors.New("backend went away")
	})
	got, err := m.Wait(ctx, rpc.ID, "s")
	if err != nil || got.Status != tasks.Failed || got.Error.Code != -32602 {
		t.Fatalf("rpc error: %+v %v", got, err)
	}
	got, err = m.Wait(ctx, plain.ID, "s")
	if err != nil || got.Status != tasks.Failed || got.Error.Code != jsonrpc.CodeInternalError || !strings.Contains(got.Error.Message, "backend went away") {
		t.Fatalf("plain error: %+v %v", got, err)
	}
}

func TestManager_CancelEndsRunner(t *testing.T) {
	m := newManager(t, memstore.New(nil), nil)
	ctx := ctxT(t)
	ended := make(chan error, 1)
	tk, _ := m.Create(ctx, &tasks.Task{Scope: "s"}, func(ctx context.Context, _ *tasks.Task) ([]byte, error) {
		<-ctx.Done()
		ended <- ctx.Err()
		return []byte(`{}`), nil // too late: the task is cancelled
	})
	got, err := m.Cancel(ctx, tk.ID, "s")
	if err != nil || got.Status != tasks.Cancelled {
		t.Fatalf("cancel: %+v %v", got, err)
	}
	select {
	case <-ended:
	case <-ctx.Done():
		t.Fatal("runner's context did not end")
	}
	again, err := m.Cancel(ctx, tk.ID, "s")
	if err != nil || again.Status != tasks.Cancelled {
		t.Fatalf("second cancel: %+v %v", again, err)
	}
	if _, cancelled, err := m.TryCancel(ctx, tk.ID, "s"); err != nil || cancelled {
		t.Fatalf("TryCancel of a cancelled task: cancelled=%v, %v", cancelled, err)
	}
	for m.Running() != 0 {
		time.Sleep(5 * time.Millisecond)
	}
	final, _ := m.Get(ctx, tk.ID, "s")
	if final.Status != tasks.Cancelled || final.Result != nil {
		t.Fatalf("the runner's late result overwrote the cancel: %+v", final)
	}
}

func TestManager_ListByScopePaginated(t *testing.T) {
	m := newManager(t, memstore.New(nil), nil)
	ctx := ctxT(t)
	noop := func(context.Context, *tasks.Task) ([]byte, error) { return []byte(`{}`), nil }
	var ids []string
	for range 5 {
		tk, err := m.Create(ctx, &tasks.Task{Scope: "a"}, noop)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, tk.ID)
		time.Sleep(2 * time.Millisecond) // ids carry the millisecond
	}
	m.Create(ctx, &tasks.Task{Scope: "b"}, noop)
	var got []string
	cursor := ""
	for {
		page, next, err := m.List(ctx, "a", cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, tk := range page {
			got = append(got, tk.ID)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Fatalf("listed %v, want %v (creation order)", got, ids)
	}
}

func TestManager_UpdateAndSubscribe(t *testing.T) {
	m := newManager(t, memstore.New(nil), nil)
	ctx := ctxT(t)
	seen := make(chan tasks.Status, 10)
	defer m.Subscribe(func(tk *tasks.Task) { seen <- tk.Status })()
	proceed := make(chan struct{})
	tk, _ := m.Create(ctx, &tasks.Task{Scope: "s"}, func(ctx context.Context, tk *tasks.Task) ([]byte, error) {
		<-proceed
		return json.RawMessage(`{}`), nil
	})
	up, err := m.Update(ctx, tk.ID, "s", func(t *tasks.Task) error {
		t.Status, t.InputRequests = tasks.InputRequired, json.RawMessage(`{"q":1}`)
		return nil
	})
	if err != nil || up.Status != tasks.InputRequired {
		t.Fatalf("update: %+v %v", up, err)
	}
	close(proceed)
	if _, err := m.Wait(ctx, tk.ID, "s"); err != nil {
		t.Fatal(err)
	}
	want := []tasks.Status{tasks.Working, tasks.InputRequired, tasks.Completed}
	for _, w := range want {
		if s := <-seen; s != w {
			t.Fatalf("subscriber saw %s, want %s", s, w)
		}
	}
	if _, err := m.Update(ctx, tk.ID, "s", func(*tasks.Task) error { return nil }); !errors.Is(err, tasks.ErrTerminal) {
		t.Fatalf("update of a terminal task: %v", err)
	}
}

func TestManager_TTLClamped(t *testing.T) {
	m := newManager(t, memstore.New(nil), &tasks.Options{DefaultTTL: time.Minute, MaxTTL: time.Hour})
	ctx := ctxT(t)
	noop := func(context.Context, *tasks.Task) ([]byte, error) { return []byte(`{}`), nil }
	a, _ := m.Create(ctx, &tasks.Task{}, noop)
	b, _ := m.Create(ctx, &tasks.Task{TTL: 48 * time.Hour}, noop)
	if a.TTL != time.Minute || b.TTL != time.Hour {
		t.Fatalf("ttl %v %v", a.TTL, b.TTL)
	}
}

// A change made by this Manager wakes its waiters at once: with an
// hour's poll interval, only the wake can end this Wait in time.
func TestManager_WaitWokenByLocalChange(t *testing.T) {
	m := newManager(t, memstore.New(nil), &tasks.Options{PollInterval: time.Hour})
	ctx := ctxT(t)
	release := make(chan struct{})
	tk, _ := m.Create(ctx, &tasks.Task{Scope: "s"}, func(context.Context, *tasks.Task) ([]byte, error) {
		<-release
		return []byte(`{}`), nil
	})
	done := make(chan error, 2)
	for range 2 { // two waiters share the task's watch
		go func() {
			_, err := m.Wait(ctx, tk.ID, "s")
			done <- err
		}()
	}
	time.Sleep(50 * time.Millisecond) // let them block (not needed for correctness)
	close(release)
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("Wait: %v", err)
		}
	}
}

// A second Create with the id of a running task fails and leaves the
// first one running and owned.
func TestManager_DuplicateIDLeavesFirstAlone(t *testing.T) {
	m := newManager(t, memstore.New(nil), &tasks.Options{LeaseTTL: 300 * time.Millisecond, SweepInterval: 50 * time.Millisecond})
	ctx := ctxT(t)
	release := make(chan struct{})
	first, err := m.Create(ctx, &tasks.Task{ID: "same", Scope: "s"}, func(ctx context.Context, _ *tasks.Task) ([]byte, error) {
		select {
		case <-release:
			return []byte(`{"first":true}`), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(ctx, &tasks.Task{ID: "same", Scope: "s"}, blockForever); !errors.Is(err, store.ErrExists) {
		t.Fatalf("duplicate Create: %v", err)
	}
	time.Sleep(time.Second) // several sweeps and lease renewals
	if got, _ := m.Get(ctx, first.ID, "s"); got.Status != tasks.Working {
		t.Fatalf("the first task was settled while it ran: %+v", got)
	}
	close(release)
	if got, err := m.Wait(ctx, first.ID, "s"); err != nil || string(got.Result) != `{"first":true}` {
		t.Fatalf("first task: %+v %v", got, err)
	}
}

// Drain waits for the runners here, and gives up when its context ends.
func TestManager_Drain(t *testing.T) {
	m := newManager(t, memstore.New(nil), nil)
	ctx := ctxT(t)
	finish := make(chan struct{})
	tk, _ := m.Create(ctx, &tasks.Task{Scope: "s"}, func(ctx context.Context, _ *tasks.Task) ([]byte, error) {
		select {
		case <-finish:
			return []byte(`{}`), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	m.Drain(short) // the runner does not finish: Drain gives up
	cancel()
	if m.Running() != 1 {
		t.Fatalf("Drain ended the runner: %d running", m.Running())
	}
	drained := make(chan struct{})
	go func() { m.Drain(ctx); close(drained) }()
	close(finish)
	<-drained
	if got, _ := m.Get(ctx, tk.ID, "s"); got.Status != tasks.Completed {
		t.Fatalf("after Drain: %+v", got)
	}
}

// slowCreate holds CreateTask until released.
type slowCreate struct {
	*memstore.Store
	entered, release chan struct{}
}

func (s *slowCreate) CreateTask(ctx context.Context, r store.TaskRecord) (store.TaskRecord, error) {
	close(s.entered)
	<-s.release
	return s.Store.CreateTask(ctx, r)
}

// Close while a Create is between its claim and its start: Close waits
// for it, the runner never runs on, and the task's lease is given up.
func TestManager_CloseDuringCreate(t *testing.T) {
	st := &slowCreate{Store: memstore.New(nil), entered: make(chan struct{}), release: make(chan struct{})}
	m := tasks.NewManager(st, &tasks.Options{SweepInterval: -1})
	ctx := ctxT(t)
	created := make(chan *tasks.Task, 1)
	go func() {
		tk, err := m.Create(ctx, &tasks.Task{Scope: "s"}, blockForever)
		if err != nil {
			t.Error(err)
		}
		created <- tk
	}()
	<-st.entered
	closed := make(chan struct{})
	go func() { m.Close(); close(closed) }()
	time.Sleep(50 * time.Millisecond) // Close is waiting for the claim
	close(st.release)
	<-closed
	tk := <-created
	got, err := tasks.Read(ctx, st, tk.ID)
	if err != nil || got.Status != tasks.Working || !got.LeaseUntil.IsZero() {
		t.Fatalf("after Close: %+v %v; want working with its lease given up", got, err)
	}
}
