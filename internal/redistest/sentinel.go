package redistest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// StartSentinel starts a Sentinel (redis-server --sentinel) that monitors
// master under name, with a quorum of 1, and waits until it knows the
// master's address. It stops when the test ends.
func StartSentinel(tb testing.TB, master *Server, name string) *Server {
	tb.Helper()
	dir := tb.TempDir()
	// Sentinel rewrites its configuration file, so it must own one.
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("sentinel monitor %s 127.0.0.1 %d 1\n", name, master.Port())
	if master.config.password != "" {
		body += fmt.Sprintf("sentinel auth-pass %s %s\n", name, master.config.password)
	}
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	s := Start(tb, Dir(dir), sentinelConf(conf))
	deadline := time.Now().Add(startTimeout)
	for {
		addr, err := s.Command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
		if err == nil && strings.Contains(addr, fmt.Sprint(master.Port())) {
			return s
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redistest: sentinel does not know master %s: %q, %v", name, addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sentinelConf(path string) Option { return func(c *config) { c.sentinelConf = path } }
