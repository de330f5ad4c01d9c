package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mooring-dev/mooring/auth"
	"github.com/mooring-dev/mooring/transport"
)

// authConfig is how `mooring serve` authenticates its clients (issue 13).
type authConfig struct {
	Auth             string
	AuthIssuer       string
	AuthResource     string
	AuthAudience     string
	AuthJWKSURL      string
	AuthScopes       string
	AuthToolScopes   string
	AuthAlgorithms   string
	AuthHMACFile     string
	AuthClockSkew    time.Duration
	AuthIntrospect   string
	AuthClientID     string
	AuthClientSecret string
	AuthStateSecret  string
}

func (c *authConfig) authFlags(fs *flagSet) {
	fs.str(&c.Auth, "auth", "MOORING_AUTH", "none", "client authentication: none, jwt (signed access tokens, checked locally) or introspection (opaque tokens, RFC 7662)")
	fs.str(&c.AuthIssuer, "auth-issuer", "MOORING_AUTH_ISSUER", "", "the authorization server's issuer URL: tokens must carry it as iss exactly")
	fs.str(&c.AuthResource, "auth-resource", "MOORING_AUTH_RESOURCE", "", "the public URL of the MCP endpoint (--path) as clients reach it: the audience that tokens must name")
	fs.str(&c.AuthAudience, "auth-audience", "MOORING_AUTH_AUDIENCE", "", "other aud values that name this endpoint (comma separated), for issuers that cannot put its URL in aud (Entra ID: the application's client id or api:// URI)")
	fs.str(&c.AuthJWKSURL, "auth-jwks-url", "MOORING_AUTH_JWKS_URL", "", "the issuer's JWKS URL (default: discovered from the issuer's metadata)")
	fs.str(&c.AuthScopes, "auth-scopes", "MOORING_AUTH_SCOPES", "", "scopes every request needs (comma or space separated)")
	fs.str(&c.AuthToolScopes, "auth-tool-scopes", "MOORING_AUTH_TOOL_SCOPES", "", "scopes needed to call a tool: tool=scope[ scope...],tool2=scope (mcpServers entries take toolScopes)")
	fs.str(&c.AuthAlgorithms, "auth-algorithms", "MOORING_AUTH_ALGORITHMS", "", "JWT signature algorithms accepted (default RS*, PS*, ES*, EdDSA; never none; HS* only with --auth-hmac-secret-file)")
	fs.str(&c.AuthHMACFile, "auth-hmac-secret-file", "MOORING_AUTH_HMAC_SECRET_FILE", "", "file holding a shared secret for HS256/384/512 tokens")
	fs.duration(&c.AuthClockSkew, "auth-clock-skew", "MOORING_AUTH_CLOCK_SKEW", auth.DefaultClockSkew, "leeway for a token's exp, nbf and iat")
	fs.str(&c.AuthIntrospect, "auth-introspection-url", "MOORING_AUTH_INTROSPECTION_URL", "", "with --auth introspection: the RFC 7662 endpoint (default: discovered from the issuer's metadata)")
	fs.str(&c.AuthClientID, "auth-client-id", "MOORING_AUTH_CLIENT_ID", "", "with --auth introspection: mooring's client id at the authorization server")
	fs.str(&c.AuthStateSecret, "auth-state-secret-file", "MOORING_AUTH_STATE_SECRET_FILE", "", "file holding a secret, the same on every replica, that binds the requestState of 2026-07-28 input_required results to their user (default: a random key per process)")
	fs.str(&c.AuthClientSecret, "auth-client-secret-file", "MOORING_AUTH_CLIENT_SECRET_FILE", "", "with --auth introspection: file holding mooring's client secret")
}

func (c *authConfig) validateAuth() error {
	switch c.Auth {
	case "none":
		return nil
	case "jwt", "introspection":
	default:
		return fmt.Errorf("--auth %q: want none, jwt or introspection", c.Auth)
	}
	if c.AuthIssuer == "" {
		return fmt.Errorf("--auth %s needs --auth-issuer", c.Auth)
	}
	if c.AuthResource == "" {
		return fmt.Errorf("--auth %s needs --auth-resource: the endpoint's public URL, which tokens must name as audience", c.Auth)
	}
	if _, err := auth.MetadataURL(c.AuthResource); err != nil {
		return fmt.Errorf("--auth-resource: %w", err)
	}
	if _, err := parseToolScopes(c.AuthToolScopes); err != nil {
		return fmt.Errorf("--auth-tool-scopes: %w", err)
	}
	if c.Auth == "introspection" && (c.AuthClientID == "" || c.AuthClientSecret == "") {
		return errors.New("--auth introspection needs --auth-client-id and --auth-client-secret-file (mooring authenticates itself to the introspection endpoint)")
	}
	return nil
}

