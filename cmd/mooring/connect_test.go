package main

import (
	"strings"
	"testing"
)

func TestConnect_BadArguments(t *testing.T) {
	for _, args := range [][]string{
		{"connect"},
		{"connect", "ftp://host/mcp"},
		{"connect", "--protocol", "2024-01-01", "http://127.0.0.1:1/mcp"},
		{"connect", "--header", "no colon", "http://127.0.0.1:1/mcp"},
		{"connect", "--log-level", "loud", "http://127.0.0.1:1/mcp"},
	} {
		if code, out := cli(t, args...); code != 2 {
			t.Errorf("%s: exit %d, want 2\n%s", strings.Join(args, " "), code, out)
		}
	}
}
