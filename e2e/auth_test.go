package e2e

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/internal/oauthtest"
	"github.com/mooring-dev/mooring/internal/redistest"
)

// publicURL is the endpoint's public URL in these tests: the audience
// tokens name. It is configuration, and has nothing to do with the
// loopback address that the test reaches mooring at.
const publicURL = "https://mcp.example.test/mcp"

func authArgs(is *oauthtest.Issuer) []string {
	return []string{"--auth", "jwt", "--auth-issuer", is.URL(), "--auth-resource", publicURL, "--auth-scopes", "mcp"}
}

// bearer adds a fixed Authorization header to every request.
type bearer struct {
	token string
	base  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}

func connectAs(t *testing.T, url, token string) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "e2e-auth", Version: "1"}, nil)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{
		Endpoint: url, MaxRetries: 20, HTTPClient: &http.Client{Transport: bearer{token, http.DefaultTransport}},
	}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

type rawResp struct {
	status int
	header http.Header
	body   string
}

func raw(t *testing.T, method, url, token, sid string, hdr map[string]string, body string) rawResp {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawResp{resp.StatusCode, resp.Header, string(b)}
}

// refusedLikeUnknown checks that every kind of request for session sid
// made with token gets exactly what a session id that never existed gets.
func refusedLikeUnknown(t *testing.T, url, token, sid string, extra map[string]string) {
	t.Helper()
	unknown := raw(t, http.MethodPost, url, token, "0123456789abcdef0123456789abcdef", nil, `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`)
	if unknown.status != http.StatusNotFound {
		t.Fatalf("unknown session: %d %s", unknown.status, unknown.body)
	}
	for _, tc := range []struct {
		name, method, body string
		hdr                map[string]string
	}{
		{"POST", http.MethodPost, `{"jsonrpc":"2.0","id":7,"method":"tools/list"}`, nil},
		{"POST notification", http.MethodPost, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil},
		{"GET", http.MethodGet, "", nil},
		{"resume", http.MethodGet, "", map[string]string{"Last-Event-ID": "x_1"}},
		{"DELETE", http.MethodDelete, "", nil},
	} {
		hdr := map[string]string{}
		for k, v := range extra {
			hdr[k] = v
		}
		for k, v := range tc.hdr {
			hdr[k] = v
		}
		got := raw(t, tc.method, url, token, sid, hdr, tc.body)
		if got.status != http.StatusNotFound || got.body != unknown.body {
			t.Errorf("%s of another principal's session: %d %s; want 404 %s", tc.name, got.status, got.body, unknown.body)
		}
	}
}

// With --auth jwt the endpoint asks for a token in both eras and points to
// its metadata, which names the issuer; health and metrics stay open and
// show no session nor principal.
func TestAuth_ChallengeAndMetadata(t *testing.T) {
	is := oauthtest.NewIssuer(t)
	p := start(t, freeAddr(t), append(authArgs(is), "--store", "memory", "--auth-tool-scopes", "slow_count=counting", "--auth-audience", "api://mooring-test")...)
	wantWWW := `Bearer resource_metadata="https://mcp.example.test/.well-known/oauth-protected-resource/mcp", scope="mcp"`
	for _, tc := range []struct{ name, body, version string }{
		{"initialize", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`, ""},
		{"2026-07-28 discover", `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"c","version":"1"},"io.modelcontextprotocol/clientCapabilities":{}}}}`, "2026-07-28"},
	} {
		hdr := map[string]string{"Mcp-Protocol-Version": tc.version}
		if tc.version != "" {
			hdr["Mcp-Method"] = "server/discover"
		}
		got := raw(t, http.MethodPost, p.url(), "", "", hdr, tc.body)
		if got.status != 401 || got.header.Get("WWW-Authenticate") != wantWWW {
			t.Errorf("%s without a token: %d %q", tc.name, got.status, got.header.Get("WWW-Authenticate"))
		}
		tok := is.Token(is.Claims("alice", publicURL, "mcp"))
		if got := raw(t, http.MethodPost, p.url(), tok, "", hdr, tc.body); got.status != 200 {
			t.Errorf("%s with a token: %d %s", tc.name, got.status, got.body)
		}
	}
	// An extra audience (--auth-audience) names the endpoint too; others
	// do not.
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}`
	for aud, want := range map[string]int{"api://mooring-test": 200, "api://another": 401} {
		if got := raw(t, http.MethodPost, p.url(), is.Token(is.Claims("alice", aud, "mcp")), "", nil, initialize); got.status != want {
			t.Errorf("a token for %s: %d, want %d", aud, got.status, want)
		}
	}
	for _, path := range []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"} {
		got := raw(t, http.MethodGet, "http://"+p.addr+path, "", "", map[string]string{"Host": "evil.example"}, "")
		var md struct {
			Resource             string   `json:"resource"`
			AuthorizationServers []string `json:"authorization_servers"`
			ScopesSupported      []string `json:"scopes_supported"`
		}
		if err := json.Unmarshal([]byte(got.body), &md); err != nil || got.status != 200 {
			t.Fatalf("%s: %d %s", path, got.status, got.body)
		}
		if md.Resource != publicURL || len(md.AuthorizationServers) != 1 || md.AuthorizationServers[0] != is.URL() || strings.Join(md.ScopesSupported, " ") != "counting mcp" {
			t.Errorf("%s: %+v", path, md)
		}
	}
	// A tool's own scope: the token that lacks it gets 403; the session
	// goes on.
	cs := connectAs(t, p.url(), is.Token(is.Claims("alice", publicURL, "mcp")))
	call := `{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"slow_count","arguments":{"count":1,"interval_ms":1}}}`
	got := raw(t, http.MethodPost, p.url(), is.Token(is.Claims("alice", publicURL, "mcp")), cs.ID(), nil, call)
	wantTool := `Bearer error="insufficient_scope", resource_metadata="https://mcp.example.test/.well-known/oauth-protected-resource/mcp", scope="mcp counting"`
	if got.status != 403 || got.header.Get("WWW-Authenticate") != wantTool {
		t.Errorf("a tool without its scope: %d %q", got.status, got.header.Get("WWW-Authenticate"))
	}
	cs = connectAs(t, p.url(), is.Token(is.Claims("alice", publicURL, "mcp counting")))
	callText(t, cs, "slow_count", map[string]any{"count": 1, "interval_ms": 1})
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		got := raw(t, http.MethodGet, "http://"+p.addr+path, "", "", nil, "")
		if got.status != 200 {
			t.Errorf("%s without a token: %d", path, got.status)
		}
		if strings.Contains(got.body, cs.ID()) || strings.Contains(got.body, "alice") {
			t.Errorf("%s reveals the session or its principal: %s", path, got.body)
		}
		if path != "/metrics" {
			continue
		}
		// The refusals above, counted by reason.
		for _, want := range []string{
			`mooring_auth_refused_total{reason="missing_token"} 2`,
			`mooring_auth_refused_total{reason="invalid_token"} 1`,
			`mooring_auth_refused_total{reason="insufficient_scope"} 1`,
			`mooring_auth_refused_total{reason="invalid_request"} 0`,
		} {
			if !strings.Contains(got.body, want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	}
}

