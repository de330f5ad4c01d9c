package boltstore_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/internal/leakcheck"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/boltstore"
	"github.com/mooring-dev/mooring/store/storetest"
)

// open opens a store for one test and closes it when the test ends.
func open(t testing.TB, path string, opts *boltstore.Options) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Error(err)
		}
		if err := boltstore.CheckFile(path); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	})
	return s
}

// tempPath is a store path under a directory that does not exist yet, so
// that every test also checks that Open creates it.
func tempPath(t testing.TB) string {
	return filepath.Join(t.TempDir(), "data", "mooring.db")
}

// TestMain fails the tests if a store's goroutines outlive it: every test
// closes its stores, and Close must wait for them.
func TestMain(m *testing.M) {
	leakcheck.Main(m, "closed stores", 5*time.Second, "boltstore.(*Store).sweepLoop", "boltstore.(*committer).loop")
}

func TestConformance(t *testing.T) {
	harness := func(t *testing.T, l store.Limits) store.Store {
		return open(t, tempPath(t), &boltstore.Options{Limits: l})
	}
	reopen := func(t *testing.T, old store.Store) store.Store {
		bs := old.(*boltstore.Store)
		path, limits := bs.Path(), bs.Limits()
		if err := bs.Close(); err != nil {
			t.Fatalf("Close before reopen: %v", err)
		}
		return open(t, path, &boltstore.Options{Limits: limits})
	}
	storetest.Run(t, harness, &storetest.Options{Reopen: reopen})
}

func TestOpen_SecondOpenFailsFast(t *testing.T) {
	path := tempPath(t)
	first := open(t, path, nil)

	start := time.Now()
	second, err := boltstore.Open(path, nil) // the default lock wait
	took := time.Since(start)
	if err == nil {
		second.Close()
		t.Fatal("a second Open of an open store succeeded")
	}
	if !errors.Is(err, boltstore.ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	for _, want := range []string{"another mooring holds the data directory", path} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("second Open error %q does not say %q", err, want)
		}
	}
	if took > boltstore.DefaultTimeout+2*time.Second {
		t.Errorf("second Open took %v to fail", took)
	}

	// Once the first lets go, the file opens again.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	open(t, path, &boltstore.Options{Timeout: 100 * time.Millisecond})
}

func TestOpen_RejectsOtherFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "not-bolt.db")
	if err := os.WriteFile(path, []byte(strings.Repeat("not a bbolt file\n", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if s, err := boltstore.Open(path, nil); err == nil {
		s.Close()
		t.Fatal("Open of a file that is not a store succeeded")
	}
}

// TestKill_AcknowledgedEventsSurvive kills a process that appends from many
// goroutines and checks that every event it had acknowledged is in the file:
// with checkpoints so rare that everything is in the write-ahead log only,
// and with checkpoints so frequent that the kill may land in one.
func TestKill_AcknowledgedEventsSurvive(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	for _, interval := range []time.Duration{time.Hour, time.Millisecond} {
		t.Run("checkpoint every "+interval.String(), func(t *testing.T) { testKill(t, interval) })
	}
}

func testKill(t *testing.T, interval time.Duration) {
	path := tempPath(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillHelper$")
	cmd.Env = append(os.Environ(), "BOLTSTORE_KILL_PATH="+path, "BOLTSTORE_KILL_INTERVAL="+interval.String())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type ack struct {
		session string
		id      store.EventID
	}
	var acks []ack
	lines := bufio.NewScanner(out)
	for len(acks) < 500 && lines.Scan() {
		f := strings.Fields(lines.Text())
		if len(f) != 3 {
			continue // not an ack: test framework output
		}
		seq, err := strconv.ParseUint(f[2], 10, 64)
		if err != nil {
			t.Fatalf("bad ack line %q", lines.Text())
		}
		acks = append(acks, ack{f[0], store.EventID{Stream: f[1], Seq: seq}})
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if len(acks) < 500 {
		t.Fatalf("the child acknowledged only %d events: %v", len(acks), lines.Err())
	}
	if st, err := os.Stat(boltstore.LogPath(path)); err != nil || st.Size() == 0 {
		t.Fatalf("no write-ahead log after the kill: %v, %v", st, err)
	}

	s := open(t, path, nil)
	for _, a := range acks {
		prev := a.id
		prev.Seq--
		evs, err := s.After(t.Context(), a.session, prev)
		if err != nil || len(evs) == 0 || evs[0].ID != a.id {
			t.Fatalf("acknowledged event %v of %s lost after a kill: %v, %v", a.id, a.session, err, evs)
		}
	}
}

// TestKillHelper is the child of TestKill_AcknowledgedEventsSurvive: it
// appends until killed and prints each acknowledged id.
func TestKillHelper(t *testing.T) {
	path := os.Getenv("BOLTSTORE_KILL_PATH")
	if path == "" {
		t.Skip("only runs as a child of TestKill_AcknowledgedEventsSurvive")
	}
	interval, err := time.ParseDuration(os.Getenv("BOLTSTORE_KILL_INTERVAL"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := boltstore.Open(path, &boltstore.Options{CheckpointInterval: interval})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	w := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			session, stream := fmt.Sprintf("kill-%d", g%4), fmt.Sprintf("w%d", g)
			for {
				id, err := s.Append(t.Context(), session, stream, []byte("payload"))
				if err != nil {
					panic(err)
				}
				mu.Lock()
				fmt.Fprintf(w, "%s %s %d\n", session, id.Stream, id.Seq)
				w.Flush()
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

func BenchmarkAppend(b *testing.B) {
	storetest.BenchAppend(b, open(b, tempPath(b), nil))
}

func BenchmarkAppendNoSync(b *testing.B) {
	storetest.BenchAppend(b, open(b, tempPath(b), &boltstore.Options{NoSync: true}))
}

// BenchmarkAppendOneWriter measures the latency of a lone writer: one
// commit with its fsync per event, and no waiting for company.
func BenchmarkAppendOneWriter(b *testing.B) {
	s := open(b, tempPath(b), nil)
	data := make([]byte, 256)
	for b.Loop() {
		if _, err := s.Append(b.Context(), "one", "s", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReplay1000(b *testing.B) {
	storetest.BenchReplay(b, open(b, tempPath(b), nil), 1000)
}
