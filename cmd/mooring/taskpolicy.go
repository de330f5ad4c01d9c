package main

import (
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/mooring-dev/mooring/tasks/protocol"
)

// taskPolicyFlags say which tools of the one server behind mooring (the
// built-in one, --command or --upstream) support tasks; an mcpServers
// entry says it in its "tasks" object (serverTasks).
type taskPolicyFlags struct {
	TaskTools     string
	TaskAfter     time.Duration
	TaskRetryable string
}

func (c *config) taskPolicyFlagSet(fs *flagSet) {
	fs.str(&c.TaskTools, "task-tools", "MOORING_TASK_TOOLS", "",
		"tools of the server that support tasks, where it does not declare execution.taskSupport itself: names or globs, comma-separated, each optionally =required (default optional)")
	fs.duration(&c.TaskAfter, "task-after", "MOORING_TASK_AFTER", protocol.DefaultAfter,
		"2026-07-28: a call of a task-supporting tool still running after this becomes a task (a quicker answer is returned directly); 0 or negative: every such call is a task at once")
	fs.str(&c.TaskRetryable, "task-retryable", "MOORING_TASK_RETRYABLE", "",
		"tools whose tasks may run again after the process running them died (besides those annotated idempotentHint): names or globs, comma-separated")
}

// serverTasks is the "tasks" object of an mcpServers entry.
type serverTasks struct {
	// Tools maps tool names or globs to "optional" or "required".
	Tools map[string]string `json:"tools,omitempty"`
	// After is a duration ("500ms", "2s"); "0s" makes calls tasks at once.
	After string `json:"after,omitempty"`
	// Retryable lists tool names or globs safe to run again.
	Retryable []string `json:"retryable,omitempty"`
}

func (st *serverTasks) policy() (*protocol.Policy, error) {
	p := &protocol.Policy{}
	if st == nil {
		return p, nil
	}
	p.Tools, p.Retryable = maps.Clone(st.Tools), st.Retryable
	if st.After != "" {
		d, err := time.ParseDuration(st.After)
		if err != nil {
			return nil, fmt.Errorf("tasks.after %q: %w", st.After, err)
		}
		p.After = after(d)
	}
	return p, p.Check()
}

// after maps a configured window to Policy.After: 0 means at once there.
func after(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// flagPolicy is the policy of the one server, from the flags, on top of
// base (what the built-in server declares).
func (c *config) flagPolicy(base map[string]string) (*protocol.Policy, error) {
	p := &protocol.Policy{Tools: maps.Clone(base), After: after(c.TaskAfter)}
	if p.Tools == nil {
		p.Tools = map[string]string{}
	}
	for _, item := range splitList(c.TaskTools) {
		name, support, ok := strings.Cut(item, "=")
		if !ok {
			support = protocol.Optional
		}
		p.Tools[strings.TrimSpace(name)] = strings.TrimSpace(support)
	}
	p.Retryable = splitList(c.TaskRetryable)
	if err := p.Check(); err != nil {
		return nil, fmt.Errorf("--task-tools/--task-retryable: %w", err)
	}
	return p, nil
}
