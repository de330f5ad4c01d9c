package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"

	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/tasks"
	"github.com/mooring-dev/mooring/transport"
)

// admin serves /admin/sessions for `mooring sessions --url`, so that a
// running mooring can be asked about its sessions (its bolt file is locked
// while it runs). Session ids are secrets, so only a local program is
// answered: a loopback peer, naming a loopback host (or one of
// allowedHosts) in Host, through no proxy, and not from a browser page
// (no Origin, unless one of allowedOrigins). The Host and Origin checks are
// what stop a page whose domain rebinds to 127.0.0.1 (DNS rebinding): its
// requests come from a loopback peer too.
type admin struct {
	store store.Store
	mgrs  []*session.Manager // one per MCP server behind mooring
	tasks *tasks.Manager     // /admin/tasks; nil: not served
	// allowedHosts and allowedOrigins are --allowed-hosts and
	// --allowed-origins; "*" among the origins does not open the admin API
	// to every page.
	allowedHosts, allowedOrigins []string
}

func (a *admin) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/sessions", a.local(a.list))
	mux.HandleFunc("GET /admin/sessions/{id}", a.local(a.show))
	mux.HandleFunc("DELETE /admin/sessions/{id}", a.local(a.end))
	a.registerTasks(mux)
}

// proxyHeaders mark a request that a proxy passed on: it comes from
// elsewhere even when the proxy is a loopback peer. Present is enough, even
// empty.
var proxyHeaders = []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "X-Real-Ip", "Via"}

func (a *admin) local(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if reason := a.refuse(r); reason != "" {
			http.Error(w, "the admin API answers local programs only: "+reason, http.StatusForbidden)
			return
		}
		h(w, r)
	}
}

// refuse says why r may not use the admin API, or "" if it may.
func (a *admin) refuse(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return "not a loopback peer"
	}
	for _, k := range proxyHeaders {
		if _, ok := r.Header[k]; ok {
			return "proxied request (" + k + ")"
		}
	}
	name := r.Host
	if hn, _, err := net.SplitHostPort(name); err == nil {
		name = hn
	}
	if !transport.IsLoopbackName(name) && !slices.Contains(a.allowedHosts, name) {
		return "Host is not a loopback name"
	}
	if origins, ok := r.Header["Origin"]; ok {
		if len(origins) != 1 || origins[0] == "*" || !slices.Contains(a.allowedOrigins, origins[0]) {
			return "requests from web pages (Origin) are refused"
		}
	}
	return ""
}

type sessionPage struct {
	Sessions []string `json:"sessions"`
	Next     string   `json:"next,omitempty"`
	// Principals maps a session id to who it belongs to (--auth); ids of
	// sessions made without authentication are left out.
	Principals map[string]string `json:"principals,omitempty"`
}

func (a *admin) list(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	ids, next, err := a.store.ListSessions(r.Context(), r.URL.Query().Get("cursor"), limit)
	if err != nil {
		adminError(w, err)
		return
	}
	if ids == nil {
		ids = []string{}
	}
	writeJSON(w, sessionPage{Sessions: ids, Next: next, Principals: session.Principals(r.Context(), a.store, ids)})
}

func (a *admin) show(w http.ResponseWriter, r *http.Request) {
	info, err := session.Inspect(r.Context(), a.store, r.PathValue("id"))
	if err != nil {
		adminError(w, err)
		return
	}
	writeJSON(w, info)
}

func (a *admin) end(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	// Only the manager of the session's server knows it (the record names
	// the server); the others answer not found.
	var err error
	ended := false
	for _, m := range a.mgrs {
		switch e := m.End(r.Context(), id); {
		case e == nil:
			ended = true
		case errors.Is(e, session.ErrNotFound):
		case err == nil:
			err = e
		}
	}
	if err == nil && !ended {
		err = fmt.Errorf("%w: %s", session.ErrNotFound, id)
	}
	var re *session.RemoteError
	if errors.As(err, &re) {
		// Another replica holds it: end it there, as a client's DELETE would.
		err = endRemote(r.Context(), re.OwnerURL, id)
	}
	if err != nil {
		adminError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// adminError answers 404 for a session or task that is not known, 503
// while the store cannot be reached, 500 otherwise.
func adminError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	switch {
	case errors.Is(err, session.ErrNotFound), errors.Is(err, tasks.ErrNotFound):
		status = http.StatusNotFound
	case errors.Is(err, store.ErrUnavailable):
		status = http.StatusServiceUnavailable
	}
	http.Error(w, err.Error(), status)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// endRemote sends the MCP DELETE for session id to the replica that owns it.
func endRemote(ctx context.Context, ownerURL, id string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, ownerURL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Mcp-Session-Id", id)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("ending session %s at its owner %s: %w", id, ownerURL, err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent, http.StatusOK:
		return nil
	case http.StatusNotFound:
		return fmt.Errorf("%w: %s", session.ErrNotFound, id)
	}
	return fmt.Errorf("ending session %s at its owner %s: %s", id, ownerURL, resp.Status)
}
