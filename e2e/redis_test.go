package e2e

import (
	"testing"

	"github.com/mooring-dev/mooring/internal/redistest"
)

// redisArgs starts a real redis-server for the test and returns mooring's
// flags for it. No fallback: a test on Redis must run on Redis.
func redisArgs(t *testing.T) []string {
	srv := redistest.Start(t)
	return []string{"--store", "redis", "--redis-url", srv.URL(), "--store-fallback", "fail"}
}
