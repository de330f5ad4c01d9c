package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/store"
)

// taskTests check store.TaskStore; Run includes them, and each skips on a
// store that does not implement it.
var taskTests = []suiteTest{
	{"Task/CreateThenGet", testTaskCreateGet},
	{"Task/CreateTakenIDIsErrExists", testTaskCreateExists},
	{"Task/CreateRejectsBadRecords", testTaskCreateBad},
	{"Task/GetMissingIsNotFound", testTaskGetMissing},
	{"Task/UpdateIsCompareAndSwap", testTaskUpdateCAS},
	{"Task/ConcurrentUpdatesOneWins", testTaskUpdateRace},
	{"Task/ListByScopePaginated", testTaskList},
	{"Task/ActiveListsOnlyActive", testTaskActive},
	{"Task/ExpiresOnTimeNeverEarly", testTaskExpiry},
	{"Task/DeleteRemovesEverywhere", testTaskDelete},
	{"Task/ReopenKeepsTasks", testTaskReopen},
}

// taskStore makes a fresh store and skips the test if it keeps no tasks.
func taskStore(t *testing.T, h Harness) store.TaskStore {
	t.Helper()
	s := h(t, store.Limits{})
	ts, ok := s.(store.TaskStore)
	if !ok {
		t.Skipf("%s store keeps no tasks", s.Kind())
	}
	return ts
}

func newTask(id, scope string, ttl time.Duration) store.TaskRecord {
	return store.TaskRecord{ID: id, Scope: scope, Active: true, Expires: time.Now().Add(ttl), Data: []byte(`{"id":"` + id + `"}`)}
}

func mustCreateTask(t *testing.T, s store.TaskStore, rec store.TaskRecord) store.TaskRecord {
	t.Helper()
	got, err := s.CreateTask(t.Context(), rec)
	if err != nil {
		t.Fatalf("CreateTask(%q): %v", rec.ID, err)
	}
	return got
}

// sameTask compares what a store must give back as it was written.
func sameTask(t *testing.T, got, want store.TaskRecord) {
	t.Helper()
	if got.ID != want.ID || got.Scope != want.Scope || got.Active != want.Active || got.Version != want.Version ||
		!bytes.Equal(got.Data, want.Data) || got.Expires.Sub(want.Expires).Abs() > time.Millisecond {
		t.Fatalf("task = %+v (data %q)\nwant %+v (data %q)", got, got.Data, want, want.Data)
	}
}

func testTaskCreateGet(t *testing.T, h Harness, _ *Options) {
	s := taskStore(t, h)
	rec := newTask("t-1", "session:a b", time.Hour)
	rec.Version = 42 // ignored
	got := mustCreateTask(t, s, rec)
	want := rec
	want.Version, want.Data = 1, bytes.Clone(rec.Data)
	sameTask(t, got, want)
	rec.Data[0], got.Data[0] = 'X', 'Y' // the store keeps its own copy
	read, err := s.GetTask(t.Context(), "t-1")
	if err != nil {
		t.Fatal(err)
	}
	sameTask(t, read, want)
}

func testTaskCreateExists(t *testing.T, h Harness, _ *Options) {
	s := taskStore(t, h)
	mustCreateTask(t, s, newTask("dup", "s", time.Hour))
	_, err := s.CreateTask(t.Context(), newTask("dup", "other", time.Hour))
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("second CreateTask = %v, want ErrExists", err)
	}
	if got, _ := s.GetTask(t.Context(), "dup"); got.Scope != "s" {
		t.Fatalf("the failed create changed the task: %+v", got)
	}
}

func testTaskCreateBad(t *testing.T, h Harness, _ *Options) {
	s := taskStore(t, h)
	bad := map[string]store.TaskRecord{
		"empty id":       newTask("", "s", time.Hour),
		"space in id":    newTask("a b", "s", time.Hour),
		"brace in id":    newTask("a{b}", "s", time.Hour),
		"reserved scope": newTask("x", store.AnyScope, time.Hour),
		"past expiry":    newTask("y", "s", -time.Second),
	}
	for name, rec := range bad {
		if _, err := s.CreateTask(t.Context(), rec); !errors.Is(err, store.ErrBadTask) {
			t.Errorf("%s: CreateTask = %v, want ErrBadTask", name, err)
		}
	}
}

