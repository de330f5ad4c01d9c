package builtin

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The fixtures of the tasks scenarios (tasks-*) of the conformance suite
// (0.2.0-alpha): plain tools, as any backend has them. mooring's gateway
// turns their calls into durable tasks (package tasks/protocol); the tools
// know nothing of tasks. Which of them support tasks is TaskSupport, which
// go-sdk's Tool cannot carry.

// Timings of the task fixtures. The tools that must become tasks take
// longer than the gateway's task window (a call answered sooner is answered
// directly) before they answer or ask for input; test_tool_with_task asks
// at once, as its first round must be answered directly.
const (
	failingJobDelay    = time.Second
	protocolErrorDelay = 500 * time.Millisecond
	inputDelay         = 500 * time.Millisecond
	slowComputeMax     = 3600 // seconds
)

// TaskSupport is the execution.taskSupport of the built-in tools that
// support tasks ("optional" or "required"); a tool not listed runs
// synchronously only.
func TaskSupport() map[string]string {
	return map[string]string{
		"slow_compute":        "optional",
		"failing_job":         "required",
		"protocol_error_job":  "optional",
		"confirm_delete":      "optional",
		"multi_input":         "optional",
		"test_tool_with_task": "required",
	}
}

func (b *server) addTaskTools() {
	s := b.mcp
	s.AddTool(&mcp.Tool{
		Name:        "greet",
		Description: "Greets name: \"Hello, {name}!\". Always answers directly (never a task).",
		InputSchema: stringArgs("name"),
	}, b.greet)
	s.AddTool(&mcp.Tool{
		Name:        "slow_compute",
		Description: fmt.Sprintf("Waits seconds (0 to %d) and reports that it computed label; supports tasks, and stops when its task is cancelled.", slowComputeMax),
		InputSchema: &jsonschema.Schema{
			Type: "object",
			Properties: map[string]*jsonschema.Schema{
				"seconds": {Type: "number", Description: "how long to compute"},
				"label":   {Type: "string", Description: "named in the result"},
			},
		},
	}, b.slowCompute)
	s.AddTool(&mcp.Tool{
		Name:        "failing_job",
		Description: "Works for about a second, then reports a tool error (isError). Requires a task.",
		InputSchema: noArgs(),
	}, b.failingJob)
	s.AddTool(&mcp.Tool{
		Name:        "protocol_error_job",
		Description: "Works for half a second, then fails with a JSON-RPC error (a protocol error, not a tool error).",
		InputSchema: noArgs(),
	}, b.protocolErrorJob)
	s.AddTool(&mcp.Tool{
		Name:        "confirm_delete",
		Description: "Pretends to delete filename after asking for a confirmation (one elicitation input request).",
		InputSchema: stringArgs("filename"),
	}, b.confirmDelete)
	s.AddTool(&mcp.Tool{
		Name:        "multi_input",
		Description: "Asks for a name and a confirmation at once (two input requests), then reports both.",
		InputSchema: noArgs(),
	}, b.multiInput)
	s.AddTool(&mcp.Tool{
		Name:        "test_tool_with_task",
		Description: "Asks for the caller's name (an input request answered directly), then greets them as a task. Requires a task.",
		InputSchema: noArgs(),
	}, b.toolWithTask)
}

// stringArgs is an object schema of optional string properties.
func stringArgs(names ...string) *jsonschema.Schema {
	s := &jsonschema.Schema{Type: "object", Properties: map[string]*jsonschema.Schema{}}
	for _, n := range names {
		s.Properties[n] = &jsonschema.Schema{Type: "string"}
	}
	return s
}

// args decodes a call's arguments into v (absent arguments leave v as is).
func args(req *mcp.CallToolRequest, v any) error {
	if len(req.Params.Arguments) == 0 {
		return nil
	}
	if err := json.Unmarshal(req.Params.Arguments, v); err != nil {
		return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("%s: bad arguments: %v", req.Params.Name, err)}
	}
	return nil
}

