// Package metrics exposes mooring's Prometheus metrics, all named mooring_…,
// on a registry of its own (no global state).
package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mooring-dev/mooring/store"
)

// Metrics holds every collector.
type Metrics struct {
	reg            *prometheus.Registry
	sessions       *prometheus.CounterVec
	eventsAppended prometheus.Counter
	eventsReplayed prometheus.Counter
	replaysPurged  prometheus.Counter
	storeLatency   *prometheus.HistogramVec
	storeErrors    *prometheus.CounterVec
	fallback       prometheus.Gauge
	backends       *prometheus.CounterVec
	requests       *prometheus.CounterVec
	repliesDropped prometheus.Counter
	tasks          taskMetrics
	authRefused    *prometheus.CounterVec
}

// Options give the values that are read when scraped.
type Options struct {
	// ActiveSessions counts the live sessions of this process.
	ActiveSessions func() int
	// PayloadBytes returns event payload bytes before and after
	// compression.
	PayloadBytes func() (in, stored int64)
	// Connections returns the HTTP connections open and those shed (closed
	// at once because every slot was taken).
	Connections func() (open int, shed int64)
	// ActiveTasks counts the tasks running in this process.
	ActiveTasks func() int
}

// New registers every collector on a fresh registry.
func New(opts Options) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	f := factory{m.reg}
	m.sessions = f.counterVec("mooring_sessions_total", "Session events: created, restored (into a fresh backend after a restart or on another replica), expired, ended (DELETE), rejected (at --max-live-sessions or --max-stored-sessions: 503).", "event")
	m.eventsAppended = f.counter("mooring_events_appended_total", "Messages appended to the event log.")
	m.eventsReplayed = f.counter("mooring_events_replayed_total", "Events read back from the event log (resumptions, restores).")
	m.replaysPurged = f.counter("mooring_events_purged_replays_total", "Replays refused because the events they needed were removed by the per-session cap or TTL.")
	m.storeLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "mooring_store_operation_seconds", Help: "Latency of store operations.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	}, []string{"op"})
	m.reg.MustRegister(m.storeLatency)
	m.storeErrors = f.counterVec("mooring_store_errors_total", "Store operations that failed (not counting not-found).", "op")
	m.fallback = prometheus.NewGauge(prometheus.GaugeOpts{Name: "mooring_store_fallback_active", Help: "1 while the store serves from its memory fallback (degraded)."})
	m.reg.MustRegister(m.fallback)
	m.backends = f.counterVec("mooring_backend_starts_total", "Backend connections opened: new for a new session, restore for a restored one.", "reason")
	m.repliesDropped = f.counter("mooring_replies_dropped_total", "Client replies dropped because no server request waits for them (never sent, timed out, or answered already).")
	m.requests = f.counterVec("mooring_http_requests_total", "HTTP requests to the MCP endpoint by method and status.", "method", "status")
	if opts.ActiveSessions != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mooring_sessions_active", Help: "Live sessions in this process."},
			func() float64 { return float64(opts.ActiveSessions()) }))
	}
	if opts.PayloadBytes != nil {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mooring_event_bytes_total", Help: "Event payload bytes before compression."},
			func() float64 { in, _ := opts.PayloadBytes(); return float64(in) }))
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mooring_event_bytes_stored_total", Help: "Event payload bytes as stored, after compression."},
			func() float64 { _, out := opts.PayloadBytes(); return float64(out) }))
	}
	m.tasks = newTaskMetrics(m.reg, opts.ActiveTasks)
	m.authRefused = newAuthMetrics(m.reg)
	if opts.Connections != nil {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mooring_http_connections_open", Help: "HTTP connections open on the main listener."},
			func() float64 { n, _ := opts.Connections(); return float64(n) }))
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mooring_http_connections_shed_total", Help: "HTTP connections answered 503 and closed at once: --max-connections and the probes' reserve were taken."},
			func() float64 { _, n := opts.Connections(); return float64(n) }))
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

