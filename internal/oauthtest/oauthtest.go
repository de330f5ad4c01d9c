// Package oauthtest runs a real OAuth authorization server in the test
// process, on a loopback httptest server: metadata (RFC 8414), a JWKS with
// keys made per test (and rotated on demand), a token endpoint for client
// credentials (with the resource parameter, RFC 8707) and an introspection
// endpoint (RFC 7662). Tests mint tokens with any claims and header.
//
// An Issuer stops with the test that made it (t.Cleanup); its methods are
// safe for concurrent use, as the server under test calls its endpoints
// while the test mints tokens and rotates keys.
package oauthtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer is an authorization server for tests.
type Issuer struct {
	t   testing.TB
	srv *httptest.Server

	// JWKSFetches counts GETs of the key set; TokenRequests counts the
	// tokens issued at the token endpoint; Introspections counts
	// introspection calls.
	JWKSFetches, TokenRequests, Introspections atomic.Int64

	mu        sync.Mutex // guards the fields below
	keys      []*Key     // published in the JWKS
	signing   *Key
	clients   map[string]string         // client id -> secret
	opaque    map[string]map[string]any // opaque token -> introspection answer
	resources []string                  // resource parameters seen at the token endpoint
	tokenTTL  time.Duration
}

// Key is one signing key.
type Key struct {
	ID  string
	RSA *rsa.PrivateKey
}

// NewIssuer starts an issuer with one RSA key; it stops with the test.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	is := &Issuer{t: t, clients: make(map[string]string), opaque: make(map[string]map[string]any), tokenTTL: time.Hour}
	is.signing = is.NewKey()
	is.keys = []*Key{is.signing}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", is.metadata)
	mux.HandleFunc("GET /jwks", is.jwks)
	mux.HandleFunc("POST /token", is.token)
	mux.HandleFunc("POST /introspect", is.introspect)
	is.srv = httptest.NewUnstartedServer(mux)
	is.srv.Start()
	t.Cleanup(is.srv.Close)
	return is
}

// URL is the issuer identifier (iss).
func (is *Issuer) URL() string { return is.srv.URL }

// JWKSURL is where the keys are published.
func (is *Issuer) JWKSURL() string { return is.srv.URL + "/jwks" }

// TokenURL is the token endpoint.
func (is *Issuer) TokenURL() string { return is.srv.URL + "/token" }

// NewKey makes a fresh RSA key with a random id (not published).
func (is *Issuer) NewKey() *Key {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		is.t.Fatal(err)
	}
	return &Key{ID: rand.Text()[:8], RSA: k}
}

// Rotate publishes a new key, signs with it from now on, and keeps the old
// ones published.
func (is *Issuer) Rotate() *Key {
	k := is.NewKey()
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys = append(is.keys, k)
	is.signing = k
	return k
}

// SigningKey returns the key that Token signs with.
func (is *Issuer) SigningKey() *Key {
	is.mu.Lock()
	defer is.mu.Unlock()
	return is.signing
}

// Claims returns valid claims for subject and audience: iss, sub, aud,
// iat, nbf and exp an hour away; scope is space-separated.
func (is *Issuer) Claims(sub, aud, scope string) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"iss": is.URL(), "sub": sub, "aud": aud, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	if scope != "" {
		c["scope"] = scope
	}
	return c
}

// Token signs claims with the signing key (RS256).
func (is *Issuer) Token(claims jwt.MapClaims) string {
	return is.Sign(is.SigningKey(), claims)
}

// Sign signs claims with k (RS256, kid k.ID).
func (is *Issuer) Sign(k *Key, claims jwt.MapClaims) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = k.ID
	s, err := tok.SignedString(k.RSA)
	if err != nil {
		is.t.Fatal(err)
	}
	return s
}

// Unsigned returns a token with alg none.
func Unsigned(claims jwt.MapClaims) string {
	s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	return s
}

