package transport_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/auth"
	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/internal/oauthtest"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/transport"
)

// whoami is what the tool of authServer saw of its caller.
type whoami struct {
	User          string `json:"user"`
	Email         string `json:"email"`
	Authorization string `json:"authorization"`
	Cookie        string `json:"cookie"`
}

// credentials adds the client's Authorization and a cookie to every request.
type credentials struct{ token string }

func (c credentials) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+c.token)
	r.Header.Set("Cookie", "sid=secret-cookie")
	return http.DefaultTransport.RoundTrip(r)
}

// A mounted go-sdk server's tools see the verified token (its principal
// and claims) in RequestExtra.TokenInfo, in both eras; the client's
// Authorization and Cookie headers never reach them.
func TestAuth_ToolsSeeTokenInfoNotTheToken(t *testing.T) {
	is := oauthtest.NewIssuer(t)
	srv := mcp.NewServer(&mcp.Implementation{Name: "claims", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "whoami", Description: "who calls"}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, whoami, error) {
		var w whoami
		if ti := req.Extra.TokenInfo; ti != nil {
			w.User = ti.UserID
			w.Email, _ = ti.Extra["email"].(string)
		}
		if h := req.Extra.Header; h != nil {
			w.Authorization, w.Cookie = h.Get("Authorization"), h.Get("Cookie")
		}
		return nil, w, nil
	})
	st := memstore.New(nil)
	mgr := session.New(st, backend.NewInProcess(srv), nil)
	v, err := auth.NewJWTVerifier(context.Background(), auth.JWTOptions{Issuer: is.URL()})
	if err != nil {
		t.Fatal(err)
	}
	h := transport.New(mgr, &transport.Options{Stateless: transport.NewStateless(srv, nil)})
	hs := httptest.NewServer(auth.Middleware(auth.Options{
		Verifier: v, Audiences: []string{"https://mcp.example/mcp"}, ResourceMetadataURL: "https://mcp.example/.well-known/oauth-protected-resource/mcp",
	})(h))
	t.Cleanup(func() { hs.Close(); mgr.Close(); st.Close(); v.Close() })

	claims := is.Claims("alice", "https://mcp.example/mcp", "")
	claims["email"] = "alice@example.com"
	token := is.Token(claims)
	for _, version := range []string{"2025-11-25", ""} { // "": go-sdk's default, 2026-07-28
		t.Run("version "+version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
			cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: hs.URL, HTTPClient: &http.Client{Transport: credentials{token}}},
				&mcp.ClientSessionOptions{ProtocolVersion: version})
			if err != nil {
				t.Fatal(err)
			}
			defer cs.Close()
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
			if err != nil || res.IsError {
				t.Fatalf("whoami: %v %v", err, res)
			}
			var got whoami
			b, _ := json.Marshal(res.StructuredContent)
			_ = json.Unmarshal(b, &got)
			want := whoami{User: auth.Principal(is.URL(), "alice"), Email: "alice@example.com"}
			if got != want {
				t.Errorf("the tool saw %+v, want %+v", got, want)
			}
		})
	}
}
