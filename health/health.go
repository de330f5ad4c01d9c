// Package health tells whether mooring's sessions are safe: the /healthz and
// /readyz endpoints, the session_health_check MCP tool that every client
// sees, and the report behind both.
package health

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store"
)

// Statuses, from best to worst.
const (
	Healthy   = "healthy"
	Degraded  = "degraded"
	Unhealthy = "unhealthy"
)

// Options say what the checker looks at.
type Options struct {
	// Store is the store that sessions use (wrappers included): the live
	// write-read-delete test runs against it.
	Store store.Store
	// Kind is the configured store kind: memory, bolt or redis.
	Kind string
	// Degraded, if set, reports whether the store serves from its memory
	// fallback, and why.
	Degraded func() (bool, error)
	// AllowFallback: readiness holds while degraded (--store-fallback
	// memory); otherwise a degraded store is not ready.
	AllowFallback bool
	// RedisInfo, if set, reads the Redis server's version, used memory and
	// client count.
	RedisInfo func(ctx context.Context) (version string, usedMemory, clients int64, err error)
	// Sessions counts the live sessions of this process.
	Sessions func() int
	// Backends are the MCP servers behind mooring, for the report.
	Backends []Backend
	// Unauthenticated is the address of a non-loopback listener that
	// serves without client authentication (--auth none), "" if none: the
	// report warns and recommends auth.
	Unauthenticated string
	// Tasks, if set, lists a scope's tasks: the report lists the caller's.
	Tasks TaskLister
}

// Backend is one MCP server behind mooring.
type Backend struct {
	Name string `json:"name,omitempty"`
	// Kind is builtin, stdio or http.
	Kind string `json:"kind"`
	// Path is the URL path it is served at.
	Path string `json:"path"`
}

// Checker builds reports.
type Checker struct{ opts Options }

// New returns a checker.
func New(opts Options) *Checker { return &Checker{opts: opts} }

// Report is what a health check found. Its JSON form is the body of
// /readyz and the structuredContent of session_health_check.
type Report struct {
	Status          string        `json:"status"`
	Reasons         []string      `json:"reasons,omitempty"`
	Store           StoreReport   `json:"store"`
	Session         *session.Info `json:"session,omitempty"`
	Tasks           []TaskInfo    `json:"tasks,omitempty"`
	LiveSessions    int           `json:"liveSessions"`
	Backends        []Backend     `json:"backends,omitempty"`
	Redis           *RedisReport  `json:"redis,omitempty"`
	Warnings        []string      `json:"warnings,omitempty"`
	Recommendations []string      `json:"recommendations,omitempty"`
	CheckedAt       time.Time     `json:"checkedAt"`
}

// StoreReport is the state of the store.
type StoreReport struct {
	Kind           string  `json:"kind"`
	Connected      bool    `json:"connected"`
	FallbackActive bool    `json:"fallbackActive"`
	FallbackReason string  `json:"fallbackReason,omitempty"`
	TestOK         bool    `json:"writeReadDeleteOK"`
	TestLatencyMS  float64 `json:"writeReadDeleteLatencyMs"`
	Error          string  `json:"error,omitempty"`
}

// RedisReport is what Redis says of itself.
type RedisReport struct {
	Version         string `json:"version"`
	UsedMemoryBytes int64  `json:"usedMemoryBytes"`
	Clients         int64  `json:"connectedClients"`
}

// Check runs every check. s, if not nil, is the caller's session.
func (c *Checker) Check(ctx context.Context, s *session.Session) Report {
	r := Report{Status: Healthy, CheckedAt: time.Now().UTC(), Store: StoreReport{Kind: c.opts.Kind}, Backends: c.opts.Backends}
	if c.opts.Sessions != nil {
		r.LiveSessions = c.opts.Sessions()
	}
	// The test first: a failing primary switches a fallback store to
	// degraded, which the next lines must see.
	c.storeTest(ctx, &r)
	if c.opts.Degraded != nil {
		if d, why := c.opts.Degraded(); d {
			r.Store.FallbackActive = true
			if why != nil {
				r.Store.FallbackReason = why.Error()
			}
			r.worsen(Degraded, "the store serves from its memory fallback: sessions created now live in this process only until the primary store returns")
			r.Recommendations = append(r.Recommendations, "check that Redis is running and reachable at the configured --redis-url; mooring moves the fallback's sessions into it as soon as it answers")
		}
	}
	r.Store.Connected = r.Store.TestOK && !r.Store.FallbackActive
	if c.opts.Kind == "memory" {
		r.Warnings = append(r.Warnings, "the memory store keeps nothing across a restart")
		r.Recommendations = append(r.Recommendations, "use --store bolt (one process) or --store redis (several replicas) for sessions that survive restarts")
	}
	if c.opts.Unauthenticated != "" {
		r.Warnings = append(r.Warnings, "mooring listens on "+c.opts.Unauthenticated+" without client authentication: anyone who reaches it can use every tool")
		r.Recommendations = append(r.Recommendations, "turn on authentication (--auth jwt with --auth-issuer and --auth-resource; docs/auth.md), or listen on a loopback address")
	}
	if c.opts.RedisInfo != nil && !r.Store.FallbackActive {
		if v, mem, clients, err := c.opts.RedisInfo(ctx); err == nil {
			r.Redis = &RedisReport{Version: v, UsedMemoryBytes: mem, Clients: clients}
		} else {
			r.Warnings = append(r.Warnings, "reading Redis INFO: "+err.Error())
		}
	}
	if s != nil {
		r.Session = c.sessionReport(ctx, s, &r)
	}
	c.taskReport(ctx, s, &r)
	return r
}

