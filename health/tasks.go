package health

import (
	"context"
	"time"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/tasks"
	"github.com/mooring-dev/mooring/tasks/protocol"
)

// maxReportTasks bounds the tasks a report lists.
const maxReportTasks = 20

// TaskInfo is one of the caller's tasks in a report.
type TaskInfo struct {
	ID            string    `json:"taskId"`
	Status        string    `json:"status"`
	Tool          string    `json:"tool,omitempty"`
	StatusMessage string    `json:"statusMessage,omitempty"`
	CreatedAt     time.Time `json:"createdAt"`
}

// taskReport lists the caller's tasks: its session's (2025-11-25), or
// its principal's (2026-07-28, with authentication). Without either there
// is no caller to list for.
func (c *Checker) taskReport(ctx context.Context, s *session.Session, r *Report) {
	if c.opts.Tasks == nil {
		return
	}
	var scope string
	if s != nil {
		scope = protocol.SessionScope(s.ID())
	} else if ti := sdkauth.TokenInfoFromContext(ctx); ti != nil && ti.UserID != "" {
		scope = protocol.PrincipalScope(ti.UserID)
	} else {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	list, err := c.opts.Tasks(ctx, scope, maxReportTasks)
	if err != nil {
		r.Warnings = append(r.Warnings, "listing your tasks: "+err.Error())
		return
	}
	r.Tasks = []TaskInfo{}
	for _, t := range list {
		r.Tasks = append(r.Tasks, TaskInfo{ID: t.ID, Status: string(t.Status), Tool: t.Tool, StatusMessage: t.StatusMessage, CreatedAt: t.CreatedAt})
	}
}

// TaskLister lists up to limit tasks of a scope: a tasks.Manager's List.
type TaskLister func(ctx context.Context, scope string, limit int) ([]*tasks.Task, error)
