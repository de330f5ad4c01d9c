package boltstore

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mooring-dev/mooring/store"
)

const (
	// sweepScan bounds the ids one sweep collects, so that a backlog (say
	// after a long downtime) is worked off over several sweeps rather than
	// held in memory at once.
	sweepScan = 10000
	// sweepChunk is how many sessions one write transaction deletes: small
	// enough that appends waiting for the writer lock barely notice.
	sweepChunk = 256
)

// sweepLoop deletes expired sessions now and every interval until Close.
// Reads already treat expired sessions as missing; sweeping only gives the
// space back.
func (s *Store) sweepLoop(interval time.Duration) {
	defer close(s.swept)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		n, err := s.sweep()
		if err == nil {
			var nt int
			nt, err = s.sweepTasks()
			n += nt
		}
		s.sweepMu.Lock()
		s.sweepErr = err
		s.sweepMu.Unlock()
		if err != nil {
			s.log.Warn("boltstore: sweeping expired sessions failed", "path", s.db.Path(), "err", err)
		} else if n > 0 {
			s.log.Debug("boltstore: swept expired sessions", "path", s.db.Path(), "sessions", n)
		}
		select {
		case <-s.stop:
			return
		case <-tick.C:
		}
	}
}

// sweep deletes up to sweepScan expired sessions and returns how many it
// deleted. It stops early when Close is waiting.
func (s *Store) sweep() (int, error) {
	ids, err := s.expiredSessions(sweepScan)
	if err != nil {
		return 0, fmt.Errorf("scan: %w", err)
	}
	return s.deleteChunks(ids, encodeExpire)
}

// deleteChunks writes the expiry op that encode makes for ids, sweepChunk
// ids at a time, and returns how many the ops deleted. An expiry op
// (encodeExpire, encodeTaskExpire) deletes only the ids that are still
// expired when it runs (a write since the scan may have brought one back
// to life); it is a logged write like any other, with the clock reading
// that decided it, so that a replay deletes the same ones. deleteChunks
// stops early when Close is waiting.
func (s *Store) deleteChunks(ids []string, encode func(store.Limits, []string) []byte) (int, error) {
	deleted := 0
	for len(ids) > 0 {
		select {
		case <-s.stop:
			return deleted, nil
		default:
		}
		chunk := ids[:min(len(ids), sweepChunk)]
		ids = ids[len(chunk):]
		res, err := s.write(encode(s.limits, chunk))
		deleted += res.n
		if err != nil {
			return deleted, fmt.Errorf("delete: %w", err)
		}
	}
	return deleted, nil
}

// expiredSessions lists up to limit sessions that have expired.
func (s *Store) expiredSessions(limit int) ([]string, error) {
	var ids []string
	err := s.read(func(tx *bolt.Tx) error {
		now := nowNano()
		c := tx.Bucket(bucketSessions).Cursor()
		for k, v := c.First(); k != nil && len(ids) < limit; k, v = c.Next() {
			m, err := decodeMeta(v)
			if err != nil {
				return fmt.Errorf("session %q: %w", k, err)
			}
			if !m.live(now) {
				ids = append(ids, string(k))
			}
		}
		return nil
	})
	return ids, err
}
