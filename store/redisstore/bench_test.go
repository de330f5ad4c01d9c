package redisstore_test

import (
	"fmt"
	"sync/atomic"

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

// BenchmarkAppendFewSessions appends from 8 callers per CPU to 4 sessions:
// many requests of one session at once, where a batch does the session's
// work (seq, caps, TTL) once for several events. It reports events/s.
func BenchmarkAppendFewSessions(b *testing.B) {
	srv := redistest.Start(b)
	s := open(b, srv.URL(), store.Limits{})
	data := make([]byte, 150)
	var workers atomic.Int64
	b.SetParallelism(8)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		w := workers.Add(1)
		session, stream := fmt.Sprintf("few-%d", w%4), fmt.Sprintf("w%d", w)
		for pb.Next() {
			if _, err := s.Append(b.Context(), session, stream, data); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAppendSerial is a lone appender: one Append at a time, so
// ns/op is its latency, which batching must not raise.
func BenchmarkAppendSerial(b *testing.B) {
	srv := redistest.Start(b)
	s := open(b, srv.URL(), store.Limits{})
	data := make([]byte, 150)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Append(b.Context(), "serial", "s", data); err != nil {
			b.Fatal(err)
		}
	}
}
