package bridge

import (
	"testing"
	"time"

	"github.com/mooring-dev/mooring/internal/leakcheck"
)

// TestMain fails the package when a goroutine of the bridge outlives the
// tests: every one has an owner and a way out.
func TestMain(m *testing.M) {
	leakcheck.Main(m, "the bridge", 10*time.Second, "mooring/bridge.(*Bridge)")
}
