package storetest

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/mooring-dev/mooring/store"
)

// benchPayload is the size of one benchmark event: a small JSON-RPC
// notification or response.
const benchPayload = 256

// BenchAppend measures Append from 16 goroutines per CPU, as a server with
// many active sessions makes them, spread over 64 sessions with one stream
// per goroutine, and reports events/s. s should use default limits, so
// that the caps trim in the steady state as in production.
func BenchAppend(b *testing.B, s store.Store) {
	const sessions = 64
	data := make([]byte, benchPayload)
	var workers atomic.Int64
	b.SetBytes(benchPayload)
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := workers.Add(1)
		stream := fmt.Sprintf("w%d", w)
		for i := w; pb.Next(); i++ {
			if _, err := s.Append(b.Context(), fmt.Sprintf("bench-%d", i%sessions), stream, data); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchReplay measures one After over a stream of n events.
func BenchReplay(b *testing.B, s store.Store, n int) {
	data := make([]byte, benchPayload)
	for range n {
		if _, err := s.Append(b.Context(), "replay", "s", data); err != nil {
			b.Fatal(err)
		}
	}
	after := store.EventID{Stream: "s"}
	for b.Loop() {
		evs, err := s.After(b.Context(), "replay", after)
		if err != nil || len(evs) != n {
			b.Fatalf("After = %d events, %v; want %d", len(evs), err, n)
		}
	}
	b.ReportMetric(float64(n), "events/op")
}