// parseToolScopes reads "tool=scope scope,tool2=scope".
func parseToolScopes(s string) (map[string][]string, error) {
	out := make(map[string][]string)
	for _, part := range splitList(s) {
		tool, scopes, ok := strings.Cut(part, "=")
		tool = strings.TrimSpace(tool)
		if !ok || tool == "" || len(strings.Fields(scopes)) == 0 {
			return nil, fmt.Errorf("%q: want tool=scope[ scope...]", part)
		}
		out[tool] = append(out[tool], strings.Fields(scopes)...)
	}
	return out, nil
}

// gatekeeper protects mooring's MCP endpoints: one verifier, and per
// endpoint a middleware and its Protected Resource Metadata.
type gatekeeper struct {
	c        *authConfig
	verifier auth.Verifier
	closer   func() error
	scopes   []string
	tools    map[string][]string
	maxBody  int64
	log      *slog.Logger
	served   map[string]bool // metadata paths registered
	stateKey []byte          // binds requestState handles; nil: random
	onRefuse func(reason string)
}

// newGatekeeper returns nil with --auth none.
func newGatekeeper(ctx context.Context, c *config, log *slog.Logger) (*gatekeeper, error) {
	if c.Auth == "none" {
		return nil, nil
	}
	g := &gatekeeper{c: &c.authConfig, scopes: strings.Fields(strings.ReplaceAll(c.AuthScopes, ",", " ")), maxBody: c.MaxBody, log: log}
	g.tools, _ = parseToolScopes(c.AuthToolScopes)
	if c.AuthStateSecret != "" {
		secret, err := secretFile("--auth-state-secret-file", c.AuthStateSecret)
		if err != nil {
			return nil, err
		}
		if len(secret) < 16 {
			return nil, errors.New("--auth-state-secret-file: the secret is shorter than 16 bytes")
		}
		g.stateKey = secret
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	switch c.Auth {
	case "jwt":
		opts := auth.JWTOptions{Issuer: c.AuthIssuer, JWKSURL: c.AuthJWKSURL, ClockSkew: c.AuthClockSkew, Logger: log}
		if c.AuthAlgorithms != "" {
			opts.Algorithms = splitList(c.AuthAlgorithms)
		}
		if c.AuthHMACFile != "" {
			secret, err := secretFile("--auth-hmac-secret-file", c.AuthHMACFile)
			if err != nil {
				return nil, err
			}
			opts.HMACSecret = secret
			if opts.Algorithms == nil {
				opts.Algorithms = append([]string{"HS256", "HS384", "HS512"}, auth.DefaultAlgorithms...)
				if c.AuthJWKSURL == "" {
					opts.Algorithms = opts.Algorithms[:3] // a shared secret alone
				}
			}
		}
		v, err := auth.NewJWTVerifier(dctx, opts)
		if err != nil {
			return nil, err
		}
		g.verifier, g.closer = v, v.Close
		log.Info("auth: JWT access tokens required", "issuer", c.AuthIssuer, "jwks", v.JWKSURL(), "resource", c.AuthResource)
	case "introspection":
		secret, err := secretFile("--auth-client-secret-file", c.AuthClientSecret)
		if err != nil {
			return nil, err
		}
		v, err := auth.NewIntrospector(dctx, auth.IntrospectionOptions{
			Issuer: c.AuthIssuer, URL: c.AuthIntrospect, ClientID: c.AuthClientID,
			ClientSecret: string(secret), Logger: log,
		})
		if err != nil {
			return nil, err
		}
		g.verifier, g.closer = v, v.Close
		log.Info("auth: access tokens checked by introspection", "issuer", c.AuthIssuer, "endpoint", v.URL(), "resource", c.AuthResource)
	}
	return g, nil
}

// secretFile reads the secret in path, which flag names, without the
// white space around it. An empty one stops the start as a missing file
// does: an empty HMAC key or client secret would only fail every request.
func secretFile(flag, path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", flag, err)
	}
	if b = bytes.TrimSpace(b); len(b) == 0 {
		return nil, fmt.Errorf("%s: %s is empty", flag, path)
	}
	return b, nil
}

