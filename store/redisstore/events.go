package redisstore

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/redis/rueidis"

	"github.com/mooring-dev/mooring/store"
)

// Append implements store.Store with appendsLua: seq, XADD, cap trimming,
// purge watermarks and TTL happen atomically, in a script that may carry
// the appends of other callers too (see batch.go).
func (s *Store) Append(ctx context.Context, session, stream string, data []byte) (store.EventID, error) {
	if !store.ValidStreamID(stream) {
		return store.EventID{}, fmt.Errorf("redisstore: append to session %q: invalid stream id %q", session, stream)
	}
	if s.closed.Load() {
		return store.EventID{}, store.ErrClosed
	}
	// string(data) copies, and must: the event may wait for its batch, or
	// ctx may end before it is written, and the caller may reuse data by
	// then.
	seq, err := s.appendEvents(ctx, session, stream, []string{string(data)})
	if err != nil {
		return store.EventID{}, err
	}
	return store.EventID{Stream: stream, Seq: seq}, nil
}

// AppendBatch implements store.Store: the events go in one script, with
// consecutive seqs. A failure of the script after its first write leaves
// the sessions before this one in the batch appended, and this one
// appended or not; see appendsLua.
func (s *Store) AppendBatch(ctx context.Context, session, stream string, data [][]byte) ([]store.EventID, error) {
	if !store.ValidStreamID(stream) {
		return nil, fmt.Errorf("redisstore: append to session %q: invalid stream id %q", session, stream)
	}
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	ids := make([]store.EventID, len(data))
	if len(data) == 0 {
		return ids, nil
	}
	copies := make([]string, len(data))
	for i, d := range data {
		copies[i] = string(d) // copied, as in Append
	}
	first, err := s.appendEvents(ctx, session, stream, copies)
	if err != nil {
		return nil, err
	}
	for i := range ids {
		ids[i] = store.EventID{Stream: stream, Seq: first + uint64(i)}
	}
	return ids, nil
}

// After implements store.Store. One transaction checks that the session
// exists, reads the stream's purge watermark and the log after the seq, so
// nothing can be trimmed between the check and the read. The log holds
// every stream of the session; the entries of other streams are dropped
// here rather than by a script, because turning XRANGE's reply into Lua
// tables and back costs Redis, whose one thread every replica shares, about
// five times as much as the XRANGE itself. The extra bytes are bounded by
// the session's caps.
func (s *Store) After(ctx context.Context, session string, after store.EventID) ([]store.Event, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	k := s.keys.session(session)
	// Nothing can follow the largest seq, and "<max+1>-0" would not parse;
	// "+" as start matches only an entry with the largest id, which no
	// seq reaches.
	start := "+"
	if after.Seq < math.MaxUint64 {
		start = strconv.FormatUint(after.Seq+1, 10) + "-0"
	}
	b := s.client.B()
	res := s.client.DoMulti(ctx,
		b.Multi().Build(),
		b.Exists().Key(k[0], k[2]).Build(),
		b.Hget().Key(k[2]).Field("p:"+after.Stream).Build(),
		b.Xrange().Key(k[1]).Start(start).End("+").Build(),
		b.Exec().Build(),
	)
	replies, err := execReplies(res, 3)
	if err != nil {
		return nil, s.fail(err, "read session %q after %s", session, after)
	}
	exists, err := replies[0].AsInt64()
	if err != nil {
		return nil, s.fail(err, "read session %q after %s", session, after)
	}
	if exists == 0 {
		return nil, fmt.Errorf("%w: session %q", store.ErrNotFound, session)
	}
	entries, err := replies[2].ToArray()
	if err != nil {
		return nil, s.fail(err, "read session %q after %s", session, after)
	}
	// The read goes up to the newest entry, so its first entries are the
	// ones past the cap, if any: removed as far as readers go, so the
	// stream lost any of them that are its own.
	excess := s.excess(len(entries))
	lost, err := streamEvents(entries[:excess], after.Stream)
	if err != nil {
		return nil, fmt.Errorf("redisstore: read session %q: %w", session, err)
	}
	purged := checkWatermark(replies[1], after)
	if purged == nil && lost != nil {
		purged = store.ErrPurged
	}
	if purged != nil {
		return nil, fmt.Errorf("%w: session %q stream %q after %d", purged, session, after.Stream, after.Seq)
	}
	events, err := streamEvents(entries[excess:], after.Stream)
	if err != nil {
		return nil, fmt.Errorf("redisstore: read session %q: %w", session, err)
	}
	return events, nil
}