func (r *Report) worsen(status, reason string) {
	if rank(status) > rank(r.Status) {
		r.Status = status
	}
	r.Reasons = append(r.Reasons, reason)
}

func rank(status string) int {
	switch status {
	case Degraded:
		return 1
	case Unhealthy:
		return 2
	}
	return 0
}

// storeTest writes, reads back and deletes a throwaway record.
func (c *Checker) storeTest(ctx context.Context, r *Report) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	id := "mooring-health-" + hex.EncodeToString(b)
	want := []byte(`{"health":"` + id + `"}`)
	start := time.Now()
	err := c.opts.Store.PutSession(ctx, store.Record{ID: id, Data: want})
	if err == nil {
		var got store.Record
		got, err = c.opts.Store.GetSession(ctx, id)
		if err == nil && string(got.Data) != string(want) {
			err = errors.New("read back different data than written")
		}
	}
	if derr := c.opts.Store.DeleteSession(ctx, id); err == nil {
		err = derr
	}
	r.Store.TestLatencyMS = float64(time.Since(start).Microseconds()) / 1000
	if err != nil {
		r.Store.Error = err.Error()
		r.worsen(Unhealthy, "the store failed a write-read-delete test: "+err.Error())
		r.Recommendations = append(r.Recommendations, "sessions cannot be saved: check the store's logs, disk space (bolt) or connectivity (redis)")
		return
	}
	r.Store.TestOK = true
	if r.Store.TestLatencyMS > 100 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("the store test took %.0f ms: requests will be slow", r.Store.TestLatencyMS))
	}
}

func (c *Checker) sessionReport(ctx context.Context, s *session.Session, r *Report) *session.Info {
	info, err := session.Inspect(ctx, c.opts.Store, s.ID())
	if err != nil {
		r.Warnings = append(r.Warnings, "reading this session from the store: "+err.Error())
		return &session.Info{Record: s.Record(), Streams: []session.StreamInfo{}}
	}
	return info
}

// Text renders a report for people.
func (r Report) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "status: %s\n", r.Status)
	for _, why := range r.Reasons {
		fmt.Fprintf(&b, "  because: %s\n", why)
	}
	fmt.Fprintf(&b, "store: %s, connected %v, fallback active %v\n", r.Store.Kind, r.Store.Connected, r.Store.FallbackActive)
	if r.Store.TestOK {
		fmt.Fprintf(&b, "store test (write, read, delete): ok in %.2f ms\n", r.Store.TestLatencyMS)
	} else {
		fmt.Fprintf(&b, "store test (write, read, delete): FAILED: %s\n", r.Store.Error)
	}
	fmt.Fprintf(&b, "live sessions in this process: %d\n", r.LiveSessions)
	for _, be := range r.Backends {
		if be.Name != "" {
			fmt.Fprintf(&b, "backend %s: %s at %s\n", be.Name, be.Kind, be.Path)
		} else {
			fmt.Fprintf(&b, "backend: %s at %s\n", be.Kind, be.Path)
		}
	}
	if r.Redis != nil {
		fmt.Fprintf(&b, "redis: version %s, used memory %d bytes, %d clients\n", r.Redis.Version, r.Redis.UsedMemoryBytes, r.Redis.Clients)
	}
	if s := r.Session; s != nil {
		fmt.Fprintf(&b, "your session: %s (protocol %s), %.0f s old, %d events in %d streams\n",
			s.Record.ID, s.Record.ProtocolVersion, time.Since(s.Record.CreatedAt).Seconds(), s.Events, len(s.Streams))
	}
	for _, t := range r.Tasks {
		fmt.Fprintf(&b, "your task %s: %s, %s, created %s\n", t.ID, t.Tool, t.Status, t.CreatedAt.UTC().Format(time.RFC3339))
	}
	for _, w := range r.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	for _, rec := range r.Recommendations {
		fmt.Fprintf(&b, "recommendation: %s\n", rec)
	}
	return b.String()
}

// Healthz answers whether the process is alive: always 200 while it serves.
func Healthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"alive"}` + "\n"))
}

// Readyz answers 200 when sessions can be served safely, 503 otherwise, with
// the report as the body.
func (c *Checker) Readyz(w http.ResponseWriter, r *http.Request) {
	rep := c.Check(r.Context(), nil)
	ready := rep.Status == Healthy || (rep.Status == Degraded && c.opts.AllowFallback && rep.Store.TestOK)
	body, _ := json.MarshalIndent(struct {
		Ready bool `json:"ready"`
		Report
	}{ready, rep}, "", "  ")
	w.Header().Set("Content-Type", "application/json")
	if !ready {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = w.Write(append(body, '\n'))
}
