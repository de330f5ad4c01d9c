package auth

import (
	"errors"
	"net/http"
	"strings"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
)

// ErrInvalidToken is go-sdk's: a token that is malformed, expired, not
// signed by the issuer's keys, not meant for this resource or revoked.
// Verifiers wrap it.
var ErrInvalidToken = sdkauth.ErrInvalidToken

// errUnavailable wraps failures to reach the issuer (its keys or its
// introspection endpoint): they are answered 503, not 401, since the token
// may well be valid.
var errUnavailable = errors.New("authorization server unavailable")

// TokenInfo is go-sdk's: what tools see in mcp.RequestExtra.TokenInfo.
// mooring's verifiers set UserID to the principal (see Principal) and Extra
// to the token's claims.
type TokenInfo = sdkauth.TokenInfo

// Principal is the identity that sessions and tasks are bound to: the
// issuer and the subject, which together name one user (a subject is only
// unique within its issuer). An issuer is a URL and holds no space, so the
// text is unambiguous.
func Principal(issuer, subject string) string { return issuer + " " + subject }

// SplitPrincipal is the inverse of Principal.
func SplitPrincipal(p string) (issuer, subject string) {
	issuer, subject, _ = strings.Cut(p, " ")
	return issuer, subject
}

// FromRequest returns the verified token information of r, or nil when the
// endpoint has no authentication.
func FromRequest(r *http.Request) *TokenInfo { return sdkauth.TokenInfoFromContext(r.Context()) }

// PrincipalOf returns the principal of r's verified token, or "" when the
// endpoint has no authentication.
func PrincipalOf(r *http.Request) string {
	if ti := FromRequest(r); ti != nil {
		return ti.UserID
	}
	return ""
}
