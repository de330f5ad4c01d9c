package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/auth"
	"github.com/mooring-dev/mooring/backend/builtin"
	"github.com/mooring-dev/mooring/internal/oauthtest"
)

// envDumpEnv makes the test binary a stdio MCP server whose one tool, env,
// answers the program's environment.
const envDumpEnv = "MOORING_TEST_STDIO_ENVDUMP"

func serveEnvDump() {
	srv := mcp.NewServer(&mcp.Implementation{Name: "envdump", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "env", Description: "the environment"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Join(os.Environ(), "\n")}}}, nil, nil
	})
	_ = srv.Run(context.Background(), &mcp.StdioTransport{})
}

// seen records the credentials of every request an upstream received.
type seen struct {
	mu      sync.Mutex
	auth    []string
	cookies []string
}

func (s *seen) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		s.cookies = append(s.cookies, r.Header.Get("Cookie"))
		s.mu.Unlock()
		h.ServeHTTP(w, r)
	})
}

func (s *seen) snapshot() ([]string, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.auth), slices.Clone(s.cookies)
}

// No token passthrough: the client's Authorization and Cookie reach no
// backend. An upstream that is itself a resource server gets mooring's own
// client-credentials token (asked for with the upstream as resource); one
// with a static header gets that header; a stdio program's environment holds
// neither.
func TestAuth_NoTokenPassthrough(t *testing.T) {
	is := oauthtest.NewIssuer(t)
	is.AddClient("mooring-gw", "gw-secret")
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("gw-secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// The client-credentials upstream checks tokens as mooring does.
	var ccSeen, staticSeen seen
	ccUp := httptest.NewUnstartedServer(nil)
	ccUp.Start()
	defer ccUp.Close()
	v, err := auth.NewJWTVerifier(context.Background(), auth.JWTOptions{Issuer: is.URL()})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	ccUp.Config.Handler = ccSeen.wrap(auth.Middleware(auth.Options{
		Verifier: v, Audiences: []string{ccUp.URL}, ResourceMetadataURL: ccUp.URL + "/.well-known/oauth-protected-resource", Scopes: []string{"upstream"},
	})(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return builtin.New() }, nil)))
	staticUp := httptest.NewServer(staticSeen.wrap(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return builtin.New() }, nil)))
	defer staticUp.Close()
	t.Setenv("STATIC_UPSTREAM_TOKEN", "static-secret")

	cfg := writeConfig(t, map[string]any{"mcpServers": map[string]any{
		"cc": map[string]any{"url": ccUp.URL, "credentials": map[string]any{
			"type": "client_credentials", "tokenUrl": is.TokenURL(), "clientId": "mooring-gw", "clientSecretFile": secretFile, "scopes": []string{"upstream"},
		}},
		"static": map[string]any{"url": staticUp.URL, "credentials": map[string]any{"type": "header", "prefix": "Bearer ", "valueEnv": "STATIC_UPSTREAM_TOKEN"}},
		"stdio":  map[string]any{"command": os.Args[0], "args": []string{"-test.run=^$"}, "env": map[string]string{envDumpEnv: "1"}},
	}})
	s := startServer(t, "--store", "memory", "--config", cfg,
		"--auth", "jwt", "--auth-issuer", is.URL(), "--auth-resource", "https://gw.example/mcp")

	clientToken := is.Token(is.Claims("alice", "https://gw.example/mcp", ""))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	call := func(name, tool string) string {
		t.Helper()
		c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
		cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: s.url() + "/mcp/" + name, HTTPClient: &http.Client{Transport: clientCreds{clientToken}}},
			&mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer cs.Close()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tool})
		if err != nil || res.IsError || len(res.Content) == 0 {
			t.Fatalf("%s: %s: %v %+v", name, tool, err, res)
		}
		return res.Content[0].(*mcp.TextContent).Text
	}
	for range 3 {
		call("cc", "test_simple_text")
	}
	call("static", "test_simple_text")
	env := call("stdio", "env")

	auths, cookies := ccSeen.snapshot()
	if len(auths) == 0 {
		t.Fatal("the upstream saw no request")
	}
	for i, a := range auths {
		tok := strings.TrimPrefix(a, "Bearer ")
		claims := jwt.MapClaims{}
		if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil || claims["sub"] != "mooring-gw" || claims["aud"] != ccUp.URL {
			t.Errorf("request %d to the upstream carried %q (claims %v), want mooring's own token for it", i, a, claims)
		}
		if cookies[i] != "" {
			t.Errorf("request %d to the upstream carried the client's cookie %q", i, cookies[i])
		}
	}
	if got := is.Resources(); len(got) != 1 || got[0] != ccUp.URL {
		t.Errorf("token requests named resources %q, want one request for %q (then cached)", got, ccUp.URL)
	}
	auths, cookies = staticSeen.snapshot()
	for i, a := range auths {
		if a != "Bearer static-secret" || cookies[i] != "" {
			t.Errorf("request %d to the static upstream carried Authorization %q, Cookie %q", i, a, cookies[i])
		}
	}
	if strings.Contains(env, clientToken) || strings.Contains(env, "client-cookie") || strings.Contains(env, "gw-secret") {
		t.Errorf("the stdio program's environment holds a credential:\n%s", env)
	}
}

// clientCreds is the client's Authorization and a cookie.
type clientCreds struct{ token string }

func (c clientCreds) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+c.token)
	r.Header.Set("Cookie", "session=client-cookie")
	return http.DefaultTransport.RoundTrip(r)
}
