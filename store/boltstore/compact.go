package boltstore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
)

// FileStats describe a closed store file.
type FileStats struct {
	Size      int64 // bytes on disk
	FreeBytes int64 // in pages that bbolt would reuse, but that the file keeps
	Sessions  int
}

// Stat reads a closed store file's size, free space and session count
// (read-only; run CheckFile first on a file that may be damaged).
func Stat(path string) (FileStats, error) {
	var st FileStats
	if err := precheck(path, time.Second); err != nil {
		return st, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return st, err
	}
	st.Size = fi.Size()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, PreLoadFreelist: true, Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return st, fmt.Errorf("%w: %s is locked (waited 1s)", ErrLocked, path)
		}
		return st, err
	}
	defer db.Close()
	err = safely(func() error {
		return db.View(func(tx *bolt.Tx) error {
			ps := int64(tx.DB().Info().PageSize)
			st.FreeBytes = int64(tx.DB().Stats().FreePageN+tx.DB().Stats().PendingPageN) * ps
			if b := tx.Bucket(bucketSessions); b != nil {
				st.Sessions = b.Stats().KeyN
			}
			return nil
		})
	})
	return st, err
}

// Compact rewrites the store file at path without its free pages: bbolt
// reuses the pages that ended sessions free, but never gives them back to
// the file system, so a file that once held many sessions keeps its size.
// The store must not be open (Compact takes its lock, and fails with
// ErrLocked while a mooring runs on it). It first opens the store as Open
// does (replaying a write-ahead log that a crash left) and closes it, then
// copies every key into a new file beside it and renames that over the
// old one. It returns the sizes before and after.
func Compact(path string, opts *Options) (before, after int64, err error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o.Limits = o.Limits.WithDefaults()
	s, err := Open(path, &o) // checks, replays, and at Close leaves an empty log
	if err != nil {
		return 0, 0, err
	}
	if err := s.Close(); err != nil {
		return 0, 0, err
	}
	src, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: DefaultTimeout})
	if errors.Is(err, bolt.ErrTimeout) {
		return 0, 0, fmt.Errorf("%w: %s is locked", ErrLocked, path)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("boltstore: compact %s: %w", path, err)
	}
	defer src.Close() // held until the new file is in place: no mooring opens the old one meanwhile
	fi, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	tmp := path + ".compact"
	_ = os.Remove(tmp) // a leftover of an interrupted compaction
	dst, err := bolt.Open(tmp, 0o600, &bolt.Options{Timeout: DefaultTimeout})
	if err != nil {
		return 0, 0, fmt.Errorf("boltstore: compact %s: %w", path, err)
	}
	err = safely(func() error { return bolt.Compact(dst, src, 64<<20) })
	if err == nil {
		err = dst.Sync()
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("boltstore: compact %s: %w", path, err)
	}
	nfi, err := os.Stat(tmp)
	if err != nil {
		return 0, 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return 0, 0, fmt.Errorf("boltstore: compact %s: %w", path, err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync() // the rename survives a crash of the machine
		d.Close()
	}
	return fi.Size(), nfi.Size(), nil
}
