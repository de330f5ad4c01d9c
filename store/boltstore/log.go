package boltstore

import (
	"bytes"
	"context"
	"fmt"
	"math"

	bolt "go.etcd.io/bbolt"

	"github.com/mooring-dev/mooring/store"
)

// Append implements store.Store. The event, the new seq, the trimming of
// the oldest events and the new expiry are one logged write.
func (s *Store) Append(ctx context.Context, session, stream string, data []byte) (store.EventID, error) {
	ids, err := s.AppendBatch(ctx, session, stream, [][]byte{data})
	if err != nil {
		return store.EventID{}, err
	}
	return ids[0], nil
}

// AppendBatch implements store.Store: every event in one logged write.
func (s *Store) AppendBatch(ctx context.Context, session, stream string, data [][]byte) ([]store.EventID, error) {
	if !store.ValidStreamID(stream) {
		return nil, fmt.Errorf("boltstore: append to %q: invalid stream id %q", session, stream)
	}
	if err := checkSessionID(session); err != nil {
		return nil, fmt.Errorf("boltstore: append: %w", err)
	}
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	res, err := s.write(encodeAppend(s.limits, session, stream, data))
	if err != nil {
		return nil, fmt.Errorf("boltstore: append to %q stream %q: %w", session, stream, err)
	}
	ids := make([]store.EventID, len(data))
	for i := range ids {
		ids[i] = store.EventID{Stream: stream, Seq: res.seq + uint64(i)}
	}
	return ids, nil
}

// After implements store.Store.
func (s *Store) After(ctx context.Context, session string, after store.EventID) ([]store.Event, error) {
	// No issued id has such a stream, and its bytes could otherwise run
	// into another stream's key prefix.
	if !store.ValidStreamID(after.Stream) {
		return nil, fmt.Errorf("boltstore: after %q in %q: %w", after.String(), session, store.ErrBadEventID)
	}
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	var events []store.Event
	var found, purged bool
	err := s.read(func(tx *bolt.Tx) error {
		_, b, err := openForRead(tx, []byte(session))
		if err != nil || b == nil {
			return err
		}
		found = true
		if w := b.Get(purgeKey(after.Stream)); w != nil {
			mark, err := decodeSeq(w)
			if err != nil {
				return err
			}
			if mark > after.Seq {
				purged = true
				return nil
			}
		}
		events, err = readStream(b, after)
		return err
	})
	switch {
	case err != nil:
		return nil, fmt.Errorf("boltstore: after %q in %q: %w", after.String(), session, err)
	case !found:
		return nil, fmt.Errorf("boltstore: %w: session %q", store.ErrNotFound, session)
	case purged:
		return nil, fmt.Errorf("boltstore: %w: session %q stream %q after %d", store.ErrPurged, session, after.Stream, after.Seq)
	}
	return events, nil
}

// readStream reads the events of after.Stream past after.Seq: one seek,
// then a walk along the stream's keys. The payloads are copied out of
// bbolt's memory into one buffer, to allocate once rather than per event.
func readStream(b *bolt.Bucket, after store.EventID) ([]store.Event, error) {
	if after.Seq == math.MaxUint64 {
		return nil, nil
	}
	prefix := eventPrefix(after.Stream)
	type kv struct {
		seq  uint64
		data []byte
	}
	var found []kv
	total := 0
	c := b.Cursor()
	for k, v := c.Seek(eventKey(after.Stream, after.Seq+1)); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if len(k) != len(prefix)+8 {
			return nil, fmt.Errorf("corrupt event key %x", k)
		}
		seq, _ := decodeSeq(k)
		found = append(found, kv{seq, v})
		total += len(v)
	}
	if len(found) == 0 {
		return nil, nil
	}
	buf := make([]byte, 0, total)
	events := make([]store.Event, len(found))
	for i, f := range found {
		start := len(buf)
		buf = append(buf, f.data...)
		events[i] = store.Event{
			ID: store.EventID{Stream: after.Stream, Seq: f.seq},
			// A full slice expression: appending to one payload must not
			// overwrite the next.
			Data: buf[start:len(buf):len(buf)],
		}
	}
	return events, nil
}

// Streams implements store.Store. It walks the session's order index.
func (s *Store) Streams(ctx context.Context, session string) ([]string, error) {
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.leave()
	var streams []string
	err := s.read(func(tx *bolt.Tx) error {
		_, b, err := openForRead(tx, []byte(session))
		if err != nil || b == nil {
			return err
		}
		seen := make(map[string]bool)
		c := b.Cursor()
		for k, v := c.Seek([]byte{kindOrder}); k != nil && k[0] == kindOrder; k, v = c.Next() {
			if !seen[string(v)] {
				seen[string(v)] = true
				streams = append(streams, string(v))
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("boltstore: streams of %q: %w", session, err)
	}
	return streams, nil
}
