package tasks_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/internal/redistest"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/tasks"
)

// benchCreateWait measures the core's part of a task: Create (committed),
// a runner that returns at once, its outcome committed, and Wait seeing
// it, one task after another.
func benchCreateWait(b *testing.B, st store.TaskStore) {
	m := tasks.NewManager(st, &tasks.Options{SweepInterval: -1})
	defer m.Close()
	ctx := context.Background()
	run := func(context.Context, *tasks.Task) ([]byte, error) { return []byte(`{"content":[]}`), nil }
	b.ReportAllocs()
	for b.Loop() {
		tk, err := m.Create(ctx, &tasks.Task{Scope: "s", TTL: time.Minute}, run)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := m.Wait(ctx, tk.ID, "s"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCreateWait_Memory(b *testing.B) { benchCreateWait(b, memstore.New(nil)) }

func BenchmarkCreateWait_Bolt(b *testing.B) {
	benchCreateWait(b, openBolt(b, filepath.Join(b.TempDir(), "m.db")))
}

func BenchmarkCreateWait_Redis(b *testing.B) {
	benchCreateWait(b, openRedis(b, redistest.Start(b).URL(), "bench:"))
}
