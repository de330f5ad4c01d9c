package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/auth"
	"github.com/mooring-dev/mooring/internal/oauthtest"
)

// Opaque tokens checked by the issuer (RFC 7662): discovered endpoint,
// mooring's client authentication, answers cached no longer than CacheFor
// nor past the token's exp, and 503 (not 401) when the issuer cannot be
// asked.
func TestIntrospector(t *testing.T) {
	is := oauthtest.NewIssuer(t)
	is.AddClient("mooring", "m-secret")
	clock := time.Now()
	in, err := auth.NewIntrospector(context.Background(), auth.IntrospectionOptions{
		Issuer: is.URL(), ClientID: "mooring", ClientSecret: "m-secret", CacheFor: time.Minute, Now: func() time.Time { return clock },
	})
	if err != nil {
		t.Fatal(err)
	}
	h := auth.Middleware(auth.Options{Verifier: in, Audiences: []string{resource}, ResourceMetadataURL: mdURL, Scopes: []string{"mcp"}})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(auth.PrincipalOf(r))) }))
	claims := func(exp time.Duration) map[string]any {
		return map[string]any{"sub": "alice", "iss": is.URL(), "aud": resource, "scope": "mcp", "exp": clock.Add(exp).Unix()}
	}
	good := is.Opaque(claims(time.Hour))
	for range 3 {
		rec := run(t, h, authCase{header: []string{"Bearer " + good}, status: 200})
		if rec.Body.String() != auth.Principal(is.URL(), "alice") {
			t.Errorf("principal %q", rec.Body)
		}
	}
	if n := is.Introspections.Load(); n != 1 {
		t.Errorf("%d introspections for 3 requests, want 1 (cached)", n)
	}
	// Revoked: accepted until the cached answer runs out, then refused.
	is.Revoke(good)
	run(t, h, authCase{header: []string{"Bearer " + good}, status: 200})
	clock = clock.Add(61 * time.Second)
	run(t, h, authCase{header: []string{"Bearer " + good}, status: 401, www: invalid})

	// A token that expires before CacheFor is not served from the cache
	// after its exp.
	short := is.Opaque(claims(10 * time.Second))
	run(t, h, authCase{header: []string{"Bearer " + short}, status: 200})
	is.Revoke(short)
	clock = clock.Add(11 * time.Second)
	run(t, h, authCase{header: []string{"Bearer " + short}, status: 401, www: invalid})

	for name, c := range map[string]map[string]any{
		"wrong aud": {"sub": "alice", "aud": "https://other.example/mcp", "scope": "mcp", "exp": clock.Add(time.Hour).Unix()},
		"wrong iss": {"sub": "alice", "iss": "https://other.example", "aud": resource, "scope": "mcp", "exp": clock.Add(time.Hour).Unix()},
		"no sub":    {"aud": resource, "scope": "mcp", "exp": clock.Add(time.Hour).Unix()},
	} {
		t.Run(name, func(t *testing.T) {
			run(t, h, authCase{header: []string{"Bearer " + is.Opaque(c)}, status: 401, www: invalid})
		})
	}
	run(t, h, authCase{header: []string{"Bearer never-issued"}, status: 401, www: invalid})

	// The introspection endpoint refuses mooring: the token may be fine, so
	// 503 with Retry-After, not 401.
	bad, err := auth.NewIntrospector(context.Background(), auth.IntrospectionOptions{Issuer: is.URL(), ClientID: "mooring", ClientSecret: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	h = auth.Middleware(auth.Options{Verifier: bad, Audiences: []string{resource}, ResourceMetadataURL: mdURL})(http.NotFoundHandler())
	req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader("{}"))
	req.Header.Set("Authorization", "Bearer "+is.Opaque(claims(time.Hour)))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") == "" {
		t.Errorf("introspection refused: %d %v", rec.Code, rec.Header())
	}
}
