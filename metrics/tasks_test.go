package metrics

import (
	"testing"
	"time"
)

// Task counts keep to the fixed status set; terminal statuses are timed.
func TestTaskStatus_FixedLabelsAndDurations(t *testing.T) {
	m := New(Options{ActiveTasks: func() int { return 3 }})
	m.TaskStatus("working", 0)
	m.TaskStatus("completed", 2*time.Second)
	m.TaskStatus("whatever-a-bug-sends", 0)
	families, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts, durations, active := map[string]float64{}, map[string]uint64{}, -1.0
	for _, f := range families {
		for _, s := range f.GetMetric() {
			status := ""
			for _, l := range s.GetLabel() {
				status = l.GetValue()
			}
			switch f.GetName() {
			case "mooring_tasks_total":
				counts[status] = s.GetCounter().GetValue()
			case "mooring_task_duration_seconds":
				durations[status] = s.GetHistogram().GetSampleCount()
			case "mooring_tasks_active":
				active = s.GetGauge().GetValue()
			}
		}
	}
	if len(counts) != len(taskStatuses) || counts["working"] != 1 || counts["completed"] != 1 || counts["failed"] != 0 {
		t.Fatalf("mooring_tasks_total: %v", counts)
	}
	if len(durations) != 1 || durations["completed"] != 1 {
		t.Fatalf("mooring_task_duration_seconds: %v", durations)
	}
	if active != 3 {
		t.Fatalf("mooring_tasks_active = %v", active)
	}
}
