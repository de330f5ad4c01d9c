// Package echo holds the benchmark's MCP servers: the go-sdk mcp.Server with
// an `echo` tool (the way a Go user writes a server) and a raw backend that
// answers mooring directly, without go-sdk's server, so that a benchmark of
// mooring in front of it measures mooring's own cost.
package echo

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/backend"
)

// Args are the arguments of the echo tool.
type Args struct {
	Text string `json:"text" jsonschema:"the text to send back"`
}

// BurstArgs are the arguments of the burst tool.
type BurstArgs struct {
	Count int `json:"count" jsonschema:"number of progress notifications to send before the result"`
}

// NewServer returns a go-sdk server with the tools `echo` {text}, which
// returns its text, and `burst` {count}, which sends count progress
// notifications (when the request has a progress token) and then returns;
// the replay benchmark uses it to fill a stream.
func NewServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "bench-echo", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "returns its text"},
		func(ctx context.Context, req *mcp.CallToolRequest, a Args) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: a.Text}}}, nil, nil
		})
	mcp.AddTool(s, &mcp.Tool{Name: "burst", Description: "sends count progress notifications"},
		func(ctx context.Context, req *mcp.CallToolRequest, a BurstArgs) (*mcp.CallToolResult, any, error) {
			if tok := req.Params.GetProgressToken(); tok != nil {
				for i := 0; i < a.Count; i++ {
					err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
						ProgressToken: tok, Progress: float64(i + 1), Total: float64(a.Count),
						Message: "burst progress notification with a little text in it",
					})
					if err != nil {
						return nil, nil, err
					}
				}
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
		})
	return s
}

// Raw is a backend.Opener whose connections answer initialize, ping,
// tools/list and tools/call of `echo` themselves, synchronously, from inside
// Send: no go-sdk server, no goroutine, no JSON beyond the tool's arguments.
type Raw struct{}

// Open implements backend.Opener.
func (Raw) Open(ctx context.Context, sessionID string, h backend.Handler) (backend.Conn, error) {
	return &rawConn{h: h}, nil
}

type rawConn struct {
	h      backend.Handler
	mu     sync.Mutex
	closed bool
}

var (
	toolsList = json.RawMessage(`{"tools":[{"name":"echo","description":"returns its text","inputSchema":{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]}}]}`)
	empty     = json.RawMessage(`{}`)
)

func (c *rawConn) Send(ctx context.Context, msg jsonrpc.Message) error {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return backend.ErrClosed
	}
	req, ok := msg.(*jsonrpc.Request)
	if !ok || !req.IsCall() {
		return nil // notifications and replies: nothing to do
	}
	resp := &jsonrpc.Response{ID: req.ID}
	switch req.Method {
	case "initialize":
		var p struct {
			ProtocolVersion string `json:"protocolVersion"`
		}
		_ = json.Unmarshal(req.Params, &p)
		if p.ProtocolVersion == "" {
			p.ProtocolVersion = "2025-11-25"
		}
		resp.Result, _ = json.Marshal(map[string]any{
			"protocolVersion": p.ProtocolVersion,
			"capabilities":    map[string]any{"tools": map[string]any{}},
			"serverInfo":      map[string]any{"name": "bench-raw", "version": "1.0.0"},
		})
	case "ping", "logging/setLevel":
		resp.Result = empty
	case "tools/list":
		resp.Result = toolsList
	case "tools/call":
		var p struct {
			Name      string `json:"name"`
			Arguments Args   `json:"arguments"`
		}
		if err := json.Unmarshal(req.Params, &p); err != nil || p.Name != "echo" {
			resp.Error = &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "unknown tool"}
			break
		}
		text, _ := json.Marshal(p.Arguments.Text)
		b := make([]byte, 0, len(text)+48)
		b = append(b, `{"content":[{"type":"text","text":`...)
		b = append(b, text...)
		b = append(b, `}]}`...)
		resp.Result = b
	default:
		resp.Error = &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: "method not found: " + req.Method}
	}
	return c.h(ctx, resp)
}

func (c *rawConn) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return nil
}
