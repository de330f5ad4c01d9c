package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// DefaultRefreshEarly is how long before its expiry a client-credentials
// token is replaced: a request never leaves with a token about to lapse.
const DefaultRefreshEarly = time.Minute

// Credentials are what mooring presents to one upstream server: its own,
// never a client's (no token passthrough). The zero value is none. It is
// the "credentials" object of an mcpServers entry.
type Credentials struct {
	// Type is "header" (a static header) or "client_credentials" (an OAuth
	// access token of mooring's own client, RFC 6749 §4.4); "" is none.
	Type string `json:"type,omitempty"`

	// Header is the header to set (type header); default Authorization.
	Header string `json:"header,omitempty"`
	// Prefix is put before the value, "Bearer " say (type header).
	Prefix string `json:"prefix,omitempty"`
	// ValueFile or ValueEnv holds the header's value (type header): a
	// file is read again when it changes (rotated secrets).
	ValueFile string `json:"valueFile,omitempty"`
	ValueEnv  string `json:"valueEnv,omitempty"`

	// TokenURL is the authorization server's token endpoint (type
	// client_credentials).
	TokenURL string `json:"tokenUrl,omitempty"`
	// ClientID and the secret (from ClientSecretFile or ClientSecretEnv)
	// identify mooring to it.
	ClientID         string `json:"clientId,omitempty"`
	ClientSecretFile string `json:"clientSecretFile,omitempty"`
	ClientSecretEnv  string `json:"clientSecretEnv,omitempty"`
	// Scopes are asked for.
	Scopes []string `json:"scopes,omitempty"`
	// Resource is sent as the resource parameter (RFC 8707): the audience
	// of the token. Default the upstream server's URL.
	Resource string `json:"resource,omitempty"`
}

// Check reports what is missing or contradictory, without reading secrets.
func (c Credentials) Check() error {
	switch c.Type {
	case "":
		if c.Header+c.Prefix+c.ValueFile+c.ValueEnv+c.TokenURL+c.ClientID+c.ClientSecretFile+c.ClientSecretEnv+c.Resource != "" || len(c.Scopes) > 0 {
			return errors.New(`credentials: a type is needed: "header" or "client_credentials"`)
		}
	case "header":
		if (c.ValueFile == "") == (c.ValueEnv == "") {
			return errors.New("credentials: type header needs one of valueFile and valueEnv")
		}
		if c.TokenURL != "" || c.ClientID != "" || c.ClientSecretFile != "" || c.ClientSecretEnv != "" || c.Resource != "" || len(c.Scopes) > 0 {
			return errors.New("credentials: tokenUrl, clientId, clientSecret*, scopes and resource are for type client_credentials")
		}
	case "client_credentials":
		if c.TokenURL == "" || c.ClientID == "" {
			return errors.New("credentials: type client_credentials needs tokenUrl and clientId")
		}
		if (c.ClientSecretFile == "") == (c.ClientSecretEnv == "") {
			return errors.New("credentials: type client_credentials needs one of clientSecretFile and clientSecretEnv")
		}
		if u, err := url.Parse(c.TokenURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("credentials: tokenUrl %q: want an https URL", c.TokenURL)
		}
		if c.Header != "" || c.Prefix != "" || c.ValueFile != "" || c.ValueEnv != "" {
			return errors.New("credentials: header, prefix and value* are for type header")
		}
	default:
		return fmt.Errorf(`credentials: type %q: want "header" or "client_credentials"`, c.Type)
	}
	return nil
}

// Transport returns base with the credentials added to every request;
// resource is the upstream's URL, the default audience. Secrets are read
// now, so that a missing one stops the start.
func (c Credentials) Transport(base http.RoundTripper, resource string) (http.RoundTripper, error) {
	if err := c.Check(); err != nil {
		return nil, err
	}
	if base == nil {
		base = http.DefaultTransport
	}
	switch c.Type {
	case "header":
		h := &staticHeader{base: base, name: c.Header, prefix: c.Prefix, file: c.ValueFile}
		if h.name == "" {
			h.name = "Authorization"
		}
		if c.ValueEnv != "" {
			v, ok := os.LookupEnv(c.ValueEnv)
			if !ok || strings.TrimSpace(v) == "" {
				return nil, fmt.Errorf("credentials: environment variable %s is not set", c.ValueEnv)
			}
			h.value = strings.TrimSpace(v)
		} else if _, err := h.current(); err != nil {
			return nil, err
		}
		return h, nil
	case "client_credentials":
		secret, err := secretOf(c.ClientSecretFile, c.ClientSecretEnv)
		if err != nil {
			return nil, err
		}
		if c.Resource != "" {
			resource = c.Resource
		}
		cfg := &clientcredentials.Config{
			ClientID: c.ClientID, ClientSecret: secret, TokenURL: c.TokenURL, Scopes: c.Scopes,
			EndpointParams: url.Values{"resource": {resource}},
		}
		// The token endpoint is reached with base too (a proxy or custom
		// TLS applies there as well), and without the request's context:
		// a token outlives the request that fetched it.
		ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Transport: base, Timeout: 30 * time.Second})
		return &clientCredentials{base: base, fetch: fetcher{cfg, ctx}}, nil
	}
	return base, nil
}

