package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mooring-dev/mooring/auth"
	"github.com/mooring-dev/mooring/internal/oauthtest"
)

// BenchmarkMiddleware is the middleware's own cost per request with a
// valid token (the JWKS cached, nothing fetched), around a handler that does
// nothing; "none" is the same request without the middleware.
func BenchmarkMiddleware(b *testing.B) {
	is := oauthtest.NewIssuer(b)
	v, err := auth.NewJWTVerifier(context.Background(), auth.JWTOptions{Issuer: is.URL()})
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
	noop := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	token := "Bearer " + is.Token(is.Claims("alice", resource, "mcp"))
	body := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`
	for _, tc := range []struct {
		name string
		h    http.Handler
	}{
		{"none", noop},
		{"jwt", auth.Middleware(auth.Options{Verifier: v, Audiences: []string{resource}, ResourceMetadataURL: mdURL, Scopes: []string{"mcp"}})(noop)},
		{"jwt+toolscopes", auth.Middleware(auth.Options{Verifier: v, Audiences: []string{resource}, ResourceMetadataURL: mdURL, Scopes: []string{"mcp"},
			ToolScopes: map[string][]string{"drop": {"admin"}}})(noop)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(body))
					req.Header.Set("Authorization", token)
					rec := httptest.NewRecorder()
					tc.h.ServeHTTP(rec, req)
					if rec.Code != 200 {
						b.Fatalf("status %d", rec.Code)
					}
				}
			})
		})
	}
}
