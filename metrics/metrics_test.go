package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// A client chooses the request method freely: the label takes it only from
// a fixed set, so random methods add no series.
func TestHTTP_MethodLabelIsBounded(t *testing.T) {
	m := New(Options{})
	h := m.HTTP(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	}))
	for i := range 200 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(fmt.Sprintf("M%03dXYZ", i), "/mcp", nil))
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/mcp", nil))
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	labels := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "mooring_http_requests_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "method" {
					labels[l.GetValue()] += s.GetCounter().GetValue()
				}
			}
		}
	}
	if len(labels) != 2 || labels["other"] != 200 || labels["POST"] != 1 {
		t.Fatalf("method labels %v, want other=200 and POST=1", labels)
	}
}
