package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mooring-dev/mooring/health"
	"github.com/mooring-dev/mooring/store/memstore"
)

// --auth settings that cannot work stop serve at startup with a message
// that names the setting.
func TestParseServe_AuthSettings(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--auth", "password"}, "--auth"},
		{[]string{"--auth", "jwt", "--auth-resource", "https://x/mcp"}, "--auth-issuer"},
		{[]string{"--auth", "jwt", "--auth-issuer", "https://as"}, "--auth-resource"},
		{[]string{"--auth", "jwt", "--auth-issuer", "https://as", "--auth-resource", "/mcp"}, "--auth-resource"},
		{[]string{"--auth", "jwt", "--auth-issuer", "https://as", "--auth-resource", "https://x/mcp", "--auth-tool-scopes", "tool"}, "--auth-tool-scopes"},
		{[]string{"--auth", "introspection", "--auth-issuer", "https://as", "--auth-resource", "https://x/mcp"}, "--auth-client-id"},
	} {
		if _, err := parseServe(tc.args, io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one naming %s", tc.args, err, tc.want)
		}
	}
	t.Setenv("MOORING_AUTH", "jwt")
	t.Setenv("MOORING_AUTH_ISSUER", "https://as.example")
	t.Setenv("MOORING_AUTH_RESOURCE", "https://mcp.example/mcp")
	c, err := parseServe([]string{"--auth-tool-scopes", "drop=admin db:write, echo=basic"}, io.Discard)
	if err != nil || c.Auth != "jwt" {
		t.Fatalf("from the environment: %v %+v", err, c)
	}
	got, _ := parseToolScopes(c.AuthToolScopes)
	if want := map[string][]string{"drop": {"admin", "db:write"}, "echo": {"basic"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("tool scopes %v, want %v", got, want)
	}
}

// Which listen addresses reach beyond this machine: with --auth none
// they get a warning at start and in the health report.
func TestLoopbackHost(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:8080": true, "[::1]:8080": true, "localhost:8080": true, "127.0.0.2:1": true,
		"0.0.0.0:8080": false, ":8080": false, "[::]:8080": false, "10.0.0.5:8080": false, "mcp.example:8080": false, "bad": false,
	} {
		if got := loopbackHost(addr); got != want {
			t.Errorf("loopbackHost(%q) = %v, want %v", addr, got, want)
		}
	}
}

// The health report of a mooring exposed without authentication says so
// and recommends auth; with auth on, or on loopback, it does not.
func TestHealth_RecommendsAuthWhenExposed(t *testing.T) {
	st := memstore.New(nil)
	defer st.Close()
	for _, exposed := range []string{"0.0.0.0:8080", ""} {
		rep := health.New(health.Options{Store: st, Kind: "bolt", Unauthenticated: exposed}).Check(context.Background(), nil)
		text := rep.Text()
		if got := strings.Contains(text, "without client authentication") && strings.Contains(text, "--auth jwt"); got != (exposed != "") {
			t.Errorf("exposed %q: warning and recommendation present = %v:\n%s", exposed, got, text)
		}
	}
}

// An empty secret file stops serve at start, naming its flag: with an empty
// client secret mooring started and then answered every request 503 (the
// introspection endpoint refused it).
func TestGatekeeper_EmptySecretFile(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--auth-issuer", "https://as.example", "--auth-resource", "https://mcp.example/mcp"}
	for flag, args := range map[string][]string{
		"--auth-client-secret-file": {"--auth", "introspection", "--auth-introspection-url", "http://127.0.0.1:1/introspect", "--auth-client-id", "mooring", "--auth-client-secret-file", empty},
		"--auth-hmac-secret-file":   {"--auth", "jwt", "--auth-hmac-secret-file", empty},
		"--auth-state-secret-file":  {"--auth", "jwt", "--auth-jwks-url", "http://127.0.0.1:1/jwks", "--auth-state-secret-file", empty},
	} {
		c, err := parseServe(append(args, base...), io.Discard)
		if err != nil {
			t.Fatalf("%s: %v", flag, err)
		}
		g, err := newGatekeeper(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err == nil {
			g.Close()
		}
		if err == nil || !strings.Contains(err.Error(), flag) {
			t.Errorf("%s empty: error %v, want one that names the flag", flag, err)
		}
	}
}
