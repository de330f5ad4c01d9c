package protocol

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/tasks"
)

// ExtensionID names the tasks extension of 2026-07-28 (SEP-2663).
const ExtensionID = "io.modelcontextprotocol/tasks"

// metaRelatedTask is the _meta key that ties a message to its task
// (2025-11-25).
const metaRelatedTask = "io.modelcontextprotocol/related-task"

// CodeMissingCapability is -32021, MissingRequiredClientCapability.
const CodeMissingCapability = mcp.CodeMissingRequiredClientCapabilities

// stamp formats a task time as the wire wants it: ISO 8601, UTC, ms.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// needExtension is the -32021 error for a client that did not declare the
// tasks extension.
func needExtension(what string) *jsonrpc.Error {
	return &jsonrpc.Error{
		Code:    CodeMissingCapability,
		Message: what + " needs the " + ExtensionID + " extension in the request's client capabilities",
		Data:    json.RawMessage(`{"requiredCapabilities":{"extensions":{"` + ExtensionID + `":{}}}}`),
	}
}

// unknownTask is the -32602 error of a task id that does not name a task
// of the caller.
func unknownTask(id string) *jsonrpc.Error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "unknown task id " + quote(id)}
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// rpcError is err as a JSON-RPC error: a tasks.ErrNotFound is an unknown
// task, anything else an internal error.
func rpcError(id string, err error) *jsonrpc.Error {
	var re *jsonrpc.Error
	switch {
	case errors.As(err, &re):
		return re
	case errors.Is(err, tasks.ErrNotFound):
		return unknownTask(id)
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: err.Error()}
}

// flatTask is a task in the shape of 2026-07-28 (SEP-2663): the fields of
// CreateTaskResult and, with the outcome inlined, of tasks/get.
type flatTask struct {
	mcp.ResultBase
	ResultType     string          `json:"resultType"`
	TaskID         string          `json:"taskId"`
	Status         tasks.Status    `json:"status"`
	StatusMessage  string          `json:"statusMessage,omitempty"`
	CreatedAt      string          `json:"createdAt"`
	LastUpdatedAt  string          `json:"lastUpdatedAt"`
	TTLMs          int64           `json:"ttlMs"`
	PollIntervalMs int64           `json:"pollIntervalMs"`
	Result         json.RawMessage `json:"result,omitempty"`
	Error          *jsonrpc.Error  `json:"error,omitempty"`
	InputRequests  json.RawMessage `json:"inputRequests,omitempty"`
}

// created is the CreateTaskResult of t: no outcome, no input requests.
func created(t *tasks.Task) *flatTask {
	return &flatTask{
		ResultType: "task", TaskID: t.ID, Status: t.Status, StatusMessage: t.StatusMessage,
		CreatedAt: stamp(t.CreatedAt), LastUpdatedAt: stamp(t.UpdatedAt),
		TTLMs: t.TTL.Milliseconds(), PollIntervalMs: max(1, t.PollInterval.Milliseconds()),
	}
}

// detailed is the tasks/get result of t: what its status has inlined.
func detailed(t *tasks.Task) *flatTask {
	d := created(t)
	d.ResultType = "complete"
	switch t.Status {
	case tasks.Completed:
		d.Result = t.Result
	case tasks.Failed:
		d.Error = t.Error
		if d.Error == nil {
			d.Error = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: t.StatusMessage}
		}
	case tasks.InputRequired:
		d.InputRequests = t.InputRequests
	}
	return d
}

// ack is the empty result of tasks/update and tasks/cancel (2026-07-28).
type ack struct {
	mcp.ResultBase
	ResultType string `json:"resultType"`
}

func complete() *ack { return &ack{ResultType: "complete"} }
