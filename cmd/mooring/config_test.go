package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// The environment gives the defaults of serve's flags, a flag on the command
// line wins over it, and a value that does not parse is an error that names
// the variable.
func TestParseServe_Environment(t *testing.T) {
	t.Setenv("SESSION_TTL", "60")
	t.Setenv("MAX_EVENT_BYTES_PER_SESSION", "1024")
	t.Setenv("SESSION_COMPRESSION", "false")
	t.Setenv("MOORING_HEARTBEAT", "3s")
	t.Setenv("MOORING_PATH", "/env")
	c, err := parseServe([]string{"--path", "/flag"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.SessionTTL != 60 || c.MaxBytes != 1024 || c.Compression || c.Heartbeat != 3*time.Second || c.Path != "/flag" {
		t.Errorf("config %+v: want ttl 60, max bytes 1024, no compression, heartbeat 3s, path /flag", c)
	}
	for env, val := range map[string]string{
		"SESSION_TTL":                 "an hour",
		"MAX_EVENT_BYTES_PER_SESSION": "1k",
		"SESSION_COMPRESSION":         "maybe",
		"MOORING_HEARTBEAT":           "3",
	} {
		t.Run(env, func(t *testing.T) {
			t.Setenv(env, val)
			if _, err := parseServe(nil, io.Discard); err == nil || !strings.Contains(err.Error(), env) {
				t.Errorf("%s=%q: error %v, want one that names it", env, val, err)
			}
		})
	}
}

// A Redis URL that cannot parse stops serve at start, whatever
// --store-fallback says: the memory fallback is for an unreachable Redis,
// and no retry makes a malformed URL reachable.
func TestParseServe_BadRedisURL(t *testing.T) {
	for _, fb := range []string{"memory", "fail"} {
		_, err := parseServe([]string{"--store", "redis", "--redis-url", "http://127.0.0.1:6379", "--store-fallback", fb}, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--redis-url") {
			t.Errorf("--store-fallback %s: error %v, want one that names --redis-url", fb, err)
		}
	}
	if _, err := parseServe([]string{"--store", "redis", "--redis-url", "redis://127.0.0.1:1,127.0.0.1:2/0"}, io.Discard); err != nil {
		t.Errorf("a well-formed URL of an absent Redis: %v, want no error at parse time", err)
	}
}
