package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/mooring-dev/mooring/store"
)

// listBatch is how many index entries ListSessions reads per round trip
// when the caller asks for all of them.
const listBatch = 1000

// PutSession implements store.Store. The record and the index are written
// in one round trip; on a Cluster they may sit on two nodes. Under a fence
// (store.WithFence) that the lease no longer holds, the record is left
// alone and it returns store.ErrFenced; the index entry may still be
// written, which is harmless (it only tells the sweep when to look).
func (s *Store) PutSession(ctx context.Context, rec store.Record) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	res := execMulti(ctx, s.client,
		call{putScript, s.keys.fenced(rec.ID), []string{string(rec.Data), s.ttlArg, fenceArg(ctx)}}, // copied, as in Append
		call{indexScript, s.keys.index(), []string{rec.ID, s.ttlArg, "put"}},
	)
	for _, r := range res {
		if err := r.Error(); err != nil {
			return s.fail(err, "put session %q", rec.ID)
		}
	}
	return nil
}

// GetSession implements store.Store.
func (s *Store) GetSession(ctx context.Context, id string) (store.Record, error) {
	if s.closed.Load() {
		return store.Record{}, store.ErrClosed
	}
	data, err := s.client.Do(ctx, s.client.B().Get().Key(s.keys.record(id)).Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return store.Record{}, fmt.Errorf("%w: session %q", store.ErrNotFound, id)
	}
	if err != nil {
		return store.Record{}, s.fail(err, "get session %q", id)
	}
	return store.Record{ID: id, Data: []byte(data)}, nil
}

// TouchSession implements store.Store. The index is re-scored in the same
// round trip, but only for an id it already holds.
func (s *Store) TouchSession(ctx context.Context, id string) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	res := execMulti(ctx, s.client,
		call{touchScript, s.keys.fenced(id), []string{s.ttlArg, fenceArg(ctx)}},
		call{indexScript, s.keys.index(), []string{id, s.ttlArg, "touch"}},
	)
	found, err := res[0].AsInt64()
	if err == nil {
		err = res[1].Error()
	}
	if err != nil {
		return s.fail(err, "touch session %q", id)
	}
	if found == 0 {
		return fmt.Errorf("%w: session %q", store.ErrNotFound, id)
	}
	return nil
}

// DeleteSession implements store.Store.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	idx := s.keys.index()
	b := s.client.B()
	// Deleting twice is deleting once: let rueidis resend after a
	// network error.
	res := s.client.DoMulti(ctx,
		b.Del().Key(s.keys.session(id)...).Build().ToRetryable(),
		b.Zrem().Key(idx[0]).Member(id).Build().ToRetryable(),
		b.Zrem().Key(idx[1]).Member(id).Build().ToRetryable(),
	)
	for _, r := range res {
		if err := r.Error(); err != nil {
			return s.fail(err, "delete session %q", id)
		}
	}
	return nil
}

// ListSessions implements store.Store. Ids come in lexical order and the
// cursor is the last id returned. Index entries whose record is gone are
// skipped and dropped on the way.
func (s *Store) ListSessions(ctx context.Context, cursor string, limit int) ([]string, string, error) {
	if s.closed.Load() {
		return nil, "", store.ErrClosed
	}
	batch := listBatch
	if limit > 0 {
		// One more than asked, to learn without another round trip whether
		// a next page exists.
		batch = min(limit+1, listBatch)
	}
	var out []string
	from := cursor
	for {
		ids, err := s.indexPage(ctx, from, batch)
		if err != nil {
			return nil, "", err
		}
		alive, err := s.alive(ctx, ids)
		if err != nil {
			return nil, "", err
		}
		for i, id := range ids {
			if !alive[i] {
				continue
			}
			if limit > 0 && len(out) == limit {
				return out, out[limit-1], nil
			}
			out = append(out, id)
		}
		if len(ids) < batch {
			return out, "", nil
		}
		from = ids[len(ids)-1]
	}
}

// indexPage reads up to n indexed ids after cursor, in lexical order.
func (s *Store) indexPage(ctx context.Context, cursor string, n int) ([]string, error) {
	lo := "-"
	if cursor != "" {
		lo = "(" + cursor
	}
	cmd := s.client.B().Zrangebylex().Key(s.keys.index()[0]).Min(lo).Max("+").Limit(0, int64(n)).Build()
	ids, err := s.client.Do(ctx, cmd).AsStrSlice()
	if err != nil {
		return nil, s.fail(err, "list sessions")
	}
	return ids, nil
}

