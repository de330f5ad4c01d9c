package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/mooring-dev/mooring/store/boltstore"
)

// dataFileFlags parses the flags of check and compact and returns the path
// of the bolt store file.
func dataFileFlags(name, what string, args []string, stderr io.Writer) (string, error) {
	fs := newFlagSet("mooring "+name, stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: mooring %s [--data-dir D]\n%s\n\n", name, what)
		fs.PrintDefaults()
	}
	var dir string
	fs.str(&dir, "data-dir", "MOORING_DATA_DIR", "mooring-data", "directory of the bolt store")
	pos, err := fs.parse(args)
	if err != nil {
		return "", err
	}
	if len(pos) > 0 {
		fs.Usage()
		return "", errUsage
	}
	path := filepath.Join(dir, "mooring.db")
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("no bolt store in --data-dir %s: %w", dir, err)
	}
	return path, nil
}

// check: verify a data directory offline; exit 1 on damage.
// compactHintMin is the free space from which mooring check suggests
// mooring compact.
const compactHintMin = 256 << 10

func checkCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	path, err := dataFileFlags("check", "Checks the bolt store of a data directory (mooring must not be running on it):\n"+
		"bbolt's page check, then every session's data against its index. Exit 0: whole; 1: damaged or unreadable.", args, stderr)
	if err != nil {
		return err
	}
	if err := boltstore.CheckFile(path); err != nil {
		if errors.Is(err, boltstore.ErrDamaged) {
			return fmt.Errorf("%w\nthe store is damaged: restore %s from a backup, or move it (and %s) away to start with an empty store",
				err, path, boltstore.LogPath(path))
		}
		return err
	}
	st, err := boltstore.Stat(path)
	if err != nil {
		return err
	}
	hint := ""
	if st.FreeBytes >= compactHintMin {
		// Below it compact gains next to nothing (bbolt keeps a few free
		// pages in any file), and suggesting it only puzzles.
		hint = " (mooring compact gives it back)"
	}
	fmt.Fprintf(stdout, "ok: %s: %d sessions, %s, %s free%s\n",
		path, st.Sessions, bytesText(st.Size), bytesText(st.FreeBytes), hint)
	if fi, err := os.Stat(boltstore.LogPath(path)); err == nil && fi.Size() > 0 {
		fmt.Fprintf(stdout, "note: the write-ahead log %s holds %s that the next start replays (mooring stopped without closing the store)\n",
			boltstore.LogPath(path), bytesText(fi.Size()))
	}
	return nil
}

// compact: rewrite the bolt store without its free pages.
func compactCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	path, err := dataFileFlags("compact", "Rewrites the bolt store of a data directory without its free pages (mooring must not be running on it).", args, stderr)
	if err != nil {
		return err
	}
	before, after, err := boltstore.Compact(path, nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "compacted %s: %s -> %s\n", path, bytesText(before), bytesText(after))
	return nil
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// compactMinFree is the least free space in the data file that is worth a
// compaction at start: below it, the copy costs more than the disk it
// gives back.
const compactMinFree = 64 << 20

// compactAtStart compacts the bolt store at path before it is opened, when
// free pages make up more than ratio of it and at least minFree bytes: the
// file keeps the size of its largest burst otherwise. A missing file, or a
// ratio of 0, is left alone; a damaged one is left to Open, which refuses
// it with the reason.
func compactAtStart(path string, ratio float64, minFree int64, log *slog.Logger) error {
	if ratio <= 0 {
		return nil
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	st, err := boltstore.Stat(path)
	if err != nil {
		if errors.Is(err, boltstore.ErrLocked) {
			return err
		}
		return nil // Open says what is wrong
	}
	if st.FreeBytes < minFree || float64(st.FreeBytes) <= ratio*float64(st.Size) {
		return nil
	}
	start := time.Now()
	before, after, err := boltstore.Compact(path, nil)
	if err != nil {
		return fmt.Errorf("compacting the data file at start (--compact-at-start): %w", err)
	}
	log.Info("compacted the data file at start", "path", path, "before", bytesText(before), "after", bytesText(after), "took", time.Since(start).Round(time.Millisecond))
	return nil
}
