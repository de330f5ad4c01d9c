package session

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// LocalTool is a tool that mooring answers itself, whatever the backend: it
// is added to the backend's tools/list and its calls never reach the backend.
type LocalTool struct {
	Tool *mcp.Tool
	// Handle answers a call. It runs with its own deadline, not the HTTP
	// request's.
	Handle func(ctx context.Context, s *Session, args json.RawMessage) (*mcp.CallToolResult, error)
}

// localTool returns the local tool that a tools/call names, if any.
func (m *Manager) localTool(req *jsonrpc.Request) *LocalTool {
	if len(m.localTools) == 0 || req.Method != "tools/call" {
		return nil
	}
	// Every tools/call passes here: decode only when a local tool's name
	// is in the params at all.
	named := false
	for i := range m.localTools {
		if bytes.Contains(req.Params, []byte(m.localTools[i].Tool.Name)) {
			named = true
		}
	}
	if !named {
		return nil
	}
	var p struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(req.Params, &p) != nil {
		return nil
	}
	for i := range m.localTools {
		if m.localTools[i].Tool.Name == p.Name {
			return &m.localTools[i]
		}
	}
	return nil
}

// answerLocal runs a local tool and routes its result like a backend
// response.
func (s *Session) answerLocal(req *jsonrpc.Request, lt *LocalTool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var args struct {
		Arguments json.RawMessage `json:"arguments"`
	}
	_ = json.Unmarshal(req.Params, &args)
	resp := &jsonrpc.Response{ID: req.ID}
	res, err := lt.Handle(ctx, s, args.Arguments)
	if err == nil {
		resp.Result, err = json.Marshal(res)
	}
	if err != nil {
		resp.Result = nil
		resp.Error = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf("%s: %v", lt.Tool.Name, err)}
	}
	if err := s.response(ctx, resp); err != nil {
		s.m.log.Error("answering local tool", "session", s.id, "tool", lt.Tool.Name, "err", err)
	}
}

// withLocalTools adds the local tools to the first page of a tools/list
// result. Later pages (a cursor in the request) are left alone.
func (m *Manager) withLocalTools(params, result json.RawMessage) json.RawMessage {
	if len(m.localTools) == 0 || bytes.Contains(params, []byte(`"cursor"`)) {
		return result
	}
	var res map[string]json.RawMessage
	if json.Unmarshal(result, &res) != nil {
		return result
	}
	var tools []json.RawMessage
	if raw, ok := res["tools"]; ok && json.Unmarshal(raw, &tools) != nil {
		return result
	}
	for _, lt := range m.localTools {
		b, err := json.Marshal(lt.Tool)
		if err != nil {
			continue
		}
		tools = append(tools, b)
	}
	var err error
	if res["tools"], err = json.Marshal(tools); err != nil {
		return result
	}
	out, err := json.Marshal(res)
	if err != nil {
		return result
	}
	return out
}
