// Package lostsession recognizes the answer of a Streamable HTTP server
// that no longer knows a session, for mooring's two clients of such
// servers: the upstream backend and the stdio bridge (mooring connect).
package lostsession

import (
	"bytes"
	"io"
	"net/http"
)

// peek bounds how much of a 400's body is read to look for "session".
const peek = 4 << 10

// As404 turns resp, the answer to a request that carried Mcp-Session-Id,
// into the 404 that the spec prescribes for a session the server does not
// know when it is a 400 whose body mentions the session: servers built on
// the TypeScript SDK's examples (the official server-everything among
// them) answer an unknown session id, after a restart, with 400 "Bad
// Request: No valid session ID provided". A 400 that does not mention the
// session is left alone. The body reads as it came either way.
func As404(resp *http.Response) {
	if resp.StatusCode != http.StatusBadRequest {
		return
	}
	head, err := io.ReadAll(io.LimitReader(resp.Body, peek))
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	if err == nil && bytes.Contains(bytes.ToLower(head), []byte("session")) {
		resp.StatusCode, resp.Status = http.StatusNotFound, "404 Not Found (the server answered 400 for the session)"
	}
}
