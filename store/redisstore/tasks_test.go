package redisstore_test

import (
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/mooring-dev/mooring/internal/redistest"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/redisstore"
)

// The records of expired tasks go with Redis' own expiry; their index
// entries go with SweepTasks, and only theirs.
func TestSweepTasks_DropsIndexEntriesOfExpiredTasks(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv.URL(), store.Limits{})
	ctx := t.Context()
	for id, ttl := range map[string]time.Duration{"short": 200 * time.Millisecond, "long": time.Hour} {
		rec := store.TaskRecord{ID: id, Scope: "sc", Active: true, Expires: time.Now().Add(ttl), Data: []byte("x")}
		if _, err := s.CreateTask(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	count := func() int64 {
		var n int64
		for _, k := range []string{"ids", "scope", "active", "exp"} {
			v, err := c.Do(ctx, c.B().Zcard().Key(redisstore.DefaultKeyPrefix+"{tasks}:"+k).Build()).AsInt64()
			if err != nil {
				t.Fatal(err)
			}
			n += v
		}
		return n
	}
	if n := count(); n != 8 {
		t.Fatalf("%d index entries, want 8", n)
	}
	if removed, err := s.SweepTasks(ctx); err != nil || removed != 0 {
		t.Fatalf("early sweep removed %d, %v", removed, err)
	}
	time.Sleep(300 * time.Millisecond)
	if removed, err := s.SweepTasks(ctx); err != nil || removed != 1 {
		t.Fatalf("sweep removed %d, %v; want 1", removed, err)
	}
	if n := count(); n != 4 {
		t.Fatalf("%d index entries after the sweep, want the 4 of the live task", n)
	}
}
