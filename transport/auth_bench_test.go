package transport_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/mooring-dev/mooring/auth"
	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/internal/oauthtest"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/transport"
)

// withBearer adds a fixed Authorization header.
type withBearer struct {
	token string
	base  http.RoundTripper
}

func (b withBearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r.Header.Set("Authorization", "Bearer "+b.token) // benchPost's own request
	return b.base.RoundTrip(r)
}

// BenchmarkToolCall_Auth is BenchmarkToolCall/sse with and without --auth
// jwt in front (the same client token on every request, as clients do; the
// session bound to its principal): what authorization costs a whole
// request. Compare ns/op of the two.
func BenchmarkToolCall_Auth(b *testing.B) {
	is := oauthtest.NewIssuer(b)
	const resource = "https://mcp.example/mcp"
	for _, mode := range []string{"none", "jwt"} {
		b.Run(mode, func(b *testing.B) {
			st := memstore.New(nil)
			mgr := session.New(st, backend.NewInProcess(testServer()), quietSessions)
			var h http.Handler = transport.New(mgr, &transport.Options{Mode: transport.SSE})
			var rt http.RoundTripper = &http.Transport{MaxIdleConnsPerHost: 64}
			if mode == "jwt" {
				v, err := auth.NewJWTVerifier(context.Background(), auth.JWTOptions{Issuer: is.URL()})
				if err != nil {
					b.Fatal(err)
				}
				defer v.Close()
				h = auth.Middleware(auth.Options{Verifier: v, Audiences: []string{resource}, ResourceMetadataURL: resource, Scopes: []string{"mcp"}})(h)
				rt = withBearer{is.Token(is.Claims("alice", resource, "mcp")), rt}
			}
			defer func() { mgr.Close(); st.Close() }()
			runToolCalls(b, h, rt)
		})
	}
}
