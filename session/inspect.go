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
	events, err := st.Log(ctx, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("session %s: log: %w", id, err)
	}
	index := make(map[string]int)
	for _, ev := range events {
		i, ok := index[ev.ID.Stream]
		if !ok {
			i = len(info.Streams)
			index[ev.ID.Stream] = i
			info.Streams = append(info.Streams, StreamInfo{ID: ev.ID.Stream})
		}
		info.Streams[i].Events++
	}
	info.Events = len(events)
	return info, nil
}

// Principals returns who each of the sessions ids belongs to, for people
// (mooring sessions list): sessions made without authentication, and ids
// that are gone or cannot be read, are left out.
func Principals(ctx context.Context, st store.Store, ids []string) map[string]string {
	out := make(map[string]string)
	for _, id := range ids {
		raw, err := st.GetSession(ctx, id)
		if err != nil {
			continue
		}
		if rec, err := unmarshalRecord(id, raw.Data); err == nil && rec.Principal != "" {
			out[id] = rec.Principal
		}
	}
	return out
}
