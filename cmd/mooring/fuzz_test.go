package main

import (
	"io"
	"os"
	"path/filepath"
	"testing"
)

// FuzzConfigFile: serve reads a JSON config file with flag values and an
// mcpServers object (written by hand, or by another tool). Any file is
// taken or refused with an error; a config that is taken has passed
// validation, and each of its servers is a stdio program or an HTTP URL.
func FuzzConfigFile(f *testing.F) {
	for _, s := range []string{
		`{"addr":"127.0.0.1:0","store":"memory","session-ttl":60,"max-events":10}`,
		`{"store":"memory","mcpServers":{"a":{"command":"mooring","args":["stdio-builtin"]},"b":{"url":"http://127.0.0.1:1/mcp"}}}`,
		`{"store":"memory","mcpServers":{"a":{"type":"http","url":"http://127.0.0.1:1/mcp","headers":{"X":"y"}}}}`,
		`{"store":"memory","mcpServers":{"":{"command":"x"}}}`,
		`{"store":"memory","mcpServers":{"a":{"command":"x","url":"http://127.0.0.1:1"}}}`,
		`{"store":"memory","mcpServers":[]}`,
		`{"store":"memory","mcpServers":{"a":{"command":"x","bogus":1}}}`,
		`{"session-ttl":1e400}`, `{"session-ttl":-1}`, `{"max-event-bytes":"x"}`, `{"heartbeat":"1h"}`,
		`{"config":"other.json"}`, `{"no-such-flag":1}`, `{"store":null}`, `[]`, `null`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "mooring.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := parseServe([]string{"--config", path}, io.Discard)
		if err != nil {
			return
		}
		for name, sc := range c.Servers {
			if err := sc.check(name); err != nil {
				t.Fatalf("config %q taken with server %q that fails its check: %v", data, name, err)
			}
		}
	})
}
