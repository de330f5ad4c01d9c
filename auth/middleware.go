package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
)

// Options configure Middleware.
type Options struct {
	// Verifier checks tokens. Required.
	Verifier Verifier
	// Audiences are the aud values that a token must name one of (RFC
	// 8707): the endpoint's resource URL, and the gateway's as a whole.
	// Required.
	Audiences []string
	// ResourceMetadataURL is the endpoint's Protected Resource Metadata
	// document, named in every challenge. Required.
	ResourceMetadataURL string
	// Scopes are required of every request.
	Scopes []string
	// ToolScopes are required, besides Scopes, to call the named tool.
	ToolScopes map[string][]string
	// MaxBodyBytes bounds the body read to find a tools/call's tool name
	// (only with ToolScopes). Default 4 MiB.
	MaxBodyBytes int64
	// ClockSkew is the verifier's leeway, kept for go-sdk's own expiry
	// check of the token information. Default DefaultClockSkew.
	ClockSkew time.Duration
	// OnRefuse, if set, is told of each refused request: missing_token,
	// invalid_request, invalid_token, insufficient_scope or unavailable
	// (for metrics).
	OnRefuse func(reason string)
	Logger   *slog.Logger
}

// Middleware returns the bearer-token check in front of an MCP endpoint. A
// request passes with a valid token for one of opts.Audiences and the
// scopes it needs; its TokenInfo is then in the request context, where
// go-sdk's auth.TokenInfoFromContext (and FromRequest) find it.
func Middleware(opts Options) func(http.Handler) http.Handler {
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 4 << 20
	}
	if opts.ClockSkew <= 0 {
		opts.ClockSkew = DefaultClockSkew
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return func(next http.Handler) http.Handler {
		// go-sdk keeps TokenInfo under a key of its own, which only its
		// middleware sets: it is given the token that this one verified.
		inner := sdkauth.RequireBearerToken(func(ctx context.Context, _ string, _ *http.Request) (*TokenInfo, error) {
			if ti, _ := ctx.Value(verifiedKey{}).(*TokenInfo); ti != nil {
				return ti, nil
			}
			return nil, ErrInvalidToken
		}, &sdkauth.RequireBearerTokenOptions{ClockSkew: opts.ClockSkew, AllowMissingExpiration: true})(next)
		return &middleware{opts: opts, next: inner}
	}
}

type verifiedKey struct{}

type middleware struct {
	opts Options
	next http.Handler
}

// challenge is one 401 or 403 answer.
type challenge struct {
	status int
	code   string   // error=, "" for a request with no token at all
	desc   string   // error_description=
	scopes []string // scope=
}

func (m *middleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ti, ch := m.check(r)
	if ch == nil && len(m.opts.ToolScopes) > 0 && r.Method == http.MethodPost {
		ch = m.checkTool(w, r, ti)
	}
	if ch != nil {
		m.refuse(w, r, ch)
		return
	}
	m.next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), verifiedKey{}, ti)))
}

// check verifies r's token for the endpoint.
func (m *middleware) check(r *http.Request) (*TokenInfo, *challenge) {
	token, ch := bearer(r)
	if ch != nil {
		ch.scopes = m.opts.Scopes
		return nil, ch
	}
	ti, err := m.opts.Verifier.Verify(r.Context(), token)
	if err != nil {
		if !errors.Is(err, ErrInvalidToken) {
			return nil, &challenge{status: http.StatusServiceUnavailable, desc: err.Error()}
		}
		return nil, &challenge{status: http.StatusUnauthorized, code: "invalid_token", desc: err.Error(), scopes: m.opts.Scopes}
	}
	if !m.forUs(ti) {
		return nil, &challenge{status: http.StatusUnauthorized, code: "invalid_token",
			desc: fmt.Sprintf("the token's audience %q does not name this resource (%s)", audiences(ti.Extra), m.opts.Audiences[0]), scopes: m.opts.Scopes}
	}
	if missing := missingScopes(ti.Scopes, m.opts.Scopes); len(missing) > 0 {
		return nil, &challenge{status: http.StatusForbidden, code: "insufficient_scope",
			desc: "the token lacks scope " + strings.Join(missing, " "), scopes: m.opts.Scopes}
	}
	return ti, nil
}

// forUs reports whether the token's aud names one of the endpoint's
// audiences (RFC 8707), without building a list on the common path.
func (m *middleware) forUs(ti *TokenInfo) bool {
	switch a := ti.Extra["aud"].(type) {
	case string:
		return slices.Contains(m.opts.Audiences, a)
	case []any:
		for _, v := range a {
			if s, ok := v.(string); ok && slices.Contains(m.opts.Audiences, s) {
				return true
			}
		}
	case []string:
		for _, s := range a {
			if slices.Contains(m.opts.Audiences, s) {
				return true
			}
		}
	}
	return false
}

