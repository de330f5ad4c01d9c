package auth_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/auth"
	"github.com/mooring-dev/mooring/internal/oauthtest"
)

// lastAuth is an upstream that remembers the Authorization of each request.
func lastAuth(t *testing.T) (*httptest.Server, func() []string) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Authorization"))
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), got...) }
}

func get(t *testing.T, tr http.RoundTripper, url string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer the-client's")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

// Client credentials: one token for many requests while it is fresh; a
// token within DefaultRefreshEarly of its expiry is replaced before use.
func TestCredentials_ClientCredentialsCachedAndRefreshedEarly(t *testing.T) {
	is := oauthtest.NewIssuer(t)
	is.AddClient("gw", "s")
	t.Setenv("GW_SECRET", "s")
	up, seen := lastAuth(t)
	c := auth.Credentials{Type: "client_credentials", TokenURL: is.TokenURL(), ClientID: "gw", ClientSecretEnv: "GW_SECRET"}

	tr, err := c.Transport(nil, up.URL)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		get(t, tr, up.URL)
	}
	if n := is.TokenRequests.Load(); n != 1 {
		t.Errorf("%d token requests for 3 calls with an hour-long token, want 1", n)
	}
	got := seen()
	if got[0] != got[2] || got[0] == "Bearer the-client's" || got[0] == "" {
		t.Errorf("upstream saw %q", got)
	}

	is.SetTokenTTL(auth.DefaultRefreshEarly / 2)
	tr, err = c.Transport(nil, up.URL)
	if err != nil {
		t.Fatal(err)
	}
	before := is.TokenRequests.Load()
	for range 2 {
		get(t, tr, up.URL)
	}
	if n := is.TokenRequests.Load() - before; n != 2 {
		t.Errorf("%d token requests for 2 calls with tokens inside the early-refresh window, want 2", n)
	}
	if r := is.Resources(); r[len(r)-1] != up.URL {
		t.Errorf("resource parameter %q, want %q", r[len(r)-1], up.URL)
	}
}

// A static header from a file follows the file when it is rotated.
func TestCredentials_HeaderFromFileFollowsRotation(t *testing.T) {
	up, seen := lastAuth(t)
	f := filepath.Join(t.TempDir(), "token")
	os.WriteFile(f, []byte("one\n"), 0o600)
	tr, err := auth.Credentials{Type: "header", Prefix: "Bearer ", ValueFile: f}.Transport(nil, up.URL)
	if err != nil {
		t.Fatal(err)
	}
	get(t, tr, up.URL)
	os.WriteFile(f, []byte("two\n"), 0o600)
	os.Chtimes(f, time.Now().Add(time.Minute), time.Now().Add(time.Minute))
	get(t, tr, up.URL)
	if got := seen(); len(got) != 2 || got[0] != "Bearer one" || got[1] != "Bearer two" {
		t.Errorf("upstream saw %q", got)
	}
	if _, err := (auth.Credentials{Type: "header", ValueFile: f + ".missing"}).Transport(nil, up.URL); err == nil {
		t.Error("a missing secret file: no error at start")
	}
}

// An upstream that refuses mooring's cached token (revoked) gets a fresh
// one on the same request, which then succeeds.
func TestCredentials_ClientCredentialsRetriesA401WithAFreshToken(t *testing.T) {
	is := oauthtest.NewIssuer(t)
	is.AddClient("gw", "s")
	t.Setenv("GW_SECRET", "s")
	var mu sync.Mutex
	var first string
	var bodies []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		bodies = append(bodies, string(b))
		if first == "" {
			first = r.Header.Get("Authorization")
		}
		if r.Header.Get("Authorization") == first {
			w.WriteHeader(http.StatusUnauthorized) // revoked
		}
	}))
	defer up.Close()
	tr, err := auth.Credentials{Type: "client_credentials", TokenURL: is.TokenURL(), ClientID: "gw", ClientSecretEnv: "GW_SECRET"}.Transport(nil, up.URL)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, up.URL, strings.NewReader(`{"jsonrpc":"2.0"}`))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || is.TokenRequests.Load() != 2 {
		t.Errorf("status %d after %d token requests; want 200 after 2", resp.StatusCode, is.TokenRequests.Load())
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 2 || bodies[1] != `{"jsonrpc":"2.0"}` {
		t.Errorf("upstream got bodies %q; want the request twice", bodies)
	}
}

// countTo counts the requests that go to one URL through it.
type countTo struct {
	url string
	n   atomic.Int64
}

func (c *countTo) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.String() == c.url {
		c.n.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// A token inside the early-refresh window is still valid: when its
// replacement cannot be fetched (the authorization server refuses or is
// away for a moment), requests go on with it instead of failing, and the
// server is not asked again at once.
func TestCredentials_ValidTokenServesWhileTheRefreshFails(t *testing.T) {
	is := oauthtest.NewIssuer(t)
	is.AddClient("gw", "s")
	is.SetTokenTTL(auth.DefaultRefreshEarly / 2)
	t.Setenv("GW_SECRET", "s")
	up, seen := lastAuth(t)
	c := auth.Credentials{Type: "client_credentials", TokenURL: is.TokenURL(), ClientID: "gw", ClientSecretEnv: "GW_SECRET"}
	fetches := &countTo{url: is.TokenURL()}
	tr, err := c.Transport(fetches, up.URL)
	if err != nil {
		t.Fatal(err)
	}
	get(t, tr, up.URL)
	is.AddClient("gw", "rotated") // the token endpoint refuses mooring from now on
	get(t, tr, up.URL)
	failed := fetches.n.Load()
	get(t, tr, up.URL)
	if got := seen(); got[1] != got[0] || got[2] != got[0] {
		t.Errorf("upstream saw %q, want the first token again while it is valid", got)
	}
	if n := fetches.n.Load() - failed; n != 0 {
		t.Errorf("%d requests to the token endpoint right after a failed fetch, want none", n)
	}
}
