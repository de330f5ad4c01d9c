package e2e

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"
)

// A task that can finish within --drain-grace is not cut off by SIGTERM:
// in both eras it completes, and the restarted process answers with its
// result.
func TestTasks_SIGTERMLetsRunningTasksFinish(t *testing.T) {
	for _, era := range []string{"2025-11-25", "2026-07-28"} {
		t.Run(era, func(t *testing.T) {
			args := append(storeArgs(t, "bolt"), "--drain-grace", "20s", "--task-tools", "slow_compute")
			addr := freeAddr(t)
			p := start(t, addr, args...)
			var sid, id string
			if era == "2026-07-28" {
				id = startTask(t, p, 3, "drain-"+era)
			} else {
				id = sessionTask(t, p.url(), &sid, 3, "drain-"+era)
			}
			time.Sleep(500 * time.Millisecond)
			p.sigterm(t)
			p2 := start(t, addr, args...)
			var status string
			var got json.RawMessage
			if era == "2026-07-28" {
				res := awaitTask(t, p2.url(), "", id)
				status = fmt.Sprint(res["status"])
				got, _ = json.Marshal(res)
			} else {
				got = sessionPost(t, p2.url(), &sid, 3, "tasks/get", map[string]any{"taskId": id})
				var r struct{ Status string }
				_ = json.Unmarshal(got, &r)
				status = r.Status
			}
			if status != "completed" {
				t.Fatalf("task after SIGTERM and restart: %s; want completed (it had 2.5 s left of a 20 s grace)\nfirst process:\n%s", got, p.logs())
			}
		})
	}
}

// A 2025-11-25 task of a retryable tool still running when the drain's
// grace runs out is run again by the next process (the drain closed its
// session under the call: that is not the task's failure), and completes.
func TestTasks_SIGTERMPastGraceRerunsRetryableTask(t *testing.T) {
	args := append(storeArgs(t, "bolt"), "--drain-grace", "1s", "--task-tools", "slow_compute", "--task-retryable", "slow_compute")
	addr := freeAddr(t)
	p := start(t, addr, args...)
	var sid string
	id := sessionTask(t, p.url(), &sid, 4, "past-grace")
	time.Sleep(300 * time.Millisecond) // the call is under way
	p.sigterm(t)
	p2 := start(t, addr, args...)
	deadline := time.Now().Add(60 * time.Second)
	for n := 3; ; n++ {
		got := sessionPost(t, p2.url(), &sid, n, "tasks/get", map[string]any{"taskId": id})
		var r struct{ Status, StatusMessage string }
		_ = json.Unmarshal(got, &r)
		if r.Status == "completed" {
			return
		}
		if r.Status != "working" || time.Now().After(deadline) {
			t.Fatalf("task after SIGTERM past the grace and restart: %s; want it run again to completed\nfirst process:\n%s", got, p.logs())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
