package auth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// WellKnownPath is where Protected Resource Metadata lives (RFC 9728 §3).
const WellKnownPath = "/.well-known/oauth-protected-resource"

// ProtectedResourceMetadata is go-sdk's RFC 9728 document.
type ProtectedResourceMetadata = oauthex.ProtectedResourceMetadata

// MetadataPath returns the path of resource's metadata document: the
// well-known prefix inserted before the resource URL's path (RFC 9728
// §3.1), "/.well-known/oauth-protected-resource/mcp" for
// "https://host/mcp".
func MetadataPath(resource string) (string, error) {
	u, err := parseResource(resource)
	if err != nil {
		return "", err
	}
	return WellKnownPath + strings.TrimSuffix(u.EscapedPath(), "/"), nil
}

// MetadataURL returns the URL of resource's metadata document, on the
// resource's own origin: built from configuration, never from a request's
// Host header, which a client chooses.
func MetadataURL(resource string) (string, error) {
	u, err := parseResource(resource)
	if err != nil {
		return "", err
	}
	p, _ := MetadataPath(resource)
	return u.Scheme + "://" + u.Host + p, nil
}

func parseResource(resource string) (*url.URL, error) {
	u, err := url.Parse(resource)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("auth: resource %q: want an absolute http(s) URL without query or fragment (RFC 8707)", resource)
	}
	return u, nil
}

// MetadataHandler serves md as JSON to anyone (it is public, RFC 9728 §3.1),
// with CORS so that browser-based clients can read it.
func MetadataHandler(md *ProtectedResourceMetadata) http.Handler {
	body, _ := json.Marshal(md)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Header().Set("Access-Control-Allow-Methods", "GET, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", "Content-Type, MCP-Protocol-Version")
		switch r.Method {
		case http.MethodOptions:
			w.WriteHeader(http.StatusNoContent)
		case http.MethodGet, http.MethodHead:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "max-age=300")
			_, _ = w.Write(body)
		default:
			w.Header().Set("Allow", "GET, OPTIONS")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	})
}
