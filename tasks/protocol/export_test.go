package protocol

import (
	"testing"
	"time"
)

// SetListenPoll sets how often listen streams re-read their tasks, until
// the end of t.
func SetListenPoll(t *testing.T, d time.Duration) {
	old := listenPoll
	listenPoll = d
	t.Cleanup(func() { listenPoll = old })
}
