package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/backend/builtin"
)

// The test binary is also the stdio program of these tests: with
// stdioEnv set it runs `mooring stdio-builtin`.
const stdioEnv = "MOORING_TEST_STDIO_BUILTIN"

func TestMain(m *testing.M) {
	if os.Getenv(stdioEnv) == "1" {
		os.Exit(run(context.Background(), []string{"stdio-builtin"}, os.Stdout, os.Stderr))
	}
	if os.Getenv(envDumpEnv) == "1" {
		serveEnvDump()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func writeConfig(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "mooring.json")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A bad server configuration stops serve at startup with a message that
// names the problem.
func TestServers_BadConfig(t *testing.T) {
	servers := func(v any) []string {
		return []string{"serve", "--store", "memory", "--config", writeConfig(t, map[string]any{"mcpServers": v})}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{servers(map[string]any{"x": map[string]any{"command": "cat", "url": "http://127.0.0.1:1/mcp"}}), "both command and url"},
		{servers(map[string]any{"x": map[string]any{"command": "cat", "argv": []string{"a"}}}), `unknown field "argv"`},
		{servers(map[string]any{"": map[string]any{"command": "cat"}}), "needs a name"},
		{servers(map[string]any{"a/b": map[string]any{"command": "cat"}}), "path segment"},
		{servers(map[string]any{"x": map[string]any{}}), "needs command"},
		{servers(map[string]any{"x": map[string]any{"type": "sse", "url": "http://127.0.0.1:1/sse"}}), "old SSE transport"},
		{servers(map[string]any{"x": map[string]any{"url": "ftp://h/mcp"}}), "want an http"},
		{servers(map[string]any{"x": map[string]any{"url": "http://127.0.0.1:1/mcp", "env": map[string]string{"A": "b"}}}), "for a command"},
		{servers(map[string]any{"x": map[string]any{"command": "mooring-no-such-program"}}), "mooring-no-such-program"},
		{servers([]string{"x"}), "object of named servers"},
		{[]string{"serve", "--store", "memory", "--command", "cat", "--upstream", "http://127.0.0.1:1/mcp"}, "both given"},
		{[]string{"serve", "--store", "memory", "--command", "mooring-no-such-program --flag"}, "--command"},
		{[]string{"serve", "--store", "memory", "--upstream", "127.0.0.1:1/mcp"}, "--upstream"},
	} {
		code, out := cli(t, tc.args...)
		if code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, want an error with %q:\n%s", tc.args, code, tc.want, out)
		}
	}
}

// Several servers in the config file: each at --path/<name>, named in the
// log and in /readyz, with its own sessions; a stdio program (this binary
// as `mooring stdio-builtin`) and an upstream HTTP server side by side.
func TestServers_SeveralMounted(t *testing.T) {
	up := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return builtin.New() }, nil))
	defer up.Close()
	cfg := writeConfig(t, map[string]any{"mcpServers": map[string]any{
		"local":  map[string]any{"command": os.Args[0], "args": []string{"-test.run=^$"}, "env": map[string]string{stdioEnv: "1"}},
		"remote": map[string]any{"type": "http", "url": up.URL, "headers": map[string]string{"X-Test": "1"}},
	}})
	s := startServer(t, "--store", "memory", "--config", cfg)
	ctx := context.Background()
	sessions := map[string]*mcp.ClientSession{}
	for _, name := range []string{"local", "remote"} {
		c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
		cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: s.url() + "/mcp/" + name}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		defer cs.Close()
		sessions[name] = cs
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_simple_text"})
		if err != nil || res.IsError {
			t.Errorf("%s: tools/call: %v %+v", name, err, res)
		}
	}
	// A session belongs to its server: its id at the other endpoint is
	// unknown there, and it goes on at its own.
	req, _ := http.NewRequest(http.MethodPost, s.url()+"/mcp/remote", strings.NewReader(`{"jsonrpc":"2.0","id":9,"method":"tools/list"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", sessions["local"].ID())
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	other, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	other.Body.Close()
	if other.StatusCode != http.StatusNotFound {
		t.Errorf("the local server's session at /mcp/remote: %s, want 404", other.Status)
	}
	if _, err := sessions["local"].ListTools(ctx, nil); err != nil {
		t.Errorf("the local session after it was tried elsewhere: %v", err)
	}
	resp, err := http.Post(s.url()+"/mcp", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/mcp with several servers: %s, want 404", resp.Status)
	}
	log := s.log.String()
	for _, want := range []string{`url=http://` + s.addr + `/mcp/local kind=stdio name=local`, `/mcp/remote kind=http name=remote`} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	rz := getReadyz(t, s)
	if !strings.Contains(rz.raw, `"kind": "stdio"`) || !strings.Contains(rz.raw, `"path": "/mcp/remote"`) {
		t.Errorf("/readyz does not name the backends: %s", rz.raw)
	}
}

// mooring init --command writes the server in the mcpServers shape; serve
// reads it and serves that one program at /mcp.
func TestServers_InitCommandThenServe(t *testing.T) {
	t.Setenv(stdioEnv, "1") // the program inherits mooring's environment
	dir := t.TempDir()
	cfg := filepath.Join(dir, "mooring.json")
	code, out := cli(t, "init", "--store", "memory", "--out", cfg, "--command", os.Args[0]+" -test.run=^$")
	if code != 0 {
		t.Fatalf("init: exit %d:\n%s", code, out)
	}
	data, _ := os.ReadFile(cfg)
	var file struct {
		Servers map[string]serverConfig `json:"mcpServers"`
	}
	if err := json.Unmarshal(data, &file); err != nil || file.Servers["server"].Command != os.Args[0] {
		t.Fatalf("init wrote %s (%v)", data, err)
	}
	s := startServer(t, "--config", cfg)
	cs := connect(t, s.url())
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "test_simple_text"})
	if err != nil || res.IsError {
		t.Fatalf("tools/call: %v %+v", err, res)
	}
	if rz := getReadyz(t, s); !strings.Contains(rz.raw, `"kind": "stdio"`) || !strings.Contains(rz.raw, `"path": "/mcp"`) {
		t.Errorf("/readyz: %s", rz.raw)
	}
}
