package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Defaults of IntrospectionOptions.
const (
	DefaultIntrospectionCache = time.Minute
	DefaultIntrospectionLimit = 10000
)

// IntrospectionOptions configure NewIntrospector.
type IntrospectionOptions struct {
	// Issuer is the authorization server; an introspection answer that
	// names another iss is refused. Required.
	Issuer string
	// URL is the RFC 7662 endpoint; "" discovers introspection_endpoint
	// from the issuer's metadata.
	URL string
	// ClientID and ClientSecret authenticate mooring to the endpoint
	// (HTTP Basic, RFC 7662 §2.1).
	ClientID, ClientSecret string
	// CacheFor bounds how long an answer is reused; never past the token's
	// exp. Default DefaultIntrospectionCache. A revoked token is accepted
	// until its cached answer runs out.
	CacheFor time.Duration
	// CacheLimit bounds the number of cached answers. Default
	// DefaultIntrospectionLimit.
	CacheLimit int
	HTTPClient *http.Client
	Logger     *slog.Logger
	Now        func() time.Time
}

// Introspector checks opaque tokens by asking the authorization server
// (RFC 7662), with a cache bounded by each token's exp.
type Introspector struct {
	opts  IntrospectionOptions
	cache *tokenCache
}

// NewIntrospector discovers the endpoint if needed.
func NewIntrospector(ctx context.Context, opts IntrospectionOptions) (*Introspector, error) {
	if opts.Issuer == "" {
		return nil, errors.New("auth: introspection: an issuer is required")
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.CacheFor <= 0 {
		opts.CacheFor = DefaultIntrospectionCache
	}
	if opts.CacheLimit <= 0 {
		opts.CacheLimit = DefaultIntrospectionLimit
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.URL == "" {
		md, err := DiscoverIssuer(ctx, opts.HTTPClient, opts.Issuer)
		if err != nil {
			return nil, err
		}
		if md.IntrospectionEndpoint == "" {
			return nil, fmt.Errorf("auth: the metadata of issuer %s has no introspection_endpoint; set the introspection URL", opts.Issuer)
		}
		opts.URL = md.IntrospectionEndpoint
	}
	return &Introspector{opts: opts, cache: newTokenCache(opts.CacheLimit)}, nil
}

// URL returns the introspection endpoint in use.
func (in *Introspector) URL() string { return in.opts.URL }

// Close implements io.Closer; there is nothing to stop.
func (in *Introspector) Close() error { return nil }

// Verify implements Verifier.
func (in *Introspector) Verify(ctx context.Context, token string) (*TokenInfo, error) {
	now := in.opts.Now()
	if info, ok := in.cache.get(token, now); ok {
		if info == nil {
			return nil, fmt.Errorf("%w: inactive (cached)", ErrInvalidToken)
		}
		return info, nil
	}
	info, until, err := in.introspect(ctx, token, now)
	if err != nil && !errors.Is(err, ErrInvalidToken) {
		return nil, err
	}
	in.cache.put(token, info, until, now)
	return info, err
}

// introspect asks the endpoint; it returns the information and how long it
// may be reused.
func (in *Introspector) introspect(ctx context.Context, token string, now time.Time) (*TokenInfo, time.Time, error) {
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.opts.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, time.Time{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(in.opts.ClientID), url.QueryEscape(in.opts.ClientSecret))
	resp, err := in.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: introspection: %v", errUnavailable, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, time.Time{}, fmt.Errorf("%w: introspection answered %s", errUnavailable, resp.Status)
	}
	var claims map[string]any
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&claims); err != nil {
		return nil, time.Time{}, fmt.Errorf("%w: introspection: %v", errUnavailable, err)
	}
	// An inactive answer is cached briefly: a client retrying a bad token
	// does not reach the server each time.
	short := now.Add(min(in.opts.CacheFor, 5*time.Second))
	if active, _ := claims["active"].(bool); !active {
		return nil, short, fmt.Errorf("%w: the authorization server says the token is not active", ErrInvalidToken)
	}
	if iss, _ := claims["iss"].(string); iss != "" && iss != in.opts.Issuer {
		return nil, short, fmt.Errorf("%w: issued by %q, not %q", ErrInvalidToken, iss, in.opts.Issuer)
	}
	exp, ok := number(claims["exp"])
	if ok && !now.Before(time.Unix(int64(exp), 0)) {
		return nil, short, fmt.Errorf("%w: expired", ErrInvalidToken)
	}
	info, err := claimsInfo(in.opts.Issuer, claims)
	if err != nil {
		return nil, short, err
	}
	until := now.Add(in.opts.CacheFor)
	if ok && time.Unix(int64(exp), 0).Before(until) {
		until = time.Unix(int64(exp), 0)
	}
	return info, until, nil
}
