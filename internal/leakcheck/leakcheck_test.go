package leakcheck_test

import (
	"strings"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/internal/leakcheck"
)

// parked blocks until release is closed; its name is the marker.
func parked(started chan<- struct{}, release <-chan struct{}, done chan<- struct{}) {
	close(started)
	<-release
	close(done)
}

func TestLeftover(t *testing.T) {
	started, release, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go parked(started, release, done)
	<-started
	got := leakcheck.Leftover(100*time.Millisecond, "leakcheck_test.parked")
	if !strings.Contains(got, "leakcheck_test.parked") {
		t.Fatalf("a running goroutine is not reported; got %q", got)
	}
	if n := strings.Count("\n"+got, "\ngoroutine "); n != 1 || strings.Contains(got, "[running]") {
		t.Errorf("goroutines without the marker are reported too:\n%s", got)
	}
	close(release)
	<-done
	// The goroutine is ending: Leftover waits for it.
	if got := leakcheck.Leftover(10*time.Second, "leakcheck_test.parked"); got != "" {
		t.Errorf("an ended goroutine is reported:\n%s", got)
	}
}
