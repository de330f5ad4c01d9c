package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/mooring-dev/mooring/internal/redistest"
)

// adminStatus sends method to /admin/sessions[/id] of s with the given Host
// (empty: the listener's address) and headers, and returns the status.
func adminStatus(t *testing.T, s *server, method, id, host string, hdr map[string]string) int {
	t.Helper()
	url := s.url() + "/admin/sessions"
	if id != "" {
		url += "/" + id
	}
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range hdr {
		req.Header[k] = []string{v}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A page whose domain rebinds to 127.0.0.1 reaches mooring from a loopback
// peer: its Host and Origin name the foreign site, and the admin API must
// refuse it. So must it refuse what a proxy passed on, even with an empty
// forwarding header.
func TestAdmin_RefusesRebindingAndProxies(t *testing.T) {
	s := startServer(t, "--store", "memory", "--allowed-hosts", "mooring.internal", "--allowed-origins", "*,http://tool.internal")
	cs := connect(t, s.url())
	if _, err := cs.ListTools(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(s.addr)
	evil := "evil.example:" + port
	for _, tc := range []struct {
		name   string
		method string
		host   string
		hdr    map[string]string
		want   int
	}{
		{"local list", "GET", "", nil, http.StatusOK},
		{"localhost name", "GET", "localhost:" + port, nil, http.StatusOK},
		{"allowed host", "GET", "mooring.internal:" + port, nil, http.StatusOK},
		{"allowed origin", "GET", "", map[string]string{"Origin": "http://tool.internal"}, http.StatusOK},
		{"rebinding list", "GET", evil, map[string]string{"Origin": "http://" + evil}, http.StatusForbidden},
		{"rebinding host only", "GET", evil, nil, http.StatusForbidden},
		{"rebinding end", "DELETE", evil, map[string]string{"Origin": "http://" + evil}, http.StatusForbidden},
		{"foreign origin, local host", "DELETE", "", map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
		{"loopback origin", "GET", "", map[string]string{"Origin": "http://localhost:3000"}, http.StatusForbidden},
		{"wildcard does not open admin", "GET", "", map[string]string{"Origin": "http://other.example"}, http.StatusForbidden},
		{"empty X-Forwarded-For", "GET", "", map[string]string{"X-Forwarded-For": ""}, http.StatusForbidden},
		{"X-Forwarded-Host", "GET", "", map[string]string{"X-Forwarded-Host": "a.example"}, http.StatusForbidden},
		{"empty Forwarded", "GET", "", map[string]string{"Forwarded": ""}, http.StatusForbidden},
	} {
		id := ""
		if tc.method == "DELETE" {
			id = cs.ID()
		}
		if got := adminStatus(t, s, tc.method, id, tc.host, tc.hdr); got != tc.want {
			t.Errorf("%s: %s with Host %q, headers %v: status %d, want %d", tc.name, tc.method, tc.host, tc.hdr, got, tc.want)
		}
	}
	// Every refused DELETE left the session alone.
	if _, err := cs.ListTools(context.Background(), nil); err != nil {
		t.Fatalf("the session was ended by a refused request: %v", err)
	}
	if got := adminStatus(t, s, "DELETE", cs.ID(), "", nil); got != http.StatusNoContent {
		t.Fatalf("local DELETE: status %d, want 204", got)
	}
}

// Probes and scrapers address mooring by its pod IP or any name: /healthz,
// /readyz and /metrics answer a foreign Host (they hold no session ids).
func TestProbes_AnswerAnyHost(t *testing.T) {
	s := startServer(t, "--store", "memory")
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		req, _ := http.NewRequest("GET", s.url()+path, nil)
		req.Host = "10.1.2.3:8080"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s with a foreign Host: %d", path, resp.StatusCode)
		}
	}
}

// While the store cannot be reached the admin API says so, 503, for
// sessions as for tasks, rather than a 500 that reads like a bug.
func TestAdmin_StoreUnavailableIs503(t *testing.T) {
	r := redistest.Start(t)
	c := &config{Store: "redis", RedisURL: r.URL(), StoreFallback: "fail", SessionTTL: 60, MaxEvents: 10, MaxBytes: 1 << 20}
	opened, err := openStore(context.Background(), c, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer opened.Close()
	tm, err := newTaskManager(c, opened, "test", slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tm.Close()
	mux := http.NewServeMux()
	(&admin{store: opened, tasks: tm}).register(mux)
	r.Stop()
	for _, path := range []string{"/admin/sessions", "/admin/sessions/x", "/admin/tasks"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.RemoteAddr = "127.0.0.1:1234"
		req.Host = "127.0.0.1:8080"
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("GET %s with Redis stopped: %d %s, want 503", path, rec.Code, rec.Body)
		}
	}
}
