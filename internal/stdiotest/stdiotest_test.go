package stdiotest

import (
	"io"
	"sync"
	"testing"
	"time"
)

// Every goroutine waiting for a message is woken by it, not just one.
func TestWait_Concurrent(t *testing.T) {
	outR, outW := io.Pipe()
	c := New(t, "the program", io.Discard, outR)
	defer func() { outW.Close(); <-c.Done() }()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() { c.Answer(1, 10*time.Second) })
	}
	time.Sleep(100 * time.Millisecond) // the waiters block
	if _, err := io.WriteString(outW, `{"jsonrpc":"2.0","id":1,"result":{}}`+"\n"); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}

// A Wait whose message can no longer come (the output ended) fails at
// once instead of at its deadline.
func TestWait_OutputEnded(t *testing.T) {
	outR, outW := io.Pipe()
	ft := &fakeT{TB: t}
	c := New(ft, "the program", io.Discard, outR)
	outW.Close()
	<-c.Done()
	begin := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { _ = recover() }() // fakeT's Fatalf ends the goroutine
		c.Answer(1, time.Minute)
	}()
	<-done
	if ft.fatal == "" || time.Since(begin) > 30*time.Second {
		t.Fatalf("Answer after the output ended: %q after %v", ft.fatal, time.Since(begin))
	}
}

// fakeT records a Fatalf and panics to end the goroutine, as FailNow ends
// a test's.
type fakeT struct {
	testing.TB
	fatal string
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.fatal = format
	panic("fatal")
}
