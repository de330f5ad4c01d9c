package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mooring-dev/mooring/internal/syncbuf"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/boltstore"
)

// dataDir makes a data directory with a closed bolt store of one session.
func dataDir(t *testing.T) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "mooring.db")
	s, err := boltstore.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.PutSession(context.Background(), store.Record{ID: "s1", Data: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

// mooring check passes a whole store and fails a damaged one, with a
// message that says what to do; serve refuses to start on the damaged one.
func TestCheck_DamagedDataDir(t *testing.T) {
	dir, path := dataDir(t)
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"check", "--data-dir", dir}, &out, &errb); code != 0 {
		t.Fatalf("check of a whole store: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(out.String(), "ok: ") || !strings.Contains(out.String(), "1 sessions") {
		t.Errorf("check printed %q", out.String())
	}
	if strings.Contains(out.String(), "mooring compact") {
		t.Errorf("check of a small store with nothing to give back suggests compact: %q", out.String())
	}
	out.Reset()
	if code := run(context.Background(), []string{"compact", "--data-dir", dir}, &out, &errb); code != 0 || !strings.Contains(out.String(), "compacted") {
		t.Fatalf("compact: exit %d: %s %s", code, out.String(), errb.String())
	}

	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	errb.Reset()
	if code := run(context.Background(), []string{"check", "--data-dir", dir}, &out, &errb); code != 1 ||
		!strings.Contains(errb.String(), "empty (0 bytes)") || !strings.Contains(errb.String(), "backup") {
		t.Errorf("check of a 0-byte store: exit %d, %q; want 1 and what happened", code, errb.String())
	}
	log := new(syncbuf.Buffer)
	code := run(context.Background(), []string{"serve", "--addr", freeAddr(t), "--data-dir", dir}, &out, log)
	if code != 1 || !strings.Contains(log.String(), "empty (0 bytes)") {
		t.Errorf("serve on a 0-byte store: exit %d, %q; want 1 and why", code, log.String())
	}
}

// At start, a data file that is mostly free pages (a burst of sessions
// that ended) is compacted; one that is not is left as it is.
func TestCompactAtStart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mooring.db")
	s, err := boltstore.Open(path, &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 400 {
		id := fmt.Sprintf("s%03d", i)
		if err := s.PutSession(ctx, store.Record{ID: id, Data: bytes.Repeat([]byte("r"), 2000)}); err != nil {
			t.Fatal(err)
		}
	}
	// Closed and opened again, so that the sessions are in the file's
	// pages before they are deleted (one checkpoint would hold both).
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = boltstore.Open(path, &boltstore.Options{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	for i := 20; i < 400; i++ {
		if err := s.DeleteSession(ctx, fmt.Sprintf("s%03d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"check", "--data-dir", dir}, &out, &errb); code != 0 || !strings.Contains(out.String(), "mooring compact gives it back") {
		t.Errorf("check of a store with 380 ended sessions' pages free: exit %d, %q %q; want a hint at compact", code, out.String(), errb.String())
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	before := size()
	for _, c := range []struct {
		ratio   float64
		minFree int64
	}{{0, 0}, {0.5, before}, {0.99, 0}} {
		if err := compactAtStart(path, c.ratio, c.minFree, log); err != nil {
			t.Fatal(err)
		}
		if got := size(); got != before {
			t.Errorf("ratio %g, min free %d: compacted %d -> %d, want it left alone", c.ratio, c.minFree, before, got)
		}
	}
	if err := compactAtStart(path, 0.5, 0, log); err != nil {
		t.Fatal(err)
	}
	if after := size(); after > before/2 {
		t.Errorf("compacted %d -> %d, want at least half given back", before, after)
	}
	if err := boltstore.CheckFile(path); err != nil {
		t.Fatal(err)
	}
}

// `mooring sessions list` (or tasks) next to a running mooring finds the
// file locked: the error says what to do instead.
func TestSessionsList_LockedPointsAtURL(t *testing.T) {
	dir, path := dataDir(t)
	s, err := boltstore.Open(path, &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, cmd := range []string{"sessions", "tasks"} {
		code, out := cli(t, cmd, "list", "--store", "bolt", "--data-dir", dir)
		if code != 1 || !strings.Contains(out, "locked") || !strings.Contains(out, "--url") {
			t.Errorf("%s list on a locked store: exit %d, %q: want 1 and a pointer to --url", cmd, code, out)
		}
	}
}