// bearer extracts the token of an Authorization: Bearer header (RFC 6750
// §2.1), the only way mooring takes one: never from the URL (the MCP spec
// forbids it) nor from a form body.
func bearer(r *http.Request) (string, *challenge) {
	vals := r.Header.Values("Authorization")
	if strings.Contains(r.URL.RawQuery, "access_token") && r.URL.Query().Has("access_token") {
		return "", &challenge{status: http.StatusBadRequest, code: "invalid_request", desc: "access tokens are not accepted in the URL; send Authorization: Bearer"}
	}
	if len(vals) == 0 {
		return "", &challenge{status: http.StatusUnauthorized}
	}
	if len(vals) > 1 {
		return "", &challenge{status: http.StatusBadRequest, code: "invalid_request", desc: "more than one Authorization header"}
	}
	scheme, token, _ := strings.Cut(vals[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		// Another scheme (Basic, say): no bearer token was sent.
		return "", &challenge{status: http.StatusUnauthorized}
	}
	if token = strings.TrimLeft(token, " "); !b64token(token) {
		return "", &challenge{status: http.StatusBadRequest, code: "invalid_request", desc: "malformed Authorization header: want Bearer and one token"}
	}
	return token, nil
}

// b64token is RFC 6750's token syntax: 1*( ALPHA / DIGIT / "-" / "." / "_" /
// "~" / "+" / "/" ) *"=".
func b64token(s string) bool {
	body := strings.TrimRight(s, "=")
	if body == "" {
		return false
	}
	for i := 0; i < len(body); i++ {
		c := body[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			return false
		}
	}
	return true
}

// checkTool reads a POST's body to find the tool that a tools/call names,
// and checks its scopes; the body is put back for the handler.
func (m *middleware) checkTool(w http.ResponseWriter, r *http.Request, ti *TokenInfo) *challenge {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, m.opts.MaxBodyBytes))
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
	if err != nil {
		// Left for the transport, which reads the rest and answers.
		return nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	// Decoded whatever the text looks like: a byte search for "tools/call"
	// would miss "tools\/call".
	var msg struct {
		Method string `json:"method"`
		Params struct {
			Name string `json:"name"`
		} `json:"params"`
	}
	if json.Unmarshal(body, &msg) != nil || msg.Method != "tools/call" {
		return nil
	}
	need := m.opts.ToolScopes[msg.Params.Name]
	if missing := missingScopes(ti.Scopes, need); len(missing) > 0 {
		return &challenge{status: http.StatusForbidden, code: "insufficient_scope",
			desc:   fmt.Sprintf("tool %q needs scope %s", msg.Params.Name, strings.Join(missing, " ")),
			scopes: union(m.opts.Scopes, need)}
	}
	return nil
}

// refuse answers a request that did not pass, with the challenge of RFC
// 6750 §3 and RFC 9728 §5.1.
func (m *middleware) refuse(w http.ResponseWriter, r *http.Request, ch *challenge) {
	if m.opts.OnRefuse != nil {
		reason := ch.code
		switch {
		case ch.status == http.StatusServiceUnavailable:
			reason = "unavailable"
		case reason == "":
			reason = "missing_token"
		}
		m.opts.OnRefuse(reason)
	}
	if ch.status != http.StatusServiceUnavailable {
		w.Header().Set("WWW-Authenticate", m.header(ch))
	}
	if ch.status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "5")
		m.opts.Logger.Error("auth: a token could not be checked", "err", ch.desc)
		ch.desc = "the authorization server could not be reached to check the token; retry"
	} else if ch.code != "" {
		m.opts.Logger.Info("auth: request refused", "status", ch.status, "error", ch.code, "reason", ch.desc, "method", r.Method, "path", r.URL.Path)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(ch.status)
	code := ch.code
	if code == "" {
		code = "unauthorized"
		ch.desc = "an access token is required: Authorization: Bearer <token>"
	}
	if ch.status == http.StatusServiceUnavailable {
		code = "temporarily_unavailable"
	}
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": ch.desc})
}

// header is the WWW-Authenticate value of ch.
func (m *middleware) header(ch *challenge) string {
	var b strings.Builder
	b.WriteString("Bearer ")
	if ch.code != "" {
		b.WriteString(`error=` + strconv.Quote(ch.code) + ", ")
	}
	b.WriteString(`resource_metadata=` + strconv.Quote(m.opts.ResourceMetadataURL))
	if len(ch.scopes) > 0 {
		b.WriteString(`, scope=` + strconv.Quote(strings.Join(ch.scopes, " ")))
	}
	return b.String()
}

func missingScopes(have, need []string) []string {
	var missing []string
	for _, s := range need {
		if !slices.Contains(have, s) {
			missing = append(missing, s)
		}
	}
	return missing
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}
