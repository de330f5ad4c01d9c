package main

import (
	"io"
	"reflect"
	"strings"
	"testing"
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
