package boltstore

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CheckFile opens a closed store file with bbolt itself and checks it: the
// consistency of bbolt's pages, and that every session's meta agrees with
// its data (the running totals that the caps rely on).
func CheckFile(path string) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		for err := range tx.Check() {
			return fmt.Errorf("bbolt check: %w", err)
		}
		metas, data := tx.Bucket(bucketSessions), tx.Bucket(bucketData)
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
