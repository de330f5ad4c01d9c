// Package protocol is the wire side of durable tasks: it turns MCP requests
// of both protocol eras into calls of a tasks.Manager, and tasks into MCP
// results and notifications. The Manager (package tasks) keeps the task's
// life; this package decides which calls become tasks and speaks each
// era's shapes.
//
//   - 2026-07-28, the extension io.modelcontextprotocol/tasks (SEP-2663),
//     on the stateless path (Extension): server/discover advertises it
//     under capabilities.extensions; a tools/call of a task-supporting
//     tool, from a client that declares the extension in the request's
//     _meta client capabilities, becomes a task once it has run longer
//     than Policy.After, answered with a flat CreateTaskResult after the
//     task is committed to the store; tasks/get, tasks/update (input
//     responses: multi round-trip inside a task) and tasks/cancel.
//   - 2025-11-25, SEP-1686, inside sessions (Sessionful): capabilities.tasks,
//     execution.taskSupport in tools/list, params.task on tools/call,
//     tasks/get, tasks/result, tasks/list, tasks/cancel and
//     notifications/tasks/status; a task belongs to the session that
//     created it.
//
// In both eras the task runs at the gateway: mooring makes the plain
// tools/call to the backend and stores its outcome, so a backend that knows
// nothing of tasks gains durable ones.
package protocol
