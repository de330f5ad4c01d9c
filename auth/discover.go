package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// IssuerMetadata is what mooring reads of an authorization server's metadata
// (RFC 8414, OpenID Connect Discovery).
type IssuerMetadata struct {
	Issuer                string `json:"issuer"`
	JWKSURI               string `json:"jwks_uri"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
}

// DiscoverIssuer fetches the metadata of issuer: RFC 8414's
// /.well-known/oauth-authorization-server (inserted before the issuer's
// path), then OpenID Connect's /.well-known/openid-configuration (appended to
// it, then inserted). The document must name issuer exactly (RFC 8414 §3.3),
// or a metadata document could speak for another issuer.
func DiscoverIssuer(ctx context.Context, client *http.Client, issuer string) (*IssuerMetadata, error) {
	u, err := url.Parse(issuer)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("auth: issuer %q: want an https URL", issuer)
	}
	path := strings.TrimSuffix(u.Path, "/")
	origin := u.Scheme + "://" + u.Host
	candidates := []string{
		origin + "/.well-known/oauth-authorization-server" + path,
		origin + path + "/.well-known/openid-configuration",
	}
	if path != "" {
		// Without a path, inserted and appended are the same URL: asked
		// twice, its failure was reported twice too.
		candidates = append(candidates, origin+"/.well-known/openid-configuration"+path)
	}
	var errs []error
	for _, c := range candidates {
		md, err := fetchMetadata(ctx, client, c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if md.Issuer != issuer {
			errs = append(errs, fmt.Errorf("%s names issuer %q, not %q", c, md.Issuer, issuer))
			continue
		}
		return md, nil
	}
	return nil, fmt.Errorf("auth: discovering issuer %s: %w", issuer, errors.Join(errs...))
}

func fetchMetadata(ctx context.Context, client *http.Client, u string) (*IssuerMetadata, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", u, resp.Status)
	}
	var md IssuerMetadata
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&md); err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	return &md, nil
}
