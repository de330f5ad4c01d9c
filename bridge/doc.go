// Package bridge is `mooring connect`: an MCP server on stdin/stdout that
// relays every message to a remote Streamable HTTP endpoint and back, and
// hides what a remote connection suffers from a stdio client.
//
// The contract, for a client on stdio:
//
//   - Every message is relayed in both directions: requests, notifications,
//     server-to-client requests and their replies. Request ids are the
//     client's own; the bridge's few requests of its own use string ids
//     that start with "mooring-connect/".
//   - A broken SSE stream (a request's response stream or the GET stream)
//     is resumed with GET and Last-Event-ID, with backoff, for
//     Options.ResumeFor; calls in flight get their results when the server
//     answers again. A request that finds the server unreachable waits up to
//     Options.WaitFor, then fails with a clear error.
//   - A lost session (404) is healed honestly: calls in flight fail with a
//     JSON-RPC error that says their results are lost, the client is told
//     with a notifications/message, and a new session is opened with the
//     client's original initialize params; the log level and resource
//     subscriptions are replayed. Nothing pretends the old state survived.
//   - A request is sent again only when that cannot run it twice: when it
//     never reached the server (the connection was refused, a proxy said
//     the server is away, or the session was unknown), or when it is safe
//     to repeat (every method but tools/call, and tools/call of a tool whose
//     annotations say it is read-only or idempotent).
//   - Both protocol eras: `initialize` starts a sessionful (2025-11-25 and
//     earlier) session; a request that names its protocol version in
//     _meta (and server/discover) is relayed statelessly (2026-07-28), each
//     as its own POST. Options.Protocol pins one era.
//
// Nothing is written to stdout but JSON-RPC messages; the bridge logs with
// Options.Logger.
package bridge
