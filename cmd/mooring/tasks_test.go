package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/store/boltstore"
	"github.com/mooring-dev/mooring/tasks"
)

// seedTask leaves a working task in a bolt store in dir, as a process
// that stopped would (its lease given up), and returns its id.
func seedTask(t *testing.T, dir string) string {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(dir, "mooring.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	m := tasks.NewManager(st, &tasks.Options{SweepInterval: -1})
	tk, err := m.Create(context.Background(), &tasks.Task{Scope: "session:abc", Tool: "slow_compute"}, func(ctx context.Context, _ *tasks.Task) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	m.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return tk.ID
}

func runOut(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), args, &out, &errb); code != 0 {
		t.Fatalf("mooring %s: exit %d\n%s", strings.Join(args, " "), code, errb.String())
	}
	return out.String()
}

// durationsAsText matches a task shown with its durations as text, not as
// nanoseconds ("ttl": 3600000000000).
var durationsAsText = regexp.MustCompile(`(?s)"ttl": "[0-9hms.]+".*"pollInterval": "[0-9hms.]+"`)

func TestTasksCmd_Store(t *testing.T) {
	dir := t.TempDir()
	id := seedTask(t, dir)
	store := []string{"--store", "bolt", "--data-dir", dir}
	if out := runOut(t, append([]string{"tasks", "list"}, store...)...); !strings.Contains(out, id) || !strings.Contains(out, "working") || !strings.Contains(out, "session:abc") {
		t.Fatalf("list:\n%s", out)
	}
	if out := runOut(t, append([]string{"tasks", "list", "--scope", "session:other"}, store...)...); strings.Contains(out, id) {
		t.Fatalf("list of another scope shows the task:\n%s", out)
	}
	if out := runOut(t, append([]string{"tasks", "cancel", id}, store...)...); out != id+" cancelled\n" {
		t.Fatalf("cancel: %q", out)
	}
	if out := runOut(t, append([]string{"tasks", "show", id}, store...)...); !strings.Contains(out, `"status": "cancelled"`) || !durationsAsText.MatchString(out) {
		t.Fatalf("show (want the status, and ttl and pollInterval as text like \"1h0m0s\"):\n%s", out)
	}
}

// A restarted mooring on bolt settles the task that its previous process
// left running: failed, with an error that says why; --url reads it.
func TestTasksCmd_URLAfterRestart(t *testing.T) {
	dir := t.TempDir()
	id := seedTask(t, dir)
	s := startServer(t, "--store", "bolt", "--data-dir", dir)
	url := "http://" + s.addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := runOut(t, "tasks", "list", "--url", url)
		if strings.Contains(out, id) && strings.Contains(out, "failed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the task was not settled after the restart:\n%s", out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out := runOut(t, "tasks", "show", id, "--url", url); !strings.Contains(out, "stopped before the task finished") || !durationsAsText.MatchString(out) {
		t.Fatalf("show:\n%s", out)
	}
	// Cancel of a terminal task changes nothing.
	if out := runOut(t, "tasks", "cancel", id, "--url", url); out != id+" failed\n" {
		t.Fatalf("cancel: %q", out)
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"tasks", "show", "nope", "--url", url}, &out, &errb); code == 0 || !strings.Contains(errb.String(), "404") {
		t.Fatalf("show of an unknown task: exit %d, %s", code, errb.String())
	}
}
