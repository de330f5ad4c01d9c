package redisstore

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/redis/rueidis"
)

// CheckURL reports, without connecting, whether raw is a URL the store
// can use (see the package doc): a malformed URL is a configuration error
// that no retry heals.
func CheckURL(raw string) error {
	if _, err := clientOption(raw); err != nil {
		return fmt.Errorf("redisstore: %w", err)
	}
	return nil
}

// clientOption turns a URL (see the package doc) into rueidis options.
func clientOption(raw string) (rueidis.ClientOption, error) {
	expanded, err := normalizeURL(raw)
	if err != nil {
		return rueidis.ClientOption{}, err
	}
	opt, err := rueidis.ParseURL(expanded)
	if err != nil {
		return rueidis.ClientOption{}, fmt.Errorf("parse URL: %w", err)
	}
	u, err := url.Parse(expanded)
	if err != nil {
		return rueidis.ClientOption{}, fmt.Errorf("parse URL: %w", err)
	}
	q := u.Query()
	if opt.Sentinel.MasterSet != "" {
		// ParseURL gives the URL's credentials and TLS to the master only;
		// sentinels get their own.
		opt.Sentinel.Username = q.Get("sentinel_user")
		opt.Sentinel.Password = q.Get("sentinel_password")
		if opt.TLSConfig != nil {
			opt.Sentinel.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: opt.TLSConfig.InsecureSkipVerify}
		}
	}
	if opt.TLSConfig != nil {
		// ParseURL names the first host as the TLS server name, but Cluster
		// nodes and a Sentinel's master are other hosts. Left empty, the
		// name is taken from each address dialed.
		opt.TLSConfig.ServerName = ""
	}
	if opt.ClientName == "" {
		opt.ClientName = "mooring"
	}
	// The store does not use client-side caching; turning it off also keeps
	// servers without CLIENT TRACKING (RESP2 only) usable.
	opt.DisableCache = true
	return opt, nil
}

// normalizeURL rewrites the URL forms of the package doc into what
// rueidis.ParseURL reads: redis://h1,h2:7001,h3/... becomes
// redis://h1:6379/...?addr=h2:7001&addr=h3:6379 (ParseURL would give a
// portless addr the first host's name), and an empty path "/", as in
// redis://host/?master_set=x, is dropped (ParseURL reads it as a database
// number).
func normalizeURL(raw string) (string, error) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "", fmt.Errorf("URL %q: no scheme (want redis://, rediss://, ...)", redact(raw))
	}
	if scheme == "unix" {
		return raw, nil
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	userinfo, hosts := "", authority
	if i := strings.LastIndexByte(authority, '@'); i >= 0 {
		userinfo, hosts = authority[:i+1], authority[i+1:]
	}
	list := strings.Split(hosts, ",")
	for i, h := range list {
		if h == "" && len(list) > 1 {
			return "", fmt.Errorf("URL %q: empty host in list", redact(raw))
		}
		list[i] = withPort(h)
	}
	u, err := url.Parse(scheme + "://" + userinfo + list[0] + tail)
	if err != nil {
		return "", fmt.Errorf("URL %q: %w", redact(raw), err)
	}
	if u.Path == "/" {
		u.Path = ""
	}
	if len(list) > 1 {
		q := u.Query()
		q["addr"] = append(list[1:], q["addr"]...)
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// withPort adds Redis' default port to a host that has none.
func withPort(host string) string {
	if host == "" {
		return host
	}
	if _, _, err := net.SplitHostPort(host); err == nil {
		return host
	}
	return net.JoinHostPort(strings.Trim(host, "[]"), "6379")
}

// redact hides a password in a URL for error messages.
func redact(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "<unparsable URL>"
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	i := strings.LastIndexByte(authority, '@')
	if i < 0 {
		return raw
	}
	user, _, _ := strings.Cut(authority[:i], ":")
	return scheme + "://" + user + ":xxxxx@" + rest[i+1:]
}
