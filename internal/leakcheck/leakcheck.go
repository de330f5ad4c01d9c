// Package leakcheck fails a test binary whose goroutines outlive its
// tests: every goroutine of mooring has an owner and a way out, so once
// every test has closed what it opened, none of the package's goroutines
// may still run.
//
// A package names its goroutines by markers, strings that their stacks
// contain (a function or type name, "mooring/bridge.(*Bridge)"), and calls
// Main from its TestMain. Goroutines that are ending are given a moment:
// the check polls until none is left or wait has passed.
package leakcheck

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Main runs the tests and exits. If they passed but goroutines whose
// stacks contain one of markers still run after wait, it prints their
// stacks as goroutines of what and exits 1.
func Main(m *testing.M, what string, wait time.Duration, markers ...string) {
	code := m.Run()
	if code == 0 {
		if leaked := Leftover(wait, markers...); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines of %s left running after the tests:\n%s\n", what, leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// Leftover returns the stacks of the goroutines whose stacks contain one
// of markers, waiting up to wait for them to end; "" once there are none.
func Leftover(wait time.Duration, markers ...string) string {
	deadline := time.Now().Add(wait)
	for {
		buf := make([]byte, 1<<20)
		for {
			n := runtime.Stack(buf, true)
			if n < len(buf) {
				buf = buf[:n]
				break
			}
			buf = make([]byte, 2*len(buf))
		}
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			for _, mk := range markers {
				if strings.Contains(g, mk) {
					leaked = append(leaked, g)
					break
				}
			}
		}
		if len(leaked) == 0 || time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
