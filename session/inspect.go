package session

import (
	"context"
	"errors"
	"fmt"

	"github.com/mooring-dev/mooring/store"
)

// Info is what the store holds of one session, for people: its record and
// its streams.
type Info struct {
	Record  Record       `json:"record"`
	Streams []StreamInfo `json:"streams"`
	Events  int          `json:"events"`
}

// StreamInfo is one stream of a session.
type StreamInfo struct {
	ID     string `json:"id"`
	Events int    `json:"events"`
	// Purged is set when the per-session cap removed some of its events.
	Purged bool `json:"purged,omitempty"`
}

// Inspect reads a session from st without restoring it. ErrNotFound if the
// store does not have it.
func Inspect(ctx context.Context, st store.Store, id string) (*Info, error) {
	raw, err := st.GetSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if err != nil {
		return nil, err
	}
	rec, err := unmarshalRecord(id, raw.Data)
	if err != nil {
		return nil, err
	}
	info := &Info{Record: *rec, Streams: []StreamInfo{}}
	streams, err := st.Streams(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("session %s: streams: %w", id, err)
	}
	for _, sid := range streams {
		evs, err := st.After(ctx, id, store.EventID{Stream: sid})
		si := StreamInfo{ID: sid, Events: len(evs)}
		switch {
		case errors.Is(err, store.ErrPurged):
			si.Purged = true
		case err != nil:
			return nil, fmt.Errorf("session %s: stream %s: %w", id, sid, err)
		}
		info.Streams = append(info.Streams, si)
		info.Events += si.Events
	}
	return info, nil
}