func (g *gatekeeper) Close() error {
	if g == nil || g.closer == nil {
		return nil
	}
	return g.closer()
}

// protect wraps the handler of endpoint m and serves its metadata document
// on mux. basePath is --path: a server mounted at basePath/<name> is the
// resource --auth-resource/<name>.
func (g *gatekeeper) protect(mux *http.ServeMux, m mount, basePath string, h http.Handler) http.Handler {
	base := strings.TrimSuffix(g.c.AuthResource, "/")
	resource := base + strings.TrimPrefix(m.path, basePath)
	tools := g.tools
	if len(m.toolScopes) > 0 {
		tools = m.toolScopes
	}
	audiences := []string{resource}
	if resource != base {
		audiences = append(audiences, base) // a token for the whole gateway
	}
	audiences = append(audiences, splitList(g.c.AuthAudience)...)
	mdURL, _ := auth.MetadataURL(resource)
	md := &auth.ProtectedResourceMetadata{
		Resource:               resource,
		AuthorizationServers:   []string{g.c.AuthIssuer},
		ScopesSupported:        g.supportedScopes(tools),
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "mooring MCP endpoint " + m.path,
	}
	// The document's path follows the public URL; behind a proxy that
	// changes the path, mooring's own path serves it too.
	pub, _ := auth.MetadataPath(resource)
	paths := []string{pub}
	if local := auth.WellKnownPath + m.path; local != pub {
		paths = append(paths, local)
	}
	for _, p := range paths {
		g.handle(mux, p, auth.MetadataHandler(md))
	}
	return auth.Middleware(auth.Options{
		Verifier:            g.verifier,
		Audiences:           audiences,
		ResourceMetadataURL: mdURL,
		Scopes:              g.scopes,
		ToolScopes:          tools,
		MaxBodyBytes:        g.maxBody,
		ClockSkew:           g.c.AuthClockSkew,
		OnRefuse:            g.onRefuse,
		Logger:              g.log,
	})(h)
}

// handle registers h at path unless a document is there already (the root
// path is also the path form of a resource URL without a path).
func (g *gatekeeper) handle(mux *http.ServeMux, path string, h http.Handler) {
	if g.served == nil {
		g.served = make(map[string]bool)
	}
	if !g.served[path] {
		g.served[path] = true
		mux.Handle(path, h)
	}
}

// root serves the metadata of the gateway as a whole (--auth-resource) at
// the root well-known path, which clients try after the path form.
func (g *gatekeeper) root(mux *http.ServeMux, mounts []mount) {
	var all []string
	for _, m := range mounts {
		all = append(all, g.supportedScopes(m.toolScopes)...)
	}
	all = append(all, g.supportedScopes(g.tools)...)
	slices.Sort(all)
	g.handle(mux, auth.WellKnownPath, auth.MetadataHandler(&auth.ProtectedResourceMetadata{
		Resource:               strings.TrimSuffix(g.c.AuthResource, "/"),
		AuthorizationServers:   []string{g.c.AuthIssuer},
		ScopesSupported:        slices.Compact(all),
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "mooring",
	}))
}

func (g *gatekeeper) supportedScopes(tools map[string][]string) []string {
	out := slices.Clone(g.scopes)
	for _, s := range tools {
		for _, sc := range s {
			if !slices.Contains(out, sc) {
				out = append(out, sc)
			}
		}
	}
	slices.Sort(out)
	return out
}

// loopbackHost reports whether a listen address names a loopback host: an
// empty host, a wildcard or a name listens beyond this machine.
func loopbackHost(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && transport.IsLoopbackName(host)
}

// bindState binds the requestState handles that an in-process server hands
// out (2026-07-28) to their user, as sessions are. serve calls it before it
// adds the tasks extension, whose middleware must be outside the binder:
// the plain calls it makes for tasks then pass the binder once, with the
// caller's token. A nil gatekeeper (no --auth) binds nothing.
func (g *gatekeeper) bindState(m mount) {
	if g != nil && m.server != nil {
		m.server.AddReceivingMiddleware(auth.BindRequestState(g.stateKey))
	}
}
