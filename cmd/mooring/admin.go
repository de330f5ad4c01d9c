package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store"
)

// admin serves /admin/sessions for `mooring sessions --url`, so that a
// running mooring can be asked about its sessions (its bolt file is locked
// while it runs). Only loopback peers are answered: session ids are secrets.
type admin struct {
	store store.Store
	mgrs  []*session.Manager // one per MCP server behind mooring
}

func (a *admin) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /admin/sessions", a.local(a.list))
	mux.HandleFunc("GET /admin/sessions/{id}", a.local(a.show))
	mux.HandleFunc("DELETE /admin/sessions/{id}", a.local(a.end))
}

func (a *admin) local(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			http.Error(w, "the admin API answers loopback clients only", http.StatusForbidden)
			return
		}
		// A reverse proxy on the same host is a loopback peer too: what it
		// forwards comes from elsewhere.
		if r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != "" || r.Header.Get("X-Real-Ip") != "" {
			http.Error(w, "the admin API does not answer proxied requests", http.StatusForbidden)
			return
		}
		h(w, r)
	}
}

type sessionPage struct {
	Sessions []string `json:"sessions"`
	Next     string   `json:"next,omitempty"`
}

func (a *admin) list(w http.ResponseWriter, r *http.Request) {
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 {
		limit = 100
	}
	limit = min(limit, 1000)
	ids, next, err := a.store.ListSessions(r.Context(), r.URL.Query().Get("cursor"), limit)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if ids == nil {
		ids = []string{}
	}
	writeJSON(w, sessionPage{Sessions: ids, Next: next})
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

// adminError answers 404 for a session that is not known, 500 otherwise.
func adminError(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	if errors.Is(err, session.ErrNotFound) {
		status = http.StatusNotFound
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
