package boltstore

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/mooring-dev/mooring/store"
)

// Log implements store.Store: it walks the session's order index and reads
// each event once.
func (s *Store) Log(ctx context.Context, session string) ([]store.Event, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	var events []store.Event
	err := s.read(func(tx *bolt.Tx) error {
		_, b, err := openForRead(tx, []byte(session))
		if err != nil {
			return err
		}
		if b == nil {
			return fmt.Errorf("%w: session %q", store.ErrNotFound, session)
		}
		c := b.Cursor()
		for k, v := c.Seek([]byte{kindOrder}); k != nil && k[0] == kindOrder; k, v = c.Next() {
			seq, err := decodeSeq(k[1:])
			if err != nil {
				return err
			}
			data := b.Get(eventKey(string(v), seq))
			if data == nil {
				return fmt.Errorf("order index names a missing event %s_%d", v, seq)
			}
			events = append(events, store.Event{
				ID:   store.EventID{Stream: string(v), Seq: seq},
				Data: append([]byte(nil), data...), // bolt's memory is only valid in the transaction
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: log of %q: %w", session, err)
	}
	return events, nil
}
