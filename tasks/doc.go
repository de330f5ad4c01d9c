// Package tasks runs MCP tasks durably: a long tools/call that outlives the
// request, the connection, a restart of mooring and the loss of a replica.
// It knows the task's life, not the wire: the era code (2025-11-25 inside
// sessions, 2026-07-28 on the stateless path) turns requests into calls of
// the Manager and Tasks into messages.
//
// The contract:
//
//   - Create commits the task to the store before it returns: a
//     CreateTaskResult built from its answer describes a task that every
//     replica, and this one after a restart, can read.
//   - The task's Runner runs in a goroutine of the Manager that created it,
//     under a runner lease written into the task (Runner, LeaseUntil) and
//     renewed every LeaseTTL/3. Its outcome (completed with the result,
//     failed with the JSON-RPC error) is committed to the store before any
//     subscriber hears of it; a lost lease, a cancel or an expired task
//     make the runner's context end and its outcome is dropped.
//   - TTL runs from creation, is honoured (the task stays readable until
//     CreatedAt+TTL, whatever its status) and is bounded by Options.MaxTTL.
//   - Cancel settles the task cancelled in the store (idempotent: a
//     terminal task is returned as it is) and ends the runner's context if
//     the runner is here; a runner elsewhere sees it at its next renewal.
//   - A task whose runner's lease ran out (kill -9, a lost replica) is
//     settled by the next Manager that sees it (Get, Wait, or its periodic
//     sweep): failed, with an error saying that the process running it
//     stopped; a Retryable task instead runs again here, through the
//     runner factory (SetRunnerFor), up to MaxAttempts attempts.
//   - Scope is the visibility boundary: every call names a scope and a
//     task of another scope is ErrNotFound, never "forbidden".
//
// Waiting works across replicas by polling the store every PollInterval; a
// change made by this Manager wakes local waiters at once.
package tasks