// excess is how many of the oldest n entries that a log holds lie past
// the count cap. A log may hold up to an eighth of the cap of such entries
// between two trims (see capLua); every reader leaves them out, so that they are
// removed for all that the store's users can see, purge included: a
// replay that needs one is ErrPurged. n counts the entries of a read up
// to the newest one, which has the newest entries of the log, so the
// excess of the read is that of the log (or nothing, when the read
// starts past it).
func (s *Store) excess(n int) int { return max(n-s.limits.MaxEvents, 0) }

// execReplies checks the replies of MULTI, n queued commands and EXEC, and
// returns EXEC's n results.
func execReplies(res []rueidis.RedisResult, n int) ([]rueidis.RedisMessage, error) {
	for _, r := range res {
		if err := r.Error(); err != nil {
			return nil, err
		}
	}
	replies, err := res[len(res)-1].ToArray()
	if err != nil {
		return nil, err
	}
	if len(replies) != n {
		return nil, fmt.Errorf("transaction returned %d replies, want %d", len(replies), n)
	}
	for _, r := range replies {
		if err := r.Error(); err != nil && !rueidis.IsRedisNil(err) {
			return nil, err
		}
	}
	return replies, nil
}

// checkWatermark returns store.ErrPurged if the stream lost events after
// the seq (its watermark, nil if it never lost any, is greater).
func checkWatermark(mark rueidis.RedisMessage, after store.EventID) error {
	if mark.IsNil() {
		return nil
	}
	text, err := mark.ToString()
	if err != nil {
		return err
	}
	purged, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		return fmt.Errorf("bad purge watermark %q", text)
	}
	if purged > after.Seq {
		return store.ErrPurged
	}
	return nil
}

// streamEvents picks the entries of one stream out of an XRANGE reply.
func streamEvents(entries []rueidis.RedisMessage, stream string) ([]store.Event, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	// Usually most entries are of the stream asked for: the GET stream's
	// replay, or a short POST stream near the end of the log.
	events := make([]store.Event, 0, len(entries))
	for _, e := range entries {
		ent, err := parseEntry(e)
		if err != nil {
			return nil, err
		}
		if ent.stream != stream {
			continue
		}
		data, err := ent.data.ToString()
		if err != nil {
			return nil, fmt.Errorf("log entry %d: data: %w", ent.seq, err)
		}
		// Copied: the caller owns Event.Data and may change it.
		events = append(events, store.Event{ID: store.EventID{Stream: stream, Seq: ent.seq}, Data: []byte(data)})
	}
	if len(events) == 0 {
		return nil, nil
	}
	return events, nil
}

// entry is one log entry as XRANGE returns it: [<seq>-0, [s, <stream>, d,
// <data>]]. The data is left undecoded until it is wanted.
type entry struct {
	seq    uint64
	stream string
	data   *rueidis.RedisMessage
}

func parseEntry(e rueidis.RedisMessage) (entry, error) {
	pair, err := e.ToArray()
	if err != nil || len(pair) != 2 {
		return entry{}, fmt.Errorf("bad log entry (%d elements): %v", len(pair), err)
	}
	id, err := pair[0].ToString()
	if err != nil {
		return entry{}, fmt.Errorf("bad log entry id: %w", err)
	}
	seq, err := strconv.ParseUint(strings.TrimSuffix(id, "-0"), 10, 64)
	if err != nil {
		return entry{}, fmt.Errorf("bad log entry id %q", id)
	}
	fields, err := pair[1].ToArray()
	if err != nil || len(fields) != 4 {
		return entry{}, fmt.Errorf("log entry %s: bad fields (%d): %v", id, len(fields), err)
	}
	stream, err := fields[1].ToString()
	if err != nil {
		return entry{}, fmt.Errorf("log entry %s: stream: %w", id, err)
	}
	return entry{seq: seq, stream: stream, data: &fields[3]}, nil
}

// Streams implements store.Store: one XRANGE over the log, in order,
// without the entries past the cap (see excess).
func (s *Store) Streams(ctx context.Context, session string) ([]string, error) {
	if s.closed.Load() {
		return nil, store.ErrClosed
	}
	ev := s.keys.session(session)[1]
	entries, err := s.client.Do(ctx, s.client.B().Xrange().Key(ev).Start("-").End("+").Build()).ToArray()
	if err != nil {
		return nil, s.fail(err, "list streams of session %q", session)
	}
	var streams []string
	seen := make(map[string]bool)
	for _, e := range entries[s.excess(len(entries)):] {
		ent, err := parseEntry(e)
		if err != nil {
			return nil, fmt.Errorf("redisstore: list streams of session %q: %w", session, err)
		}
		if !seen[ent.stream] {
			seen[ent.stream] = true
			streams = append(streams, ent.stream)
		}
	}
	return streams, nil
}
