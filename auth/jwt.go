package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"
)

// DefaultAlgorithms are the signature algorithms a JWT may use when none are
// configured: asymmetric ones only. "none" is never accepted, and HMAC only
// with a configured secret (a public key must never serve as an HMAC key).
var DefaultAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Defaults of JWTOptions.
const (
	DefaultClockSkew       = 30 * time.Second
	DefaultJWKSRefresh     = time.Hour
	DefaultUnknownKIDEvery = 10 * time.Second
	DefaultVerifiedCache   = 2 * time.Minute
	DefaultVerifiedLimit   = 10000
)

// Verifier checks a bearer token. An invalid token gives an error wrapping
// ErrInvalidToken; any other error means that the token could not be
// checked (the issuer is unreachable, say).
type Verifier interface {
	Verify(ctx context.Context, token string) (*TokenInfo, error)
}

// JWTOptions configure NewJWTVerifier. Zero fields take the documented
// defaults.
type JWTOptions struct {
	// Issuer is the exact iss that tokens must carry. Required.
	Issuer string
	// JWKSURL is where the issuer's keys are; "" discovers it from the
	// issuer's metadata (RFC 8414, else OpenID Connect discovery).
	JWKSURL string
	// Algorithms allowed in the token header. Default DefaultAlgorithms.
	// "none" is refused; HS256/384/512 need HMACSecret.
	Algorithms []string
	// HMACSecret, if set, verifies HS256/384/512 tokens (and only those).
	HMACSecret []byte
	// ClockSkew is the leeway for exp, nbf and iat. Default DefaultClockSkew.
	ClockSkew time.Duration
	// JWKSRefresh is how often the keys are fetched again in the background.
	// Default DefaultJWKSRefresh.
	JWKSRefresh time.Duration
	// UnknownKIDEvery bounds the refetches that a token with an unknown key
	// id causes (key rotation): at most one per interval, so that junk
	// tokens cannot make mooring hammer the issuer. Default
	// DefaultUnknownKIDEvery.
	UnknownKIDEvery time.Duration
	// CacheFor is how long a verified token is remembered (by its hash),
	// so that a client's next requests cost a lookup instead of a
	// signature check; never past the token's exp. It is also how long a
	// token signed by a key that the issuer withdrew stays accepted.
	// Default DefaultVerifiedCache; negative disables the cache.
	CacheFor time.Duration
	// HTTPClient fetches metadata and keys. Default a client with a 10s
	// timeout.
	HTTPClient *http.Client
	Logger     *slog.Logger
	// Now replaces time.Now in tests.
	Now func() time.Time
}

// JWTVerifier checks signed JWT access tokens locally: the signature with the
// issuer's cached keys, the algorithm, iss, exp, nbf and iat. The audience
// and scopes are the middleware's to check, per endpoint.
type JWTVerifier struct {
	opts   JWTOptions
	keys   keyfunc.Keyfunc // nil with HMAC only
	parser *jwt.Parser
	cache  *tokenCache // nil when disabled
	cancel context.CancelFunc
}

// NewJWTVerifier discovers the issuer's key set if needed and starts its
// cache; Close stops the cache's refresh.
func NewJWTVerifier(ctx context.Context, opts JWTOptions) (*JWTVerifier, error) {
	if opts.Issuer == "" {
		return nil, errors.New("auth: jwt: an issuer is required")
	}
	if len(opts.Algorithms) == 0 {
		opts.Algorithms = DefaultAlgorithms
		if len(opts.HMACSecret) > 0 {
			opts.Algorithms = []string{"HS256", "HS384", "HS512"}
		}
	}
	asymmetric := false
	for _, a := range opts.Algorithms {
		switch {
		case strings.EqualFold(a, "none"):
			return nil, errors.New(`auth: jwt: algorithm "none" is never accepted`)
		case strings.HasPrefix(a, "HS"):
			if len(opts.HMACSecret) == 0 {
				return nil, fmt.Errorf("auth: jwt: algorithm %s needs an HMAC secret", a)
			}
		case jwt.GetSigningMethod(a) == nil:
			return nil, fmt.Errorf("auth: jwt: unknown algorithm %q", a)
		default:
			asymmetric = true
		}
	}
	if opts.ClockSkew <= 0 {
		opts.ClockSkew = DefaultClockSkew
	}
	if opts.JWKSRefresh <= 0 {
		opts.JWKSRefresh = DefaultJWKSRefresh
	}
	if opts.UnknownKIDEvery <= 0 {
		opts.UnknownKIDEvery = DefaultUnknownKIDEvery
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CacheFor == 0 {
		opts.CacheFor = DefaultVerifiedCache
	}
	v := &JWTVerifier{opts: opts}
	if opts.CacheFor > 0 {
		v.cache = newTokenCache(DefaultVerifiedLimit)
	}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods(opts.Algorithms),
		jwt.WithIssuer(opts.Issuer),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(opts.ClockSkew),
		jwt.WithTimeFunc(opts.Now),
	)
	if !asymmetric {
		return v, nil
	}
	if opts.JWKSURL == "" {
		md, err := DiscoverIssuer(ctx, opts.HTTPClient, opts.Issuer)
		if err != nil {
			return nil, err
		}
		if md.JWKSURI == "" {
			return nil, fmt.Errorf("auth: the metadata of issuer %s has no jwks_uri; set the JWKS URL", opts.Issuer)
		}
		opts.JWKSURL = md.JWKSURI
		v.opts.JWKSURL = md.JWKSURI
	}
	kctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	log := opts.Logger
	// The first fetch is made now, and its failure stops the start: a
	// server that cannot check any token would refuse every client.
	firstFetchErrs := false
	keys, err := keyfunc.NewDefaultOverrideCtx(kctx, []string{opts.JWKSURL}, keyfunc.Override{
		Client:                    opts.HTTPClient,
		NoErrorReturnFirstHTTPReq: &firstFetchErrs,
		RefreshInterval:           opts.JWKSRefresh,
		// A token with an unknown key id refetches the set at most once per
		// interval. The wait bound is also the refetch's own time limit
		// (jwkset uses one context for both); a request whose turn would
		// come later than that fails at once.
		RefreshUnknownKID: rate.NewLimiter(rate.Every(opts.UnknownKIDEvery), 1),
		RateLimitWaitMax:  5 * time.Second,
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(_ context.Context, err error) {
				log.Warn("auth: fetching the issuer's keys failed; the cached keys stay in use", "url", u, "err", err)
			}
		},
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("auth: jwks %s: %w", opts.JWKSURL, err)
	}
	v.keys, v.cancel = keys, cancel
	return v, nil
}

