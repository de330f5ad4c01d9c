package redisstore_test

import (
	"context"
	"sync"
	"testing"

	"github.com/mooring-dev/mooring/internal/redistest"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/redisstore"
	"github.com/mooring-dev/mooring/store/storetest"
)

// harness gives every subtest a store of its own on one shared server: a
// key prefix made from the subtest's name keeps their keys, and their
// session indexes, apart.
type harness struct {
	url string

	mu   sync.Mutex // guards opts
	opts map[*redisstore.Store]redisstore.Options
}

func newHarness(url string) *harness {
	return &harness{url: url, opts: make(map[*redisstore.Store]redisstore.Options)}
}

func (h *harness) open(t *testing.T, o redisstore.Options) *redisstore.Store {
	t.Helper()
	s, err := redisstore.Open(context.Background(), &o)
	if err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	h.opts[s] = o
	h.mu.Unlock()
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// store is the storetest.Harness.
func (h *harness) store(t *testing.T, limits store.Limits) store.Store {
	return h.open(t, redisstore.Options{URL: h.url, Limits: limits, KeyPrefix: uniquePrefix(t)})
}

// reopen is what a restart of mooring does: a new client with the same
// options over the same server.
func (h *harness) reopen(t *testing.T, old store.Store) store.Store {
	h.mu.Lock()
	o := h.opts[old.(*redisstore.Store)]
	h.mu.Unlock()
	_ = old.Close()
	return h.open(t, o)
}

func TestConformance_Standalone(t *testing.T) {
	h := newHarness(redistest.Start(t).URL())
	storetest.Run(t, h.store, &storetest.Options{Reopen: h.reopen})
}

func TestConformance_Cluster(t *testing.T) {
	h := newHarness(redistest.StartCluster(t, 3).URL())
	storetest.Run(t, h.store, &storetest.Options{Reopen: h.reopen})
}
