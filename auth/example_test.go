package auth_test

import (
	"context"
	"log"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring"
	"github.com/mooring-dev/mooring/auth"
	"github.com/mooring-dev/mooring/store/memstore"
)

// Protecting an embedded mooring (docs/embedding.md) as `mooring serve
// --auth jwt` protects its own endpoint: the middleware in front of the
// handler, the metadata document beside it, requestState handles sealed to
// their user. Sessions are bound to their principal by the handler itself.
func Example_protectAnEndpoint() {
	const (
		issuer   = "https://auth.example.com/realms/mcp"
		resource = "https://mcp.example.com/mcp" // the public URL: the audience
	)
	srv := mcp.NewServer(&mcp.Implementation{Name: "greeter", Version: "1.0.0"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "whoami", Description: "the caller"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		// The verified token: UserID is "<issuer> <subject>", Extra its claims.
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: req.Extra.TokenInfo.UserID}}}, nil, nil
	})
	srv.AddReceivingMiddleware(auth.BindRequestState(nil)) // nil: a random key, one process

	v, err := auth.NewJWTVerifier(context.Background(), auth.JWTOptions{Issuer: issuer}) // keys discovered from the issuer
	if err != nil {
		log.Fatal(err)
	}
	defer v.Close()
	mdURL, _ := auth.MetadataURL(resource)
	mdPath, _ := auth.MetadataPath(resource)

	st := memstore.New(nil)
	defer st.Close()
	h := mooring.New(srv, st, nil)
	defer h.Close()

	http.Handle(mdPath, auth.MetadataHandler(&auth.ProtectedResourceMetadata{
		Resource: resource, AuthorizationServers: []string{issuer}, ScopesSupported: []string{"mcp"}, BearerMethodsSupported: []string{"header"},
	}))
	http.Handle("/mcp", auth.Middleware(auth.Options{
		Verifier: v, Audiences: []string{resource}, ResourceMetadataURL: mdURL, Scopes: []string{"mcp"},
	})(h))
	log.Fatal(http.ListenAndServe("127.0.0.1:8080", nil))
}
