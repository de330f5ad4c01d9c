package protocol

import (
	"fmt"
	"path"
	"time"
)

// Task support of a tool, as execution.taskSupport spells it.
const (
	Forbidden = "forbidden"
	Optional  = "optional"
	Required  = "required"
)

// DefaultAfter is how long a 2026-07-28 call to a task-supporting tool
// runs before it becomes a task: a call answered sooner (a result, or a
// first round of input requests) is answered directly, as a plain call.
const DefaultAfter = 250 * time.Millisecond

// Policy says which tools of one server support tasks, when a call becomes
// one, and which may run again after the process running them died. The
// zero Policy: only what the backend declares.
type Policy struct {
	// Tools maps tool names or path.Match globs ("report_*", "*") to
	// Optional or Required: for a backend that declares nothing itself
	// (go-sdk servers cannot; stdio and HTTP servers may, in tools/list).
	// A backend's own declaration wins.
	Tools map[string]string
	// After (2026-07-28) is how long a call of a task-supporting tool runs
	// before it becomes a task; 0 means DefaultAfter, negative: at once
	// (a first round of input requests then happens inside the task).
	After time.Duration
	// Retryable lists tool names or globs that are safe to run again (as
	// annotations.idempotentHint says of a tool): a task of theirs whose
	// process died runs again instead of failing.
	Retryable []string
}

// Check validates the policy's patterns and values.
func (p *Policy) Check() error {
	if p == nil {
		return nil
	}
	for pat, s := range p.Tools {
		if _, err := path.Match(pat, ""); err != nil {
			return fmt.Errorf("task tools: bad pattern %q: %w", pat, err)
		}
		if s != Optional && s != Required {
			return fmt.Errorf("task tools: %q: task support %q, want %q or %q", pat, s, Optional, Required)
		}
	}
	for _, pat := range p.Retryable {
		if _, err := path.Match(pat, ""); err != nil {
			return fmt.Errorf("retryable tools: bad pattern %q: %w", pat, err)
		}
	}
	return nil
}

// Support returns the task support of tool: declared (the backend's
// execution.taskSupport, "" if none), else the policy's, else Forbidden.
// An exact name in Tools wins over a glob.
func (p *Policy) Support(tool, declared string) string {
	switch declared {
	case Optional, Required, Forbidden:
		return declared
	}
	if p == nil {
		return Forbidden
	}
	if s, ok := p.Tools[tool]; ok {
		return s
	}
	best := ""
	for pat, s := range p.Tools {
		if ok, _ := path.Match(pat, tool); ok && (best == "" || s == Required) {
			best = s
		}
	}
	if best == "" {
		return Forbidden
	}
	return best
}

// Retry reports whether a task of tool may run again: idempotent is the
// tool's annotations.idempotentHint, if the backend said.
func (p *Policy) Retry(tool string, idempotent bool) bool {
	if idempotent {
		return true
	}
	if p == nil {
		return false
	}
	for _, pat := range p.Retryable {
		if ok, _ := path.Match(pat, tool); ok {
			return true
		}
	}
	return false
}

// after is the window of a 2026-07-28 call: 0 for at once.
func (p *Policy) after() time.Duration {
	switch {
	case p == nil || p.After == 0:
		return DefaultAfter
	case p.After < 0:
		return 0
	}
	return p.After
}
