package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/boltstore"
)

// filled writes a closed store with n sessions of a record and a few events
// each, and returns its path and size.
func filled(t *testing.T, n int) (string, int64) {
	t.Helper()
	path := tempPath(t)
	s, err := boltstore.Open(path, &boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range n {
		id := fmt.Sprintf("s%04d", i)
		if err := s.PutSession(ctx, store.Record{ID: id, Data: []byte(strings.Repeat("r", 200))}); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if _, err := s.Append(ctx, id, "st", []byte(strings.Repeat("e", 300))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return path, fi.Size()
}

// damagePages writes n pages of random bytes over the middle half of the
// file at path (size bytes), where the sessions' data lies: the meta and
// the root pages stay whole.
func damagePages(t *testing.T, path string, size int64, n int, rng *rand.Rand) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 4096)
	pages := size / 4096
	for range n {
		for i := range page {
			page[i] = byte(rng.Uint32())
		}
		at := (pages/4 + rng.Int64N(pages/2)) * 4096
		if _, err := f.WriteAt(page, at); err != nil {
			t.Fatal(err)
		}
	}
}

// A 0-byte data file is not taken for a new, empty store: every session
// would be gone without a word.
func TestOpen_EmptyFileRefused(t *testing.T) {
	path, _ := filled(t, 1)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	s, err := boltstore.Open(path, nil)
	if err == nil {
		s.Close()
		t.Fatal("Open of a 0-byte file succeeded (an empty store), want an error")
	}
	if !errors.Is(err, boltstore.ErrDamaged) || !strings.Contains(err.Error(), "0 bytes") {
		t.Errorf("Open: %v; want ErrDamaged saying the file is empty", err)
	}
	if fi, _ := os.Stat(path); fi.Size() != 0 {
		t.Errorf("the refused file was written to: %d bytes", fi.Size())
	}
}

// A file cut short (half of it lost) is refused with an error, not a
// SIGBUS in bbolt's first read of the missing pages.
func TestOpen_TruncatedFileRefused(t *testing.T) {
	path, size := filled(t, 200)
	if err := os.Truncate(path, size/2); err != nil {
		t.Fatal(err)
	}
	s, err := boltstore.Open(path, nil)
	if err == nil {
		s.Close()
		t.Fatal("Open of a truncated file succeeded")
	}
	if !errors.Is(err, boltstore.ErrDamaged) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("Open: %v; want ErrDamaged saying the file is truncated", err)
	}
	if err := boltstore.CheckFile(path); !errors.Is(err, boltstore.ErrDamaged) {
		t.Errorf("CheckFile: %v, want ErrDamaged", err)
	}
}

// Random pages written over the middle of the file are found before the
// store serves anything, instead of a panic in the committer at the first
// request that reads them.
func TestOpen_DamagedPagesRefused(t *testing.T) {
	path, size := filled(t, 200)
	damagePages(t, path, size, 16, rand.New(rand.NewPCG(1, 2)))
	s, err := boltstore.Open(path, nil)
	if err == nil {
		s.Close()
		t.Fatal("Open of a file with damaged pages succeeded")
	}
	if !errors.Is(err, boltstore.ErrDamaged) {
		t.Errorf("Open: %v; want ErrDamaged", err)
	}
	if err := boltstore.CheckFile(path); !errors.Is(err, boltstore.ErrDamaged) {
		t.Errorf("CheckFile: %v, want ErrDamaged", err)
	}
}

// A damaged page that Open did not look for (SkipCheck) fails only the
// requests that meet it, as if their session were gone; the store serves
// every other session and does not crash.
func TestStore_DamagedPageFailsOnlyItsSession(t *testing.T) {
	path, size := filled(t, 200)
	const damaged = 8
	damagePages(t, path, size, damaged, rand.New(rand.NewPCG(3, 4)))
	s, err := boltstore.Open(path, &boltstore.Options{SkipCheck: true, NoSync: true})
	if err != nil {
		t.Skipf("the damage is found at Open already: %v", err)
	}
	defer s.SimulateCrash() // the file is damaged: no checkpoint into it
	ctx := context.Background()
	var ok, lost int
	for i := range 200 {
		id := fmt.Sprintf("s%04d", i)
		_, err := s.GetSession(ctx, id)
		if err == nil {
			_, err = s.Log(ctx, id)
		}
		switch {
		case err == nil:
			ok++
		case errors.Is(err, store.ErrNotFound):
			lost++
		default:
			t.Errorf("session %s: %v, want nil or ErrNotFound", id, err)
		}
	}
	t.Logf("%d sessions readable, %d lost to %d damaged pages", ok, lost, damaged)
	if lost == 0 || ok == 0 {
		t.Errorf("%d sessions readable, %d lost; want some of each", ok, lost)
	}
	// The store still writes.
	if err := s.PutSession(ctx, store.Record{ID: "fresh", Data: []byte("r")}); err != nil {
		t.Errorf("PutSession after damage: %v", err)
	}
}

// Every damaged file that Open refuses says what to do, once: a file that
// is no store at all (its meta pages unreadable) said only what was wrong,
// and named its path twice.
func TestOpen_DamagedSaysWhatToDo(t *testing.T) {
	path := tempPath(t)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 5000)
	for i := range junk {
		junk[i] = byte(rand.IntN(256))
	}
	for _, content := range [][]byte{junk, nil} {
		if err := os.WriteFile(path, content, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := boltstore.Open(path, nil)
		if err == nil {
			s.Close()
			t.Fatalf("Open of a %d-byte file that is no store succeeded", len(content))
		}
		msg := err.Error()
		if !errors.Is(err, boltstore.ErrDamaged) || strings.Count(msg, "move it away") != 1 || strings.Count(msg, path) != 1 {
			t.Errorf("%d bytes: Open: %v; want ErrDamaged naming the file once and what to do once", len(content), err)
		}
	}
}
