package tasks_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/internal/leakcheck"
	"github.com/mooring-dev/mooring/internal/redistest"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/boltstore"
	"github.com/mooring-dev/mooring/store/redisstore"
	"github.com/mooring-dev/mooring/tasks"
)

// These tests kill -9 a real process that runs a task, then check what
// the next process makes of it. The process is this test binary, run
// again as a helper (TestMain): it opens the store named in the
// environment, creates one task whose runner never returns, prints the
// task's id and waits to be killed.
const helperEnv = "MOORING_TASKS_KILL_HELPER"

func TestMain(m *testing.M) {
	if spec := os.Getenv(helperEnv); spec != "" {
		os.Exit(killHelper(spec))
	}
	// The Manager's goroutines (runners, renewals, sweeps): every test
	// closes its Managers, and Close must wait for them.
	leakcheck.Main(m, "closed Managers", 5*time.Second, "tasks.(*Manager)")
}

// killHelper runs the helper: spec is "bolt <path> <retryable>" or
// "redis <url> <prefix> <retryable>".
func killHelper(spec string) int {
	f := strings.Fields(spec)
	ctx := context.Background()
	var st store.TaskStore
	switch f[0] {
	case "bolt":
		b, err := boltstore.Open(f[1], nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		st = b
	case "redis":
		r, err := redisstore.Open(ctx, &redisstore.Options{URL: f[1], KeyPrefix: f[2]})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		st = r
	}
	// A lease of 3s renewed every second: the test watches it outlive
	// several renewals, even on a loaded machine.
	m := tasks.NewManager(st, &tasks.Options{ReplicaID: "doomed", LeaseTTL: 3 * time.Second})
	tk, err := m.Create(ctx, &tasks.Task{Scope: "s", Tool: "slow", Retryable: f[len(f)-1] == "true"}, func(ctx context.Context, _ *tasks.Task) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(tk.ID)
	select {} // until killed
}

// startDoomed starts the helper and returns the id of its task once it is
// committed, and a function that kills the helper with SIGKILL.
func startDoomed(t *testing.T, spec string) (id string, kill func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+spec)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	kill = func() {
		if !killed {
			killed = true
			_ = cmd.Process.Signal(syscall.SIGKILL)
			_ = cmd.Wait()
		}
	}
	t.Cleanup(kill)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("helper: %v", err)
	}
	return strings.TrimSpace(line), kill
}

func rerun(context.Context, *tasks.Task) ([]byte, error) { return []byte(`{"rerun":true}`), nil }

func TestKill9_Bolt(t *testing.T) {
	for _, retryable := range []bool{false, true} {
		t.Run(fmt.Sprint("retryable=", retryable), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "mooring.db")
			id, kill := startDoomed(t, fmt.Sprintf("bolt %s %v", path, retryable))
			kill()
			// The restart: the same file, a new process (this one).
			st := openBolt(t, path)
			m := newManager(t, st, &tasks.Options{Exclusive: true, SweepInterval: -1})
			m.SetRunnerFor(func(*tasks.Task) tasks.Runner { return rerun })
			got, err := m.Wait(ctxT(t), id, "s")
			if err != nil {
				t.Fatalf("task after the restart: %v", err)
			}
			checkSettled(t, got, retryable, m)
		})
	}
}

func checkSettled(t *testing.T, got *tasks.Task, retryable bool, m *tasks.Manager) {
	t.Helper()
	if retryable {
		if got.Status != tasks.Completed || string(got.Result) != `{"rerun":true}` || got.Attempts != 2 || got.Runner != m.Self() {
			t.Fatalf("retryable task: %+v", got)
		}
		return
	}
	if got.Status != tasks.Failed || got.Error == nil || !strings.Contains(got.Error.Message, "(doomed/") || !strings.Contains(got.Error.Message, "stopped before the task finished") {
		t.Fatalf("task: %+v (error %+v)", got, got.Error)
	}
}

// Two replicas on one Redis: the task is created on A (the helper),
// polled on B (this process) while A runs it, then A is killed and B
// settles it once A's lease runs out (A is a real process; B's
// SweepInterval is short so that the test does not wait on it).
func TestKill9_RedisTwoReplicas(t *testing.T) {
	url := redistest.Start(t).URL()
	for _, retryable := range []bool{false, true} {
		t.Run(fmt.Sprint("retryable=", retryable), func(t *testing.T) {
			prefix := strings.ReplaceAll(t.Name(), "/", ":") + ":"
			id, kill := startDoomed(t, fmt.Sprintf("redis %s %s %v", url, prefix, retryable))
			b := newManager(t, openRedis(t, url, prefix), &tasks.Options{LeaseTTL: time.Second, SweepInterval: 100 * time.Millisecond})
			b.SetRunnerFor(func(*tasks.Task) tasks.Runner { return rerun })
			ctx := ctxT(t)
			// While A lives, B sees it working, through more than one lease.
			seen, err := b.Get(ctx, id, "s")
			if err != nil || seen.Status != tasks.Working || !strings.HasPrefix(seen.Runner, "doomed/") {
				t.Fatalf("on B while A runs it: %+v %v", seen, err)
			}
			wctx, cancel := context.WithTimeout(ctx, 2500*time.Millisecond)
			_, err = b.Wait(wctx, id, "s")
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) { // or wrapped, from a read it cut short
				t.Fatalf("B's Wait ended while A was alive: %v", err)
			}
			kill()
			got, err := b.Wait(ctx, id, "s")
			if err != nil {
				t.Fatal(err)
			}
			checkSettled(t, got, retryable, b)
		})
	}
}
