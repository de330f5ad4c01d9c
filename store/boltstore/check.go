package boltstore

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrDamaged is wrapped by the errors of a data file that is not a whole
// bbolt file: empty, truncated, or with pages that bbolt's check rejects.
// Open refuses such a file, and CheckFile reports it.
var ErrDamaged = errors.New("boltstore: data file damaged")

// precheck looks at an existing data file before it is opened for
// writing: bbolt takes a 0-byte file for a new one (every session silently
// gone), and faults (SIGBUS) on the pages of a truncated file that its meta
// says exist. It opens the file read-only, so that bbolt itself reads and
// validates the meta pages, and compares the size they give with the
// file's. A missing file is fine: Open creates it.
func precheck(path string, timeout time.Duration) error {
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	size := fi.Size()
	if size == 0 {
		return fmt.Errorf("%w: %s is empty (0 bytes), not a store", ErrDamaged, path)
	}
	var need, pageSize int64
	err = safely(func() error {
		db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: timeout})
		if err != nil {
			return err
		}
		defer db.Close()
		return db.View(func(tx *bolt.Tx) error {
			need, pageSize = tx.Size(), int64(db.Info().PageSize) // Size: the meta's page count times the page size
			return nil
		})
	})
	switch {
	case errors.Is(err, bolt.ErrTimeout):
		return fmt.Errorf("%w: %s is locked (waited %v)", ErrLocked, path, timeout)
	case errors.Is(err, ErrDamaged):
		return err
	case err != nil:
		return fmt.Errorf("%w: %s (%d bytes) is not a readable bbolt file (%v): not a mooring store, or its first pages are damaged or cut off", ErrDamaged, path, size, err)
	case size < need:
		return fmt.Errorf("%w: %s is truncated: %d bytes, and its meta page counts %d pages of %d bytes (%d bytes)",
			ErrDamaged, path, size, need/pageSize, pageSize, need)
	}
	return nil
}

// safely runs fn and turns a panic, or a fault on the mapped file (with
// panic-on-fault set for the calling goroutine), into an ErrDamaged error:
// bbolt panics when it meets a page that is not what it expects.
func safely(fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %v", ErrDamaged, p)
		}
	}()
	return fn()
}

// checkPages runs bbolt's consistency check of every page reachable from
// the meta, in a read transaction.
func checkPages(db *bolt.DB) error {
	return safely(func() error {
		return db.View(func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				return fmt.Errorf("%w: %s: %v", ErrDamaged, db.Path(), err)
			}
			return nil
		})
	})
}

// CheckFile checks a closed store file, read-only: that it is a whole bbolt
// file, the consistency of its pages, and that every session's meta agrees
// with its data (the running totals that the caps rely on). Damage is
// reported as ErrDamaged. It does not look at the write-ahead log beside the
// file, which the next Open replays.
func CheckFile(path string) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	if err := precheck(path, time.Second); err != nil {
		return err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolt.ErrTimeout) {
			return fmt.Errorf("%w: %s is locked (waited 1s)", ErrLocked, path)
		}
		return fmt.Errorf("%w: %s: %v", ErrDamaged, path, err)
	}
	defer db.Close()
	if err := checkPages(db); err != nil {
		return err
	}
	err = safely(func() error { return db.View(checkData) })
	if err != nil && !errors.Is(err, ErrDamaged) {
		err = fmt.Errorf("%w: %s: %v", ErrDamaged, path, err)
	}
	return err
}

// checkData checks every session's data against its meta.
func checkData(tx *bolt.Tx) error {
	metas, data := tx.Bucket(bucketSessions), tx.Bucket(bucketData)
	if metas == nil || data == nil {
		return errors.New("the sessions or data bucket is missing")
	}
	if err := metas.ForEach(func(id, v []byte) error {
		m, err := decodeMeta(v)
		if err != nil {
			return err
		}
		if err := checkSession(m, data.Bucket(id)); err != nil {
			return fmt.Errorf("session %q: %w", id, err)
		}
		return nil
	}); err != nil {
		return err
	}
	return data.ForEach(func(id, _ []byte) error {
		if metas.Get(id) == nil {
			return fmt.Errorf("session %q has data but no meta", id)
		}
		return nil
	})
}

// checkSession checks one session's data against its meta.
func checkSession(m meta, b *bolt.Bucket) error {
	if b == nil {
		return errors.New("meta but no data bucket")
	}
	if hasKey(b, keyRecord) != m.record {
		return fmt.Errorf("record flag %v disagrees with the data", m.record)
	}
	var orders, events, size uint64
	err := b.ForEach(func(k, v []byte) error {
		switch k[0] {
		case kindOrder:
			seq, err := decodeSeq(k)
			if err != nil {
				return err
			}
			if seq > m.seq {
				return fmt.Errorf("event %d is past the last seq %d", seq, m.seq)
			}
			if !hasKey(b, eventKey(string(v), seq)) {
				return fmt.Errorf("order entry %d names stream %q, which has no such event", seq, v)
			}
			orders++
		case kindEvent:
			events++
			size += uint64(len(v))
		}
		return nil
	})
	if err != nil {
		return err
	}
	if orders != m.count || events != m.count || size != m.bytes {
		return fmt.Errorf("meta counts %d events, %d bytes; data has %d order entries, %d events, %d bytes",
			m.count, m.bytes, orders, events, size)
	}
	return nil
}

// hasKey tells a key with an empty value from a missing one, which Get
// cannot.
func hasKey(b *bolt.Bucket, key []byte) bool {
	k, _ := b.Cursor().Seek(key)
	return bytes.Equal(k, key)
}