// HS256WithPublicKey signs claims with HS256, the HMAC key being the PEM of
// k's public key: the classic algorithm confusion attack, against a verifier
// that would use whatever key it holds for whatever alg the token names.
func HS256WithPublicKey(k *Key, claims jwt.MapClaims) string {
	der, err := x509.MarshalPKIXPublicKey(&k.RSA.PublicKey)
	if err != nil {
		panic(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	tok.Header["kid"] = k.ID
	s, err := tok.SignedString(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		panic(err)
	}
	return s
}

// AddClient registers a client for the client credentials grant and for
// introspection.
func (is *Issuer) AddClient(id, secret string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.clients[id] = secret
}

// SetTokenTTL sets the lifetime of tokens from the token endpoint.
func (is *Issuer) SetTokenTTL(d time.Duration) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.tokenTTL = d
}

// Resources returns the resource parameters seen at the token endpoint.
func (is *Issuer) Resources() []string {
	is.mu.Lock()
	defer is.mu.Unlock()
	return append([]string(nil), is.resources...)
}

// Opaque registers an opaque token whose introspection answers claims
// (active is added).
func (is *Issuer) Opaque(claims map[string]any) string {
	tok := rand.Text()
	c := map[string]any{"active": true}
	for k, v := range claims {
		c[k] = v
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	is.opaque[tok] = c
	return tok
}

// Revoke makes an opaque token inactive.
func (is *Issuer) Revoke(tok string) {
	is.mu.Lock()
	defer is.mu.Unlock()
	is.opaque[tok] = map[string]any{"active": false}
}

func (is *Issuer) metadata(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{
		"issuer":                                is.URL(),
		"jwks_uri":                              is.JWKSURL(),
		"token_endpoint":                        is.TokenURL(),
		"introspection_endpoint":                is.URL() + "/introspect",
		"grant_types_supported":                 []string{"client_credentials"},
		"token_endpoint_auth_methods_supported": []string{"client_secret_basic", "client_secret_post"},
		"response_types_supported":              []string{"code"},
	})
}

func (is *Issuer) jwks(w http.ResponseWriter, r *http.Request) {
	is.JWKSFetches.Add(1)
	is.mu.Lock()
	var keys []map[string]any
	for _, k := range is.keys {
		keys = append(keys, map[string]any{
			"kty": "RSA", "kid": k.ID, "use": "sig", "alg": "RS256",
			"n": b64(k.RSA.PublicKey.N.Bytes()), "e": b64(big.NewInt(int64(k.RSA.PublicKey.E)).Bytes()),
		})
	}
	is.mu.Unlock()
	writeJSON(w, map[string]any{"keys": keys})
}

// client authenticates the calling client (Basic or form).
func (is *Issuer) client(r *http.Request) (string, bool) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	want, known := is.clients[id]
	return id, known && want == secret && secret != ""
}

func (is *Issuer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	id, ok := is.client(r)
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		writeJSON(w, map[string]string{"error": "invalid_client"})
		return
	}
	if r.PostForm.Get("grant_type") != "client_credentials" {
		w.WriteHeader(http.StatusBadRequest)
		writeJSON(w, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	is.TokenRequests.Add(1)
	resource := r.PostForm.Get("resource")
	is.mu.Lock()
	is.resources = append(is.resources, resource)
	ttl := is.tokenTTL
	is.mu.Unlock()
	c := is.Claims(id, resource, r.PostForm.Get("scope"))
	c["exp"] = time.Now().Add(ttl).Unix()
	c["client_id"] = id
	c["jti"] = rand.Text() // each token its own, as real servers issue them
	writeJSON(w, map[string]any{"access_token": is.Token(c), "token_type": "Bearer", "expires_in": int(ttl.Seconds()), "scope": r.PostForm.Get("scope")})
}

func (is *Issuer) introspect(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if _, ok := is.client(r); !ok {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	is.Introspections.Add(1)
	is.mu.Lock()
	c, ok := is.opaque[r.PostForm.Get("token")]
	is.mu.Unlock()
	if !ok {
		c = map[string]any{"active": false}
	}
	writeJSON(w, c)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
