// Package benchauth gives the mooring bench server an authorization server
// of its own for the --auth-jwt row: a fresh RSA key, its JWK Set on a
// loopback port of its own, and tokens for the load generator's clients.
package benchauth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mooring-dev/mooring/auth"
)

// TokenPath is where the bench server hands out tokens (unprotected): one
// per GET, each for a new subject, as distinct clients would hold.
const TokenPath = "/bench/token"

const issuer = "https://bench-issuer.invalid"

// Protect wraps h, the endpoint at resource, with mooring's auth middleware
// as `mooring serve --auth jwt` does, and returns the handler of
// TokenPath.
func Protect(h http.Handler, resource string) (protected, tokens http.Handler, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "kid": "bench", "use": "sig", "alg": "RS256",
		"n": base64.RawURLEncoding.EncodeToString(key.PublicKey.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.PublicKey.E)).Bytes()),
	}}})
	go func() {
		_ = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(jwks) }))
	}()
	v, err := auth.NewJWTVerifier(context.Background(), auth.JWTOptions{Issuer: issuer, JWKSURL: fmt.Sprintf("http://%s/", ln.Addr())})
	if err != nil {
		return nil, nil, err
	}
	protected = auth.Middleware(auth.Options{Verifier: v, Audiences: []string{resource}, ResourceMetadataURL: resource, Scopes: []string{"mcp"}})(h)
	var n atomic.Int64
	tokens = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		now := time.Now()
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
			"iss": issuer, "sub": fmt.Sprintf("client-%d", n.Add(1)), "aud": resource, "scope": "mcp",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		})
		tok.Header["kid"] = "bench"
		s, err := tok.SignedString(key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		_, _ = w.Write([]byte(s))
	})
	return protected, tokens, nil
}
