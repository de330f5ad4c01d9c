package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Discovery asks each well-known URL once: for an issuer without a path,
// OpenID Connect's appended and inserted forms are one URL, which was
// fetched (and its failure reported) twice.
func TestDiscoverIssuer_EachURLOnce(t *testing.T) {
	var mu sync.Mutex
	asked := make(map[string]int)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked[r.URL.Path]++
		mu.Unlock()
		http.NotFound(w, r)
	}))
	defer srv.Close()

	_, err := DiscoverIssuer(context.Background(), srv.Client(), srv.URL)
	if err == nil {
		t.Fatal("discovery succeeded against a server without metadata")
	}
	mu.Lock()
	for path, n := range asked {
		if n != 1 {
			t.Errorf("%s asked %d times, want once", path, n)
		}
	}
	mu.Unlock()
	if n := strings.Count(err.Error(), "/.well-known/openid-configuration"); n != 1 {
		t.Errorf("error names openid-configuration %d times, want once: %v", n, err)
	}

	_, _ = DiscoverIssuer(context.Background(), srv.Client(), srv.URL+"/realms/mcp")
	mu.Lock()
	defer mu.Unlock()
	for _, p := range []string{"/realms/mcp/.well-known/openid-configuration", "/.well-known/openid-configuration/realms/mcp", "/.well-known/oauth-authorization-server/realms/mcp"} {
		if asked[p] != 1 {
			t.Errorf("issuer with a path: %s asked %d times, want once", p, asked[p])
		}
	}
}
