package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// These tests kill -9 the real binary while a 2026-07-28 task runs on it
// and check what the next process makes of the task: a tool that is not
// idempotent fails with an error saying its process stopped; one marked
// retryable (--task-retryable) runs again and completes.

// startTask calls slow_compute on p as a 2026-07-28 client that declared
// the tasks extension and returns the task id.
func startTask(t *testing.T, p *proc, seconds int, label string) string {
	t.Helper()
	res, e := modern(t, p.url(), "", "tools/call", map[string]any{"name": "slow_compute", "arguments": map[string]any{"seconds": seconds, "label": label}})
	id, _ := res["taskId"].(string)
	if e != "" || id == "" || res["status"] != "working" {
		t.Fatalf("slow_compute: %v %s; want a working task", res, e)
	}
	return id
}

// awaitTask polls tasks/get (2026-07-28, with token) on url until the
// task's status is one of want, or any terminal one when want is empty. A
// task that ends otherwise, or 60 s without the status, fails the test.
func awaitTask(t *testing.T, url, token, id string, want ...string) map[string]any {
	t.Helper()
	terminal := []string{"completed", "failed", "cancelled"}
	if len(want) == 0 {
		want = terminal
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, e := modern(t, url, token, "tasks/get", map[string]any{"taskId": id})
		if e != "" {
			t.Fatalf("tasks/get of %s: %s", id, e)
		}
		status, _ := res["status"].(string)
		if slices.Contains(want, status) {
			return res
		}
		if slices.Contains(terminal, status) || time.Now().After(deadline) {
			t.Fatalf("task %s: %v; want status %v", id, res, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkOutcome checks a task cut off by a kill: failed with the clear
// error, or (retryable) completed by its re-run.
func checkOutcome(t *testing.T, got map[string]any, retryable bool, label string) {
	t.Helper()
	if retryable {
		res, _ := got["result"].(map[string]any)
		if got["status"] != "completed" || !strings.Contains(firstText(res), label) {
			t.Fatalf("retryable task after the kill: %v; want completed by its re-run", got)
		}
		return
	}
	e, _ := got["error"].(map[string]any)
	msg, _ := e["message"].(string)
	if got["status"] != "failed" || !strings.Contains(msg, "stopped before the task finished") {
		t.Fatalf("task after the kill: %v; want failed, saying its process stopped", got)
	}
}

// The task survives kill -9 of mooring: the restarted process (same store)
// answers for it and settles it.
func TestTasks_Kill9(t *testing.T) {
	for _, kind := range []string{"bolt", "redis"} {
		for _, retryable := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/retryable=%v", kind, retryable), func(t *testing.T) {
				args := append(storeArgs(t, kind), "--lease-ttl", "2s")
				if retryable {
					args = append(args, "--task-retryable", "slow_compute")
				}
				addr := freeAddr(t)
				p := start(t, addr, args...)
				label := "kill9-" + kind
				id := startTask(t, p, 3, label)
				p.kill()
				p2 := start(t, addr, args...)
				checkOutcome(t, awaitTask(t, p2.url(), "", id), retryable, label)
			})
		}
	}
}

// Two replicas on one Redis: the task is created on A and polled on B
// while A runs it (B leaves it alone across several of A's lease
// renewals); A is killed, and B settles it once A's lease has run out.
func TestTasks_TwoReplicasRedisKill9(t *testing.T) {
	for _, retryable := range []bool{false, true} {
		t.Run(fmt.Sprint("retryable=", retryable), func(t *testing.T) {
			args := append(redisArgs(t), "--lease-ttl", "3s")
			if retryable {
				args = append(args, "--task-retryable", "slow_compute")
			}
			a := start(t, freeAddr(t), args...)
			b := start(t, freeAddr(t), args...)
			// 8 s: still running when A is killed, after B's 5 s of polls.
			id := startTask(t, a, 8, "two-replicas")
			for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
				got, e := modern(t, b.url(), "", "tasks/get", map[string]any{"taskId": id})
				if e != "" || got["status"] != "working" {
					t.Fatalf("on B while A runs the task: %v %s", got, e)
				}
			}
			a.kill()
			checkOutcome(t, awaitTask(t, b.url(), "", id), retryable, "two-replicas")
		})
	}
}

// tasks/cancel on B of a task that A runs: B answers at once (the task is
// cancelled in the store), and A's call stops at its next lease renewal.
func TestTasks_CancelOnOtherReplica(t *testing.T) {
	args := append(redisArgs(t), "--lease-ttl", "2s")
	a := start(t, freeAddr(t), args...)
	b := start(t, freeAddr(t), args...)
	id := startTask(t, a, 60, "cancel-elsewhere")
	if _, e := modern(t, b.url(), "", "tasks/cancel", map[string]any{"taskId": id}); e != "" {
		t.Fatalf("tasks/cancel on B: %s", e)
	}
	if got, e := modern(t, a.url(), "", "tasks/get", map[string]any{"taskId": id}); e != "" || got["status"] != "cancelled" {
		t.Fatalf("on A after the cancel: %v %s", got, e)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(a.logs(), "slow_compute stopped before its time") {
		if time.Now().After(deadline) {
			t.Fatalf("A's call did not stop:\n%s", a.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