func testTaskGetMissing(t *testing.T, h Harness, _ *Options) {
	s := taskStore(t, h)
	if _, err := s.GetTask(t.Context(), "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetTask = %v, want ErrNotFound", err)
	}
	if _, err := s.UpdateTask(t.Context(), store.TaskRecord{ID: "nope", Version: 1, Expires: time.Now().Add(time.Hour)}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateTask = %v, want ErrNotFound", err)
	}
}

func testTaskUpdateCAS(t *testing.T, h Harness, _ *Options) {
	s := taskStore(t, h)
	v1 := mustCreateTask(t, s, newTask("cas", "s", time.Hour))
	upd := v1
	upd.Active, upd.Data, upd.Scope = false, []byte("done"), "ignored"
	upd.Expires = v1.Expires.Add(time.Minute)
	v2, err := s.UpdateTask(t.Context(), upd)
	if err != nil {
		t.Fatal(err)
	}
	want := upd
	want.Version, want.Scope = 2, "s"
	sameTask(t, v2, want)
	read, _ := s.GetTask(t.Context(), "cas")
	sameTask(t, read, want)
	// A writer that read version 1 loses.
	stale := v1
	stale.Data = []byte("stale")
	if _, err := s.UpdateTask(t.Context(), stale); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("stale UpdateTask = %v, want ErrConflict", err)
	}
	read, _ = s.GetTask(t.Context(), "cas")
	sameTask(t, read, want)
}

func testTaskUpdateRace(t *testing.T, h Harness, _ *Options) {
	s := taskStore(t, h)
	v1 := mustCreateTask(t, s, newTask("race", "s", time.Hour))
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := v1
			rec.Data = []byte(fmt.Sprint("writer-", i))
			_, errs[i] = s.UpdateTask(t.Context(), rec)
		}()
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil && won >= 0:
			t.Fatalf("writers %d and %d both won", won, i)
		case err == nil:
			won = i
		case !errors.Is(err, store.ErrConflict):
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no writer won")
	}
	read, _ := s.GetTask(t.Context(), "race")
	if string(read.Data) != fmt.Sprint("writer-", won) || read.Version != 2 {
		t.Fatalf("stored %q v%d, want writer-%d v2", read.Data, read.Version, won)
	}
}

// listAll pages through a listing and checks that no id comes twice.
func listTasksAll(t *testing.T, page func(cursor string) ([]store.TaskRecord, string, error)) []string {
	t.Helper()
	var ids []string
	seen := map[string]bool{}
	cursor := ""
	for range 1000 {
		recs, next, err := page(cursor)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if seen[r.ID] {
				t.Fatalf("task %q listed twice", r.ID)
			}
			seen[r.ID] = true
			ids = append(ids, r.ID)
		}
		if next == "" {
			return ids
		}
		cursor = next
	}
	t.Fatal("listing does not end")
	return nil
}

func testTaskList(t *testing.T, h Harness, _ *Options) {
	s := taskStore(t, h)
	var a, all []string
	for i := range 7 {
		id := fmt.Sprintf("task-%02d", i)
		scope := "a"
		if i%3 == 2 {
			scope = "b"
		} else {
			a = append(a, id)
		}
		all = append(all, id)
		mustCreateTask(t, s, newTask(id, scope, time.Hour))
	}
	got := listTasksAll(t, func(c string) ([]store.TaskRecord, string, error) { return s.ListTasks(t.Context(), "a", c, 2) })
	if fmt.Sprint(got) != fmt.Sprint(a) {
		t.Fatalf("scope a lists %v, want %v (by id)", got, a)
	}
	got = listTasksAll(t, func(c string) ([]store.TaskRecord, string, error) {
		return s.ListTasks(t.Context(), store.AnyScope, c, 3)
	})
	if fmt.Sprint(got) != fmt.Sprint(all) {
		t.Fatalf("AnyScope lists %v, want %v", got, all)
	}
	if recs, next, err := s.ListTasks(t.Context(), "none", "", 10); err != nil || len(recs) != 0 || next != "" {
		t.Fatalf("empty scope: %v %q %v", recs, next, err)
	}
	recs, _, _ := s.ListTasks(t.Context(), "a", "", 1)
	if len(recs) != 1 || string(recs[0].Data) != `{"id":"task-00"}` || recs[0].Scope != "a" || recs[0].Version != 1 {
		t.Fatalf("listed records carry %+v", recs)
	}
}