// JWKSURL returns the URL of the key set in use ("" with HMAC only).
func (v *JWTVerifier) JWKSURL() string { return v.opts.JWKSURL }

// Close stops refreshing the keys.
func (v *JWTVerifier) Close() error {
	if v.cancel != nil {
		v.cancel()
	}
	return nil
}

// Verify implements Verifier.
func (v *JWTVerifier) Verify(ctx context.Context, token string) (*TokenInfo, error) {
	now := v.opts.Now()
	if v.cache != nil {
		if ti, ok := v.cache.get(token, now); ok {
			return ti, nil
		}
	}
	ti, err := v.verify(ctx, token)
	if err == nil && v.cache != nil {
		// Only successes: a refusal costs the sender the full check.
		until := now.Add(v.opts.CacheFor)
		if ti.Expiration.Before(until) {
			until = ti.Expiration
		}
		v.cache.put(token, ti, until, now)
	}
	return ti, err
}

func (v *JWTVerifier) verify(ctx context.Context, token string) (*TokenInfo, error) {
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		if strings.HasPrefix(t.Method.Alg(), "HS") {
			// Only reached when HMAC is allowed, that is, configured with a
			// secret: never a public key.
			return v.opts.HMACSecret, nil
		}
		if v.keys == nil {
			return nil, errors.New("no key set configured")
		}
		return v.keys.KeyfuncCtx(ctx)(t)
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	return claimsInfo(v.opts.Issuer, claims)
}

// claimsInfo builds the TokenInfo of verified claims: the principal (iss and
// sub, or the client id for a token of a client acting for itself), the
// scopes and the expiry.
func claimsInfo(issuer string, claims map[string]any) (*TokenInfo, error) {
	if iss, _ := claims["iss"].(string); iss != "" {
		issuer = iss
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		for _, k := range []string{"client_id", "azp"} {
			if c, _ := claims[k].(string); c != "" {
				sub = k + ":" + c
				break
			}
		}
	}
	if sub == "" {
		return nil, fmt.Errorf("%w: no sub claim (nor client_id or azp): the token names no one", ErrInvalidToken)
	}
	ti := &TokenInfo{UserID: Principal(issuer, sub), Scopes: scopesOf(claims), Extra: claims}
	if exp, ok := number(claims["exp"]); ok {
		ti.Expiration = time.Unix(int64(exp), 0)
	}
	return ti, nil
}

// scopesOf reads the scope claim (RFC 8693: a space-separated string) or scp
// (Entra: a string; Okta: an array).
func scopesOf(claims map[string]any) []string {
	for _, k := range []string{"scope", "scp"} {
		switch s := claims[k].(type) {
		case string:
			return strings.Fields(s)
		case []any:
			out := make([]string, 0, len(s))
			for _, v := range s {
				if str, ok := v.(string); ok {
					out = append(out, str)
				}
			}
			return out
		}
	}
	return nil
}

// audiences reads the aud claim: a string or an array of strings.
func audiences(claims map[string]any) []string {
	switch a := claims["aud"].(type) {
	case string:
		return []string{a}
	case []any:
		out := make([]string, 0, len(a))
		for _, v := range a {
			if s, ok := v.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return slices.Clone(a)
	}
	return nil
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	}
	return 0, false
}
