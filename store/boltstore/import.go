package boltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/mooring-dev/mooring/store"
)

// Import implements store.Importer: it writes events with the ids another
// store assigned (the memory fallback, as sessions move back after an
// outage). Events whose seq is at or below the session's last seq are left
// out, so importing the same events twice changes nothing; the session's
// seq rises to the highest one imported, so that later Appends continue
// above it. Caps and the TTL apply as for Append, and the whole import of
// the session commits in one transaction.
func (s *Store) Import(ctx context.Context, session string, events []store.Event) error {
	if err := checkSessionID(session); err != nil {
		return fmt.Errorf("boltstore: import: %w", err)
	}
	// Checked before the write: a failure inside a shared commit would redo
	// the whole batch.
	events, err := store.ImportOrder(events)
	if err != nil {
		return fmt.Errorf("boltstore: import into %q: %w", session, err)
	}
	if len(events) == 0 {
		return nil
	}
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.leave()
	err = s.write(func(tx *bolt.Tx) error {
		now := nowNano()
		m, b, err := openForWrite(tx, session, now)
		if err != nil {
			return err
		}
		for _, ev := range events {
			if ev.ID.Seq <= m.seq {
				continue // present already, or older than what the session holds
			}
			m.seq = ev.ID.Seq
			if err := b.Put(orderKey(m.seq), []byte(ev.ID.Stream)); err != nil {
				return err
			}
			if err := b.Put(eventKey(ev.ID.Stream, m.seq), ev.Data); err != nil {
				return err
			}
			m.count++
			m.bytes += uint64(len(ev.Data))
		}
		if err := s.trim(b, &m); err != nil {
			return err
		}
		m.expires = s.expiry(now)
		return putMeta(tx, session, m)
	})
	if err != nil {
		return fmt.Errorf("boltstore: import %d events into %q: %w", len(events), session, err)
	}
	return nil
}

var _ store.Importer = (*Store)(nil)
