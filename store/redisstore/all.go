package redisstore

import (
	"context"
	"fmt"

	"github.com/mooring-dev/mooring/store"
)

// Log implements store.Store: one XRANGE over the whole log, with the
// existence check in the same round trip, without the entries past the
// cap (see excess).
func (s *Store) Log(ctx context.Context, session string) ([]store.Event, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	k := s.keys.session(session)
	b := s.client.B()
	res := s.client.DoMulti(ctx,
		b.Multi().Build(),
		b.Exists().Key(k[0], k[2]).Build(),
		b.Xrange().Key(k[1]).Start("-").End("+").Build(),
		b.Exec().Build(),
	)
	replies, err := execReplies(res, 2)
	if err != nil {
		return nil, s.fail(err, "read the log of session %q", session)
	}
	if n, err := replies[0].AsInt64(); err != nil || n == 0 {
		if err != nil {
			return nil, s.fail(err, "read the log of session %q", session)
		}
		return nil, fmt.Errorf("%w: session %q", store.ErrNotFound, session)
	}
	entries, err := replies[1].ToArray()
	if err != nil {
		return nil, s.fail(err, "read the log of session %q", session)
	}
	entries = entries[s.excess(len(entries)):]
	events := make([]store.Event, 0, len(entries))
	for _, e := range entries {
		ent, err := parseEntry(e)
		if err != nil {
			return nil, fmt.Errorf("redisstore: log of session %q: %w", session, err)
		}
		data, err := ent.data.ToString()
		if err != nil {
			return nil, fmt.Errorf("redisstore: log entry %d: %w", ent.seq, err)
		}
		events = append(events, store.Event{ID: store.EventID{Stream: ent.stream, Seq: ent.seq}, Data: []byte(data)})
	}
	return events, nil
}
