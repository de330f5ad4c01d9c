package metrics

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// authReasons is the fixed label set of mooring_auth_refused_total: why the
// auth middleware refused a request (see auth.Options.OnRefuse).
var authReasons = []string{"missing_token", "invalid_request", "invalid_token", "insufficient_scope", "unavailable"}

func newAuthMetrics(reg *prometheus.Registry) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mooring_auth_refused_total",
		Help: "Requests to an MCP endpoint refused by authorization: missing_token (401 without a token), invalid_request (400, malformed), invalid_token (401), insufficient_scope (403), unavailable (503, the issuer could not be asked).",
	}, []string{"reason"})
	for _, r := range authReasons {
		c.WithLabelValues(r) // every series from the start, at 0
	}
	reg.MustRegister(c)
	return c
}

// AuthRefused counts one request refused for reason; reasons outside the
// fixed set are not counted. It is auth.Options.OnRefuse.
func (m *Metrics) AuthRefused(reason string) {
	if slices.Contains(authReasons, reason) {
		m.authRefused.WithLabelValues(reason).Inc()
	}
}