// alive reports which of the ids still have a record, and settles the
// index entries of the others.
func (s *Store) alive(ctx context.Context, ids []string) ([]bool, error) {
	left, err := s.recordTTLs(ctx, ids)
	if err != nil {
		return nil, err
	}
	alive := make([]bool, len(ids))
	var gone []string
	for i, ms := range left {
		alive[i] = ms > 0
		if !alive[i] {
			gone = append(gone, ids[i])
		}
	}
	if len(gone) > 0 {
		if _, err := s.prune(ctx, gone, make([]int64, len(gone))); err != nil {
			return nil, err
		}
	}
	return alive, nil
}

// recordTTLs returns the remaining lifetime in ms of each id's record, 0 if
// it is gone. A record without expiry (someone ran PERSIST) counts as a
// full TTL. On a Cluster the PTTLs fan out to their nodes in parallel.
func (s *Store) recordTTLs(ctx context.Context, ids []string) ([]int64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	cmds := make(rueidis.Commands, len(ids))
	for i, id := range ids {
		cmds[i] = s.client.B().Pttl().Key(s.keys.record(id)).Build()
	}
	left := make([]int64, len(ids))
	for i, r := range s.client.DoMulti(ctx, cmds...) {
		ms, err := r.AsInt64()
		if err != nil {
			return nil, s.fail(err, "check session %q", ids[i])
		}
		switch {
		case ms == -1:
			left[i] = s.limits.TTL.Milliseconds()
		case ms > 0:
			left[i] = ms
		}
	}
	return left, nil
}

// prune runs pruneLua for ids whose records have left ms to live (0: gone).
func (s *Store) prune(ctx context.Context, ids []string, left []int64) (int64, error) {
	args := make([]string, 0, 2*len(ids))
	for i, id := range ids {
		args = append(args, id, strconv.FormatInt(left[i], 10))
	}
	n, err := pruneScript.exec(ctx, s.client, s.keys.index(), args).AsInt64()
	if err != nil {
		return 0, s.fail(err, "prune session index")
	}
	return n, nil
}

// Sweep settles the index entries whose recorded expiry has passed: it
// re-scores those whose session an Append kept alive and removes the rest.
// It returns how many it removed. The janitor calls it; it is exported for
// tools and tests.
func (s *Store) Sweep(ctx context.Context) (removed int64, err error) {
	if s.closed.Load() {
		return 0, store.ErrClosed
	}
	// A bounded number of rounds: with a clock skew between this host and
	// Redis a round can find entries that are not due yet and settle none.
	for range 64 {
		due, err := s.dueEntries(ctx)
		if err != nil || len(due) == 0 {
			return removed, err
		}
		left, err := s.recordTTLs(ctx, due)
		if err != nil {
			return removed, err
		}
		n, err := s.prune(ctx, due, left)
		removed += n
		if err != nil || len(due) < sweepBatch {
			return removed, err
		}
	}
	return removed, nil
}

// dueEntries reads up to sweepBatch ids whose recorded expiry has passed.
func (s *Store) dueEntries(ctx context.Context) ([]string, error) {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	cmd := s.client.B().Zrangebyscore().Key(s.keys.index()[1]).Min("-inf").Max(now).Limit(0, sweepBatch).Build()
	ids, err := s.client.Do(ctx, cmd).AsStrSlice()
	if err != nil {
		return nil, s.fail(err, "sweep session index")
	}
	return ids, nil
}

// startJanitor runs Sweep every interval until Close.
func (s *Store) startJanitor(interval time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			sctx, cancel := context.WithTimeout(ctx, interval)
			removed, err := s.Sweep(sctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				s.log.Warn("redisstore: sweeping the session index failed", "err", err, "removed", removed)
			}
			sctx, cancel = context.WithTimeout(ctx, interval)
			removed, err = s.SweepTasks(sctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				s.log.Warn("redisstore: sweeping the task index failed", "err", err, "removed", removed)
			}
		}
	}()
}

// CountSessions implements store.Counter: the size of the session index
// (ZCARD), which may count sessions that expired and were not settled yet.
func (s *Store) CountSessions(ctx context.Context) (int, error) {
	if s.closed.Load() {
		return 0, store.ErrClosed
	}
	n, err := s.client.Do(ctx, s.client.B().Zcard().Key(s.keys.index()[0]).Build()).AsInt64()
	if err != nil {
		return 0, s.fail(err, "count sessions")
	}
	return int(n), nil
}

var _ store.Counter = (*Store)(nil)
