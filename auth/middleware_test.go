package auth_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/mooring-dev/mooring/auth"
	"github.com/mooring-dev/mooring/internal/oauthtest"
)

const (
	resource = "https://mcp.example/mcp"
	mdURL    = "https://mcp.example/.well-known/oauth-protected-resource/mcp"
)

// protected returns an endpoint behind the middleware whose handler echoes
// the principal it sees, and whether the Authorization header reached it.
func protected(t *testing.T, is *oauthtest.Issuer) http.Handler {
	t.Helper()
	// A minute between refetches: the rotation test's junk key ids must not
	// reach the next one however slow the machine.
	v, err := auth.NewJWTVerifier(context.Background(), auth.JWTOptions{Issuer: is.URL(), UnknownKIDEvery: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return auth.Middleware(auth.Options{
		Verifier:            v,
		Audiences:           []string{resource},
		ResourceMetadataURL: mdURL,
		Scopes:              []string{"mcp"},
		ToolScopes:          map[string][]string{"drop_tables": {"admin"}},
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ti := sdkauth.TokenInfoFromContext(r.Context())
		if ti == nil {
			t.Error("handler reached without TokenInfo")
			return
		}
		body, _ := io.ReadAll(r.Body)
		io.WriteString(w, ti.UserID+"|"+string(body))
	}))
}

type authCase struct {
	name   string
	header []string // Authorization values
	query  string
	body   string
	status int
	www    string // WWW-Authenticate, exactly
}

func run(t *testing.T, h http.Handler, tc authCase) *httptest.ResponseRecorder {
	t.Helper()
	body := tc.body
	if body == "" {
		body = `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
	}
	req := httptest.NewRequest(http.MethodPost, "/mcp"+tc.query, strings.NewReader(body))
	for _, v := range tc.header {
		req.Header.Add("Authorization", v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != tc.status {
		t.Errorf("status %d, want %d (body %s)", rec.Code, tc.status, rec.Body)
	}
	if got := rec.Header().Get("WWW-Authenticate"); got != tc.www {
		t.Errorf("WWW-Authenticate\n got %s\nwant %s", got, tc.www)
	}
	return rec
}

const (
	challenge = `Bearer resource_metadata="` + mdURL + `", scope="mcp"`
	invalid   = `Bearer error="invalid_token", resource_metadata="` + mdURL + `", scope="mcp"`
	malformed = `Bearer error="invalid_request", resource_metadata="` + mdURL + `", scope="mcp"`
)

// Every way a token can be wrong gets the status and the challenge that RFC
// 6750, RFC 9728 and the MCP authorization spec ask for.
func TestMiddleware_Tokens(t *testing.T) {
	is := oauthtest.NewIssuer(t)
	h := protected(t, is)
	good := func(mod func(jwt.MapClaims)) string {
		c := is.Claims("alice", resource, "mcp")
		if mod != nil {
			mod(c)
		}
		return "Bearer " + is.Token(c)
	}
	now := time.Now()
	for _, tc := range []authCase{
		{name: "valid", header: []string{good(nil)}, status: 200},
		{name: "scheme in lower case", header: []string{"bearer " + strings.TrimPrefix(good(nil), "Bearer ")}, status: 200},
		{name: "audience in an array", header: []string{good(func(c jwt.MapClaims) { c["aud"] = []string{"other", resource} })}, status: 200},
		{name: "expired within the clock skew", header: []string{good(func(c jwt.MapClaims) { c["exp"] = now.Add(-10 * time.Second).Unix() })}, status: 200},
		{name: "scopes in scp", header: []string{good(func(c jwt.MapClaims) { delete(c, "scope"); c["scp"] = []string{"mcp"} })}, status: 200},

		{name: "no Authorization", status: 401, www: challenge},
		{name: "Basic scheme", header: []string{"Basic YWxpY2U6c2VjcmV0"}, status: 401, www: challenge},
		{name: "Bearer without a token", header: []string{"Bearer"}, status: 400, www: malformed},
		{name: "Bearer and a blank", header: []string{"Bearer   "}, status: 400, www: malformed},
		{name: "two tokens", header: []string{"Bearer a b"}, status: 400, www: malformed},
		{name: "bad characters", header: []string{`Bearer a"b`}, status: 400, www: malformed},
		{name: "two Authorization headers", header: []string{good(nil), good(nil)}, status: 400, www: malformed},
		{name: "token in the URL", query: "?access_token=" + strings.TrimPrefix(good(nil), "Bearer "), status: 400, www: malformed},
		{name: "not a JWT", header: []string{"Bearer abc.def.ghi"}, status: 401, www: invalid},

		{name: "expired", header: []string{good(func(c jwt.MapClaims) { c["exp"] = now.Add(-time.Hour).Unix() })}, status: 401, www: invalid},
		{name: "no exp", header: []string{good(func(c jwt.MapClaims) { delete(c, "exp") })}, status: 401, www: invalid},
		{name: "not yet valid", header: []string{good(func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Hour).Unix() })}, status: 401, www: invalid},
		{name: "issued in the future", header: []string{good(func(c jwt.MapClaims) { c["iat"] = now.Add(time.Hour).Unix() })}, status: 401, www: invalid},
		{name: "wrong iss", header: []string{good(func(c jwt.MapClaims) { c["iss"] = is.URL() + "/other" })}, status: 401, www: invalid},
		{name: "wrong aud", header: []string{good(func(c jwt.MapClaims) { c["aud"] = "https://other.example/mcp" })}, status: 401, www: invalid},
		{name: "no aud", header: []string{good(func(c jwt.MapClaims) { delete(c, "aud") })}, status: 401, www: invalid},
		{name: "no sub", header: []string{good(func(c jwt.MapClaims) { delete(c, "sub") })}, status: 401, www: invalid},
		{name: "alg none", header: []string{"Bearer " + oauthtest.Unsigned(is.Claims("alice", resource, "mcp"))}, status: 401, www: invalid},
		{name: "HS256 signed with the public key", header: []string{"Bearer " + oauthtest.HS256WithPublicKey(is.SigningKey(), is.Claims("alice", resource, "mcp"))}, status: 401, www: invalid},
		{name: "signed by a key the issuer never published", header: []string{"Bearer " + is.Sign(is.NewKey(), is.Claims("alice", resource, "mcp"))}, status: 401, www: invalid},

		{name: "missing the endpoint's scope", header: []string{good(func(c jwt.MapClaims) { c["scope"] = "other" })}, status: 403,
			www: `Bearer error="insufficient_scope", resource_metadata="` + mdURL + `", scope="mcp"`},
		{name: "tool scope missing", header: []string{good(nil)}, status: 403,
			body: `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"drop_tables","arguments":{}}}`,
			www:  `Bearer error="insufficient_scope", resource_metadata="` + mdURL + `", scope="mcp admin"`},
		{name: "tool scope missing, method escaped", header: []string{good(nil)}, status: 403,
			body: `{"jsonrpc":"2.0","id":2,"method":"tools\/call","params":{"name":"drop\u005ftables"}}`,
			www:  `Bearer error="insufficient_scope", resource_metadata="` + mdURL + `", scope="mcp admin"`},
		{name: "tool scope present", header: []string{good(func(c jwt.MapClaims) { c["scope"] = "mcp admin" })}, status: 200,
			body: `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"drop_tables"}}`},
		{name: "a tool that needs no scope", header: []string{good(nil)}, status: 200,
			body: `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := run(t, h, tc)
			if tc.status == 200 {
				want := auth.Principal(is.URL(), "alice") + "|"
				if !strings.HasPrefix(rec.Body.String(), want) {
					t.Errorf("handler saw %q, want principal %q", rec.Body, want)
				}
				if tc.body != "" && !strings.HasSuffix(rec.Body.String(), tc.body) {
					t.Errorf("handler got body %q, want %q", rec.Body, tc.body)
				}
			}
		})
	}
}

// A token signed by a key that the issuer published after mooring fetched
// the set is accepted: the unknown kid refetches the set. Junk key ids
// right after it do not make mooring fetch again (rate limit).
func TestMiddleware_KeyRotation(t *testing.T) {
	is := oauthtest.NewIssuer(t)
	h := protected(t, is)
	tok := func() string { return "Bearer " + is.Token(is.Claims("alice", resource, "mcp")) }
	run(t, h, authCase{header: []string{tok()}, status: 200})
	before := is.JWKSFetches.Load()

	is.Rotate()
	run(t, h, authCase{header: []string{tok()}, status: 200})
	if got := is.JWKSFetches.Load(); got != before+1 {
		t.Errorf("JWKS fetched %d times for the rotated key, want once", got-before)
	}
	for range 5 {
		run(t, h, authCase{header: []string{"Bearer " + is.Sign(is.NewKey(), is.Claims("alice", resource, "mcp"))}, status: 401, www: invalid})
	}
	if got := is.JWKSFetches.Load(); got != before+1 {
		t.Errorf("5 unknown key ids fetched the JWKS %d more times, want 0 (rate-limited)", got-before-1)
	}
	// The old key still verifies (the issuer keeps publishing it).
	run(t, h, authCase{header: []string{"Bearer " + is.Token(is.Claims("bob", resource, "mcp"))}, status: 200})
}

// HMAC tokens are accepted only with a configured secret, and then only
// when signed with it.
func TestJWTVerifier_HMACNeedsASecret(t *testing.T) {
	is := oauthtest.NewIssuer(t)
	if _, err := auth.NewJWTVerifier(context.Background(), auth.JWTOptions{Issuer: is.URL(), Algorithms: []string{"HS256"}}); err == nil {
		t.Error("HS256 without a secret: no error")
	}
	if _, err := auth.NewJWTVerifier(context.Background(), auth.JWTOptions{Issuer: is.URL(), Algorithms: []string{"none"}}); err == nil {
		t.Error("alg none allowed: no error")
	}
	secret := []byte("a shared secret of enough length!!")
	v, err := auth.NewJWTVerifier(context.Background(), auth.JWTOptions{Issuer: is.URL(), HMACSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	c := is.Claims("alice", resource, "")
	good, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(secret)
	if ti, err := v.Verify(context.Background(), good); err != nil || ti.UserID != auth.Principal(is.URL(), "alice") {
		t.Errorf("HS256 with the secret: %v, %v", ti, err)
	}
	bad, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte("another secret of enough length!!!"))
	if _, err := v.Verify(context.Background(), bad); err == nil {
		t.Error("HS256 with another secret accepted")
	}
	if _, err := v.Verify(context.Background(), is.Token(c)); err == nil {
		t.Error("RS256 accepted by a verifier configured for HMAC only")
	}
}

// A verified token is remembered, but never past its exp: the cache must
// not stretch a token's life.
func TestJWTVerifier_CacheEndsAtExp(t *testing.T) {
	is := oauthtest.NewIssuer(t)
	start := time.Now()
	clock := start
	v, err := auth.NewJWTVerifier(context.Background(), auth.JWTOptions{Issuer: is.URL(), CacheFor: time.Hour, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	c := is.Claims("alice", resource, "")
	c["exp"] = start.Add(90 * time.Second).Unix()
	tok := is.Token(c)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	clock = start.Add(200 * time.Second) // past exp and the clock skew
	if _, err := v.Verify(context.Background(), tok); err == nil {
		t.Error("an expired token was accepted from the cache")
	}
}
