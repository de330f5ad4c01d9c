package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/internal/redistest"
)

// The count behind --max-stored-sessions is bounded in time on Redis in
// both --store-fallback modes: the session manager counts under a lock at
// each initialize, so a count that waited on a hung Redis would hold every
// new session. With --store-fallback fail it went to Redis unbounded: it
// waited out the whole pause below, then succeeded.
func TestOpenedStore_CountIsBoundedOnRedis(t *testing.T) {
	r := redistest.Start(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	modes := []string{"fail", "memory"}
	opened := make([]*openedStore, len(modes))
	for i, fb := range modes {
		c := &config{Store: "redis", RedisURL: r.URL(), StoreFallback: fb, SessionTTL: 60, MaxEvents: 10, MaxBytes: 1 << 20}
		o, err := openStore(context.Background(), c, log, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		opened[i] = o
		// The memory mode connects in the background: wait for a count.
		deadline := time.Now().Add(30 * time.Second)
		for {
			_, err := o.CountSessions(context.Background())
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no count from a healthy Redis: %v", fb, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Redis keeps its connections but answers no command for 8 s (4 times
	// the store's bound); CLIENT PAUSE cannot be lifted early from a new
	// connection, which is paused too.
	if _, err := r.Command("CLIENT", "PAUSE", "8000", "ALL"); err != nil {
		t.Fatal(err)
	}
	errs := make([]error, len(modes))
	var wg sync.WaitGroup
	for i, o := range opened {
		wg.Go(func() { _, errs[i] = o.CountSessions(context.Background()) })
	}
	wg.Wait()
	for i, fb := range modes {
		if errs[i] == nil {
			t.Errorf("--store-fallback %s: the count with Redis paused waited out the pause and succeeded; want an error once the store's bound (2 s) ran out", fb)
		}
	}
	// Let the pause end before the stores close (they flush to Redis).
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := r.Command("PING"); err == nil || time.Now().After(deadline) {
			break
		}
	}
}
