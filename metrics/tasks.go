package metrics

import (
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// taskStatuses is the fixed label set of mooring_tasks_total: the
// statuses a task enters (working at creation and on a re-run).
var taskStatuses = []string{"working", "input_required", "completed", "failed", "cancelled"}

type taskMetrics struct {
	total    *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newTaskMetrics(reg *prometheus.Registry, active func() int) taskMetrics {
	tm := taskMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mooring_tasks_total",
			Help: "Tasks entering a status, counted by the process that committed it: working (created, or run again after its process stopped), input_required, completed, failed, cancelled.",
		}, []string{"status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mooring_task_duration_seconds",
			Help:    "Time from a task's creation to its terminal status, by that status.",
			Buckets: []float64{.01, .05, .1, .5, 1, 5, 10, 30, 60, 300, 1800, 3600},
		}, []string{"status"}),
	}
	for _, s := range taskStatuses {
		tm.total.WithLabelValues(s) // every series from the start, at 0
	}
	reg.MustRegister(tm.total, tm.duration)
	if active != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "mooring_tasks_active", Help: "Tasks running in this process."},
			func() float64 { return float64(active()) }))
	}
	return tm
}

// TaskStatus counts a task entering status; for a terminal one, age is
// its time since creation. It implements tasks.Metrics. Statuses outside
// the fixed set are not counted.
func (m *Metrics) TaskStatus(status string, age time.Duration) {
	if !slices.Contains(taskStatuses, status) {
		return
	}
	m.tasks.total.WithLabelValues(status).Inc()
	switch status {
	case "completed", "failed", "cancelled":
		m.tasks.duration.WithLabelValues(status).Observe(age.Seconds())
	}
}
