package redisstore_test

import (
	"testing"

	"github.com/mooring-dev/mooring/internal/redistest"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/storetest"
)

// BenchmarkAppend is the shared Append benchmark (64 sessions, default
// limits, so the caps trim in the steady state) with 8 callers per CPU: a
// replica appends for many requests at once, and rueidis pipelines their
// scripts on a few connections. It reports events/s.
func BenchmarkAppend(b *testing.B) {
	srv := redistest.Start(b)
	s := open(b, srv.URL(), store.Limits{})
	b.SetParallelism(8)
	b.ReportAllocs()
	storetest.BenchAppend(b, s)
}

// BenchmarkReplay1000 replays one stream of 1000 events: a client that
// reconnects with the oldest Last-Event-ID a full log still serves.
func BenchmarkReplay1000(b *testing.B) {
	srv := redistest.Start(b)
	s := open(b, srv.URL(), store.Limits{})
	b.ReportAllocs()
	storetest.BenchReplay(b, s, 1000)
}
