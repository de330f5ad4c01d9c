package health

import (
	"context"
	"encoding/json"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/session"
)

// ToolName is the MCP tool that reports health to any client.
const ToolName = "session_health_check"

// Tool returns the session_health_check tool, answered by mooring itself
// whatever the backend.
func (c *Checker) Tool() session.LocalTool {
	return session.LocalTool{
		Tool: &mcp.Tool{
			Name:        ToolName,
			Title:       "Session health check",
			Description: "Reports whether this MCP session is safe: overall status (healthy, degraded, unhealthy) and why, the session store and a live write-read-delete test of it, this session's age, streams and stored events, and what to do about any problem.",
			InputSchema: json.RawMessage(`{"type":"object","properties":{}}`),
		},
		Handle: func(ctx context.Context, s *session.Session, _ json.RawMessage) (*mcp.CallToolResult, error) {
			rep := c.Check(ctx, s)
			return &mcp.CallToolResult{
				Content:           []mcp.Content{&mcp.TextContent{Text: rep.Text()}},
				StructuredContent: rep,
			}, nil
		},
	}
}
