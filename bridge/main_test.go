package bridge

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails the package when a goroutine of the bridge outlives the
// tests: every one has an owner and a way out.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := leftover(10 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines of the bridge left running:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

func leftover(wait time.Duration) string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "mooring/bridge.(*Bridge)") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