// clientCredentials adds mooring's own access token to each request. The
// token is cached and replaced DefaultRefreshEarly before it expires
// (clientcredentials' own source would wait until 10 s before); when the
// upstream answers 401 anyway (the token was revoked, or the upstream's
// clock runs ahead) a fresh token is fetched and the request sent once
// more, if its body can be sent again.
type clientCredentials struct {
	base  http.RoundTripper
	fetch fetcher

	mu      sync.Mutex // guards tok and retryAt; held while fetching, so one fetch at a time
	tok     *oauth2.Token
	retryAt time.Time // no fetch before it while tok is still valid: the last one failed
}

// refetchAfterFailure is how long a token that is still valid is used
// without asking again after a fetch of its replacement failed.
const refetchAfterFailure = 5 * time.Second

// token returns the cached token, or a fresh one when it is about to
// expire or when stale, the token a request was refused with, is still
// the cached one. When the early refresh fails (the authorization server
// is away for a moment), the cached token serves until it expires.
func (c *clientCredentials) token(stale *oauth2.Token) (*oauth2.Token, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fresh := c.tok != nil && (c.tok.Expiry.IsZero() || time.Until(c.tok.Expiry) > DefaultRefreshEarly)
	if fresh && c.tok != stale {
		return c.tok, nil
	}
	valid := c.tok != nil && c.tok != stale && time.Now().Before(c.tok.Expiry)
	if valid && time.Now().Before(c.retryAt) {
		return c.tok, nil
	}
	tok, err := c.fetch.Token()
	if err != nil {
		if valid {
			c.retryAt = time.Now().Add(refetchAfterFailure)
			return c.tok, nil
		}
		return nil, err
	}
	c.tok, c.retryAt = tok, time.Time{}
	return tok, nil
}

func (c *clientCredentials) RoundTrip(req *http.Request) (*http.Response, error) {
	tok, err := c.token(nil)
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	tok.SetAuthHeader(r)
	resp, err := c.base.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusUnauthorized || (req.Body != nil && req.GetBody == nil) {
		return resp, err
	}
	if tok, err = c.token(tok); err != nil {
		return resp, nil // the upstream's 401 says more than the fetch error
	}
	resp.Body.Close()
	r = req.Clone(req.Context())
	if req.GetBody != nil {
		if r.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	tok.SetAuthHeader(r)
	return c.base.RoundTrip(r)
}

// fetcher fetches a fresh token on each call.
type fetcher struct {
	cfg *clientcredentials.Config
	ctx context.Context
}

func (f fetcher) Token() (*oauth2.Token, error) {
	tok, err := f.cfg.Token(f.ctx)
	if err != nil {
		return nil, fmt.Errorf("credentials: token from %s: %w", f.cfg.TokenURL, err)
	}
	return tok, nil
}

func secretOf(file, env string) (string, error) {
	if env != "" {
		v, ok := os.LookupEnv(env)
		if !ok || strings.TrimSpace(v) == "" {
			return "", fmt.Errorf("credentials: environment variable %s is not set", env)
		}
		return strings.TrimSpace(v), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("credentials: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// staticHeader sets one header from a value or a file, which is read again
// when its modification time changes.
type staticHeader struct {
	base         http.RoundTripper
	name, prefix string
	file         string

	mu    sync.Mutex // guards value and mtime
	value string
	mtime time.Time
}

func (h *staticHeader) current() (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.file == "" {
		return h.value, nil
	}
	fi, err := os.Stat(h.file)
	if err != nil {
		if h.value != "" {
			return h.value, nil // keep the last one through a rotation
		}
		return "", fmt.Errorf("credentials: %w", err)
	}
	if !fi.ModTime().Equal(h.mtime) {
		b, err := os.ReadFile(h.file)
		if err != nil {
			if h.value != "" {
				return h.value, nil
			}
			return "", fmt.Errorf("credentials: %w", err)
		}
		h.value, h.mtime = strings.TrimSpace(string(b)), fi.ModTime()
	}
	return h.value, nil
}

func (h *staticHeader) RoundTrip(req *http.Request) (*http.Response, error) {
	v, err := h.current()
	if err != nil {
		return nil, err
	}
	r := req.Clone(req.Context())
	r.Header.Set(h.name, h.prefix+v)
	return h.base.RoundTrip(r)
}