type factory struct{ reg *prometheus.Registry }

func (f factory) counter(name, help string) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	f.reg.MustRegister(c)
	return c
}

func (f factory) counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	f.reg.MustRegister(c)
	return c
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// SessionEvent counts a session event; its signature fits
// session.Options.OnEvent.
func (m *Metrics) SessionEvent(kind string) {
	if kind == "reply_dropped" {
		m.repliesDropped.Inc()
		return
	}
	m.sessions.WithLabelValues(kind).Inc()
	switch kind {
	case "created":
		m.backends.WithLabelValues("new").Inc()
	case "restored":
		m.backends.WithLabelValues("restore").Inc()
	}
}

// SetFallback records the fallback state; its signature fits
// fallback.Options.OnChange.
func (m *Metrics) SetFallback(active bool, _ error) {
	if active {
		m.fallback.Set(1)
	} else {
		m.fallback.Set(0)
	}
}

// HTTP counts the requests that next serves, by method and status.
func (m *Metrics) HTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		m.requests.WithLabelValues(methodLabel(r.Method), strconv.Itoa(rec.status)).Inc()
	})
}

// methodLabel maps the request method, which the client chooses freely
// (net/http accepts any token), onto a fixed set: one series per value
// sent would let a client grow /metrics and memory without bound.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodDelete, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodPatch:
		return method
	}
	return "other"
}

// statusRecorder remembers the status; Unwrap keeps Flush reachable for
// SSE through http.ResponseController.
type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Instrument wraps st so that every operation is timed and counted.
func (m *Metrics) Instrument(st store.Store) store.Store { return &instrumented{Store: st, m: m} }

type instrumented struct {
	store.Store
	m *Metrics
}

func (s *instrumented) observe(op string, start time.Time, err error) {
	s.m.storeLatency.WithLabelValues(op).Observe(time.Since(start).Seconds())
	if err != nil && !errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrPurged) {
		s.m.storeErrors.WithLabelValues(op).Inc()
	}
}

func (s *instrumented) PutSession(ctx context.Context, rec store.Record) error {
	start := time.Now()
	err := s.Store.PutSession(ctx, rec)
	s.observe("put_session", start, err)
	return err
}

func (s *instrumented) GetSession(ctx context.Context, id string) (store.Record, error) {
	start := time.Now()
	rec, err := s.Store.GetSession(ctx, id)
	s.observe("get_session", start, err)
	return rec, err
}

func (s *instrumented) TouchSession(ctx context.Context, id string) error {
	start := time.Now()
	err := s.Store.TouchSession(ctx, id)
	s.observe("touch_session", start, err)
	return err
}

func (s *instrumented) Append(ctx context.Context, session, stream string, data []byte) (store.EventID, error) {
	start := time.Now()
	id, err := s.Store.Append(ctx, session, stream, data)
	s.observe("append", start, err)
	if err == nil {
		s.m.eventsAppended.Inc()
	}
	return id, err
}

func (s *instrumented) After(ctx context.Context, session string, after store.EventID) ([]store.Event, error) {
	start := time.Now()
	evs, err := s.Store.After(ctx, session, after)
	s.observe("after", start, err)
	if errors.Is(err, store.ErrPurged) {
		s.m.replaysPurged.Inc()
	}
	s.m.eventsReplayed.Add(float64(len(evs)))
	return evs, err
}

func (s *instrumented) Log(ctx context.Context, session string) ([]store.Event, error) {
	start := time.Now()
	evs, err := s.Store.Log(ctx, session)
	s.observe("log", start, err)
	s.m.eventsReplayed.Add(float64(len(evs)))
	return evs, err
}

func (s *instrumented) AppendBatch(ctx context.Context, session, stream string, data [][]byte) ([]store.EventID, error) {
	start := time.Now()
	ids, err := s.Store.AppendBatch(ctx, session, stream, data)
	s.observe("append", start, err)
	s.m.eventsAppended.Add(float64(len(ids)))
	return ids, err
}
