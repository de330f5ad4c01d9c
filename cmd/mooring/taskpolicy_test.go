package main

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/tasks/protocol"
)

// The task settings reach each mount's policy: an mcpServers entry's
// "tasks" object, the --task-* flags for the one server, the built-in
// server's own declarations under the flags.
func TestTaskPolicy_Config(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := writeConfig(t, map[string]any{"mcpServers": map[string]any{
		"a": map[string]any{"url": "http://127.0.0.1:1/mcp", "tasks": map[string]any{
			"tools": map[string]any{"report_*": "optional", "export": "required"}, "after": "2s", "retryable": []string{"export"},
		}},
		"b": map[string]any{"url": "http://127.0.0.1:1/mcp"},
	}})
	c, err := parseServe([]string{"--store", "memory", "--config", cfg}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := c.mounts(log)
	if err != nil {
		t.Fatal(err)
	}
	a, b := ms[0].tasks, ms[1].tasks
	if a.Support("report_x", "") != protocol.Optional || a.Support("export", "") != protocol.Required || a.Support("other", "") != protocol.Forbidden {
		t.Errorf("server a: %+v", a)
	}
	if a.After != 2*time.Second || !a.Retry("export", false) || a.Retry("report_x", false) {
		t.Errorf("server a: after %v, retryable %v", a.After, a.Retryable)
	}
	if b.Support("report_x", "") != protocol.Forbidden || b.Support("x", protocol.Optional) != protocol.Optional {
		t.Errorf("server b (nothing configured): %+v", b)
	}

	c, err = parseServe([]string{"--store", "memory", "--task-tools", "slow_count,greet=required", "--task-retryable", "slow_*", "--task-after", "0s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if ms, err = c.mounts(log); err != nil {
		t.Fatal(err)
	}
	p := ms[0].tasks
	if p.Support("slow_count", "") != protocol.Optional || p.Support("greet", "") != protocol.Required || p.Support("failing_job", "") != protocol.Required {
		t.Errorf("built-in with flags: %+v", p.Tools)
	}
	if p.After >= 0 || !p.Retry("slow_compute", false) {
		t.Errorf("built-in with flags: after %v retryable %v", p.After, p.Retryable)
	}

	bad := writeConfig(t, map[string]any{"mcpServers": map[string]any{"a": map[string]any{"url": "http://127.0.0.1:1/mcp", "tasks": map[string]any{"tools": map[string]any{"x": "sometimes"}}}}})
	if c, err = parseServe([]string{"--store", "memory", "--config", bad}, io.Discard); err == nil {
		_, err = c.mounts(log)
	}
	if err == nil || !strings.Contains(err.Error(), "sometimes") {
		t.Errorf("bad task support: err = %v", err)
	}
}
