package tasks_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mooring-dev/mooring/internal/redistest"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/boltstore"
	"github.com/mooring-dev/mooring/store/redisstore"
)

func openBolt(t testing.TB, path string) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openRedis(t testing.TB, url, prefix string) *redisstore.Store {
	t.Helper()
	s, err := redisstore.Open(context.Background(), &redisstore.Options{URL: url, KeyPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestDeadRunner_Bolt(t *testing.T) {
	DeadRunnerSuite(t, func(t *testing.T) func() store.TaskStore {
		st := openBolt(t, filepath.Join(t.TempDir(), "m.db"))
		return func() store.TaskStore { return st }
	})
}

// On Redis each Manager has its own client, as two replicas would.
func TestDeadRunner_Redis(t *testing.T) {
	url := redistest.Start(t).URL()
	DeadRunnerSuite(t, func(t *testing.T) func() store.TaskStore {
		prefix := strings.ReplaceAll(t.Name(), "/", ":") + ":"
		return func() store.TaskStore { return openRedis(t, url, prefix) }
	})
}