func testTaskActive(t *testing.T, h Harness, _ *Options) {
	s := taskStore(t, h)
	for i := range 5 {
		mustCreateTask(t, s, newTask(fmt.Sprint("act-", i), fmt.Sprint("scope-", i%2), time.Hour))
	}
	done, _ := s.GetTask(t.Context(), "act-1")
	done.Active = false
	if _, err := s.UpdateTask(t.Context(), done); err != nil {
		t.Fatal(err)
	}
	got := listTasksAll(t, func(c string) ([]store.TaskRecord, string, error) { return s.ActiveTasks(t.Context(), c, 2) })
	if fmt.Sprint(got) != "[act-0 act-2 act-3 act-4]" {
		t.Fatalf("active: %v", got)
	}
}

func testTaskExpiry(t *testing.T, h Harness, _ *Options) {
	s := taskStore(t, h)
	rec := newTask("short", "s", 400*time.Millisecond)
	mustCreateTask(t, s, rec)
	mustCreateTask(t, s, newTask("long", "s", time.Hour))
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := s.GetTask(t.Context(), "short")
		now := time.Now()
		if errors.Is(err, store.ErrNotFound) {
			if now.Before(rec.Expires) {
				t.Fatalf("task gone at %v, before its expiry %v", now, rec.Expires)
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if now.After(deadline) {
			t.Fatal("task did not expire")
		}
		time.Sleep(20 * time.Millisecond)
	}
	for name, page := range map[string]func(string) ([]store.TaskRecord, string, error){
		"ListTasks":   func(c string) ([]store.TaskRecord, string, error) { return s.ListTasks(t.Context(), "s", c, 10) },
		"ActiveTasks": func(c string) ([]store.TaskRecord, string, error) { return s.ActiveTasks(t.Context(), c, 10) },
	} {
		if got := listTasksAll(t, page); fmt.Sprint(got) != "[long]" {
			t.Fatalf("%s after expiry: %v", name, got)
		}
	}
	if _, err := s.UpdateTask(t.Context(), store.TaskRecord{ID: "short", Version: 1, Expires: time.Now().Add(time.Hour)}); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("UpdateTask of an expired task = %v, want ErrNotFound", err)
	}
	// The id is free again.
	mustCreateTask(t, s, newTask("short", "s", time.Hour))
}

func testTaskDelete(t *testing.T, h Harness, _ *Options) {
	s := taskStore(t, h)
	mustCreateTask(t, s, newTask("del", "s", time.Hour))
	for range 2 { // deleting a missing task is no error
		if err := s.DeleteTask(t.Context(), "del"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.GetTask(t.Context(), "del"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("GetTask after delete = %v", err)
	}
	if recs, _, _ := s.ListTasks(t.Context(), "s", "", 10); len(recs) != 0 {
		t.Fatalf("listed after delete: %v", recs)
	}
	if recs, _, _ := s.ActiveTasks(t.Context(), "", 10); len(recs) != 0 {
		t.Fatalf("active after delete: %v", recs)
	}
	if got := mustCreateTask(t, s, newTask("del", "s", time.Hour)); got.Version != 1 {
		t.Fatalf("recreated at version %d", got.Version)
	}
}

func testTaskReopen(t *testing.T, h Harness, opts *Options) {
	if opts.Reopen == nil {
		t.Skip("the store does not persist")
	}
	s := taskStore(t, h)
	v1 := mustCreateTask(t, s, newTask("keep", "s", time.Hour))
	upd := v1
	upd.Data = []byte("v2")
	v2, err := s.UpdateTask(t.Context(), upd)
	if err != nil {
		t.Fatal(err)
	}
	mustCreateTask(t, s, newTask("other", "s", time.Hour))
	r := opts.Reopen(t, s.(store.Store)).(store.TaskStore)
	got, err := r.GetTask(t.Context(), "keep")
	if err != nil {
		t.Fatal(err)
	}
	sameTask(t, got, v2)
	if ids := listTasksAll(t, func(c string) ([]store.TaskRecord, string, error) { return r.ActiveTasks(t.Context(), c, 10) }); fmt.Sprint(ids) != "[keep other]" {
		t.Fatalf("active after reopen: %v", ids)
	}
	upd = v1
	if _, err := r.UpdateTask(t.Context(), upd); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("version lost on reopen: %v", err)
	}
}
