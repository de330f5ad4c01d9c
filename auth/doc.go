// Package auth makes mooring an OAuth 2.1 resource server (MCP authorization,
// RFC 9728, RFC 8707, RFC 6750): a middleware in front of each MCP endpoint
// checks the bearer token of every request, in both protocol eras, and
// answers the spec's 401 and 403 with a WWW-Authenticate header that points
// to the Protected Resource Metadata document, which this package serves too.
//
// The contract:
//
//   - A Verifier turns a token into a TokenInfo (go-sdk's, with UserID set
//     to the principal: issuer and subject) or an error wrapping
//     ErrInvalidToken. JWTVerifier checks signed JWTs against the issuer's keys (cached,
//     refetched on an unknown key id, rate-limited); Introspector asks the
//     issuer (RFC 7662) about opaque tokens and caches the answer no longer
//     than the token lives.
//   - Middleware stores the TokenInfo in the request context (FromRequest,
//     PrincipalOf; go-sdk's auth.TokenInfoFromContext too, so that go-sdk
//     handlers see it) and checks the endpoint's scopes and the scopes of the
//     tool that a tools/call names.
//   - The principal is compared, not trusted: the transport stores it with a
//     session at initialize and compares it on every later request. A
//     request forwarded between replicas carries the client's own
//     Authorization header, which the owner checks again; no header of
//     mooring's says who the caller is.
//   - What stands in for a session in the stateless era is bound too: tasks
//     by their scope (tasks/protocol.PrincipalScope), requestState handles
//     by BindRequestState.
//   - No token passthrough: the client's Authorization and Cookie never reach
//     a backend. Upstream servers get their own credentials (Credentials: a
//     static header, or OAuth client credentials).
//
// Verified tokens are remembered by their SHA-256 until their exp (at most
// a few minutes), so that a client's requests after the first cost a map
// lookup rather than a signature check.
package auth