// A session made by alice is hers: bob's valid token with her session id
// gets what an unknown id gets, for every kind of request, before and
// after a restart on bolt; alice goes on unaffected.
func TestAuth_SessionBoundToPrincipal(t *testing.T) {
	is := oauthtest.NewIssuer(t)
	args := append(authArgs(is), storeArgs(t, "bolt")...)
	addr := freeAddr(t)
	p := start(t, addr, args...)
	alice := is.Token(is.Claims("alice", publicURL, "mcp"))
	bob := is.Token(is.Claims("bob", publicURL, "mcp"))
	cs := connectAs(t, p.url(), alice)
	sid := cs.ID()
	goesOn(t, cs, sid, "alice's first call")

	refusedLikeUnknown(t, p.url(), bob, sid, nil)
	if !strings.Contains(p.logs(), "belongs to another principal") {
		t.Error("no log line for the refused requests")
	}
	goesOn(t, cs, sid, "alice after bob's tries")

	// The principal shows in mooring sessions, from the running mooring
	// and from the store.
	wantLine := sid + "  alice (" + is.URL() + ")"
	if out, err := exec.Command(binary, "sessions", "list", "--url", "http://"+addr).CombinedOutput(); err != nil || !strings.Contains(string(out), wantLine) {
		t.Errorf("sessions list --url: %v\n%s\nwant a line %q", err, out, wantLine)
	}
	p.kill()
	dir := args[len(args)-1] // storeArgs ends with --data-dir DIR
	if out, err := exec.Command(binary, "sessions", "list", "--store", "bolt", "--data-dir", dir).CombinedOutput(); err != nil || !strings.Contains(string(out), wantLine) {
		t.Errorf("sessions list: %v\n%s\nwant a line %q", err, out, wantLine)
	}
	if out, err := exec.Command(binary, "sessions", "show", sid, "--store", "bolt", "--data-dir", dir).CombinedOutput(); err != nil || !strings.Contains(string(out), `"principal": "`+is.URL()+` alice"`) {
		t.Errorf("sessions show: %v\n%s", err, out)
	}
	p = start(t, addr, args...)
	refusedLikeUnknown(t, p.url(), bob, sid, nil)
	goesOn(t, cs, sid, "alice after a restart")
	// A fresh token of the same principal is the same principal.
	fresh := is.Token(is.Claims("alice", publicURL, "mcp"))
	if got := raw(t, http.MethodPost, p.url(), fresh, sid, nil, `{"jsonrpc":"2.0","id":99,"method":"ping"}`); got.status != 200 {
		t.Errorf("alice with a fresh token: %d %s", got.status, got.body)
	}
}

// Two replicas on Redis: bob's token on the replica that does not own
// alice's session is refused there, and the owner refuses it too when a
// client claims the request was forwarded.
func TestAuth_SessionBoundAcrossReplicas(t *testing.T) {
	is := oauthtest.NewIssuer(t)
	srv := redistest.Start(t)
	args := append(authArgs(is), "--store", "redis", "--redis-url", srv.URL(), "--store-fallback", "fail", "--lease-ttl", "2s")
	a := start(t, freeAddr(t), args...)
	b := start(t, freeAddr(t), args...)
	alice := is.Token(is.Claims("alice", publicURL, "mcp"))
	bob := is.Token(is.Claims("bob", publicURL, "mcp"))
	cs := connectAs(t, a.url(), alice) // a owns the session
	sid := cs.ID()
	goesOn(t, cs, sid, "alice on a")

	refusedLikeUnknown(t, b.url(), bob, sid, nil)
	refusedLikeUnknown(t, b.url(), bob, sid, map[string]string{"Mooring-Forwarded": "1"})
	refusedLikeUnknown(t, a.url(), bob, sid, map[string]string{"Mooring-Forwarded": "1"})
	// alice's own request through b reaches a's session.
	if got := raw(t, http.MethodPost, b.url(), alice, sid, nil, `{"jsonrpc":"2.0","id":99,"method":"ping"}`); got.status != 200 {
		t.Errorf("alice through b: %d %s", got.status, got.body)
	}
	goesOn(t, cs, sid, "alice after bob's tries")
}