func (b *server) greet(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	var in struct {
		Name string `json:"name"`
	}
	if err := args(req, &in); err != nil {
		return nil, err
	}
	if in.Name == "" {
		in.Name = "World"
	}
	return textResult("Hello, " + in.Name + "!"), nil
}

func (b *server) slowCompute(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	var in struct {
		Seconds float64 `json:"seconds"`
		Label   string  `json:"label"`
	}
	if err := args(req, &in); err != nil {
		return nil, err
	}
	if in.Seconds < 0 || in.Seconds > slowComputeMax {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("slow_compute: seconds must be between 0 and %d", slowComputeMax)}
	}
	if err := sleep(ctx, time.Duration(in.Seconds*float64(time.Second))); err != nil {
		// Said on stderr too: a stdio program's stderr is in mooring's
		// log, which shows that a cancellation reached the program.
		slog.Info("slow_compute stopped before its time", "label", in.Label, "err", err)
		return nil, fmt.Errorf("slow_compute: stopped: %w", err)
	}
	return textResult(fmt.Sprintf("Computed %q in %gs.", in.Label, in.Seconds)), nil
}

func (b *server) failingJob(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if err := sleep(ctx, failingJobDelay); err != nil {
		return nil, fmt.Errorf("failing_job: stopped: %w", err)
	}
	res := textResult("failing_job failed, as it always does.")
	res.IsError = true
	return res, nil
}

func (b *server) protocolErrorJob(ctx context.Context, _ *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if err := sleep(ctx, protocolErrorDelay); err != nil {
		return nil, fmt.Errorf("protocol_error_job: stopped: %w", err)
	}
	return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "protocol_error_job: an internal failure, as it always has"}
}

func (b *server) confirmDelete(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	var in struct {
		Filename string `json:"filename"`
	}
	if err := args(req, &in); err != nil {
		return nil, err
	}
	if res, ok := req.Params.InputResponses["confirm"].(*mcp.ElicitResult); ok {
		if res.Action == "accept" {
			return textResult(fmt.Sprintf("Deleted %q.", in.Filename)), nil
		}
		return textResult(fmt.Sprintf("Kept %q (%s).", in.Filename, res.Action)), nil
	}
	if err := sleep(ctx, inputDelay); err != nil {
		return nil, fmt.Errorf("confirm_delete: stopped: %w", err)
	}
	return inputRequired(mcp.InputRequestMap{"confirm": askConfirmation(fmt.Sprintf("Delete %q?", in.Filename))}, ""), nil
}

func (b *server) multiInput(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	in := req.Params.InputResponses
	name, okName := in["name"].(*mcp.ElicitResult)
	confirm, okConfirm := in["confirm"].(*mcp.ElicitResult)
	if okName && okConfirm {
		return textResult(fmt.Sprintf("name: %s (%v); confirmation: %s (%v)", name.Action, name.Content["name"], confirm.Action, confirm.Content["confirm"])), nil
	}
	if err := sleep(ctx, inputDelay); err != nil {
		return nil, fmt.Errorf("multi_input: stopped: %w", err)
	}
	return inputRequired(mcp.InputRequestMap{
		"name":    askName("What is your name?"),
		"confirm": askConfirmation("Shall I go on?"),
	}, ""), nil
}

func (b *server) toolWithTask(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if name, ok := accepted(req.Params.InputResponses, "user_name", "name"); ok {
		return textResult("Hello, " + name + "! (answered as a task)"), nil
	}
	return inputRequired(mcp.InputRequestMap{"user_name": askName("What is your name?")}, ""), nil
}

func askConfirmation(message string) *mcp.ElicitParams {
	return &mcp.ElicitParams{
		Message:         message,
		RequestedSchema: json.RawMessage(`{"type":"object","properties":{"confirm":{"type":"boolean"}},"required":["confirm"]}`),
	}
}
