package boltstore

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/mooring-dev/mooring/store"
)

// apply runs o in tx and returns its outcome. It depends on nothing but the
// state in tx and on o (its clock reading and limits included), so that
// replaying o after a crash, on the state it first saw, does exactly what
// its first run did. It returns errors only for failures of bbolt; expected
// outcomes travel in the result.
func (o *op) apply(tx *bolt.Tx) (opResult, error) {
	switch o.kind {
	case opPut:
		return opResult{}, o.put(tx)
	case opTouch:
		found, err := o.touch(tx)
		return opResult{found: found}, err
	case opDelete:
		return opResult{}, deleteSession(tx, o.session)
	case opAppend:
		seq, err := o.appendEvents(tx)
		return opResult{seq: seq}, err
	case opImport:
		return opResult{}, o.importEvents(tx)
	case opExpire:
		n, err := o.expire(tx)
		return opResult{n: n}, err
	case opTaskCreate, opTaskUpdate, opTaskDelete, opTaskExpire:
		return o.applyTask(tx)
	}
	return opResult{}, fmt.Errorf("%w: unknown kind %d", errCorruptOp, o.kind)
}

// applyBody decodes an encoded op into o (reused, see decodeOp) and
// applies it to tx: how a logged write is run again, by a rebuild of the
// committer's transaction and by the replay of the log at Open.
func applyBody(tx *bolt.Tx, body []byte, o *op) error {
	if err := decodeOp(body, o); err != nil {
		return err
	}
	_, err := o.apply(tx)
	return err
}

// expiry is when a session written by o expires.
func (o *op) expiry() int64 { return o.now + int64(o.lim.TTL) }

func (o *op) put(tx *bolt.Tx) error {
	m, b, err := openForWrite(tx, o.session, o.now)
	if err != nil {
		return err
	}
	if err := b.Put(keyRecord, o.items[0]); err != nil {
		return err
	}
	m.record = true
	m.expires = o.expiry()
	return putMeta(tx, o.session, m)
}

func (o *op) touch(tx *bolt.Tx) (bool, error) {
	m, ok, err := loadMeta(tx, o.session, o.now)
	if err != nil || !ok || !m.record {
		return false, err
	}
	m.expires = o.expiry()
	return true, putMeta(tx, o.session, m)
}

// appendEvents adds o's payloads to its stream and returns the seq of the
// first. The seq, the trimming of the oldest events and the new expiry go
// together.
func (o *op) appendEvents(tx *bolt.Tx) (uint64, error) {
	m, b, err := openForWrite(tx, o.session, o.now)
	if err != nil {
		return 0, err
	}
	first := m.seq + 1
	for _, d := range o.items {
		m.seq++
		if err := o.putEvent(b, &m, o.stream, d); err != nil {
			return 0, err
		}
		if err := trim(b, &m, o.lim); err != nil {
			return 0, err
		}
	}
	m.expires = o.expiry()
	return first, putMeta(tx, o.session, m)
}

// putEvent writes event m.seq of stream and counts it. The keys are built
// in a scratch buffer (bbolt copies keys; it keeps values as given).
func (o *op) putEvent(b *bolt.Bucket, m *meta, stream, data []byte) error {
	o.key = orderKeyTo(o.key[:0], m.seq)
	if err := b.Put(o.key, stream); err != nil {
		return err
	}
	o.key = eventKeyTo(o.key[:0], stream, m.seq)
	if err := b.Put(o.key, data); err != nil {
		return err
	}
	m.count++
	m.bytes += uint64(len(data))
	return nil
}

// importEvents writes events with the seqs another store assigned. Events
// at or below the session's last seq are left out, so that importing the
// same events twice changes nothing; the seq rises to the highest imported.
func (o *op) importEvents(tx *bolt.Tx) error {
	m, b, err := openForWrite(tx, o.session, o.now)
	if err != nil {
		return err
	}
	for i, d := range o.items {
		if o.seqs[i] <= m.seq {
			continue // present already, or older than what the session holds
		}
		m.seq = o.seqs[i]
		if err := o.putEvent(b, &m, o.streams[i], d); err != nil {
			return err
		}
	}
	if err := trim(b, &m, o.lim); err != nil {
		return err
	}
	m.expires = o.expiry()
	return putMeta(tx, o.session, m)
}

// expire deletes the sessions among o's that have expired at o.now: a write
// since the sweeper's scan may have brought one back to life.
func (o *op) expire(tx *bolt.Tx) (int, error) {
	n := 0
	for _, id := range o.items {
		v := tx.Bucket(bucketSessions).Get(id)
		if v == nil {
			continue // already deleted
		}
		m, err := decodeMeta(v)
		if err != nil {
			return n, fmt.Errorf("session %q: %w", id, err)
		}
		if m.live(o.now) {
			continue
		}
		if err := deleteSession(tx, id); err != nil {
			return n, fmt.Errorf("session %q: %w", id, err)
		}
		n++
	}
	return n, nil
}

// trim removes the oldest events of a session while it is over either cap,
// but never its newest event: Append has just promised it to a sender. Each
// removal raises the purge watermark of the event's stream, so that a
// replay across it fails with ErrPurged rather than skipping it.
func trim(b *bolt.Bucket, m *meta, lim store.Limits) error {
	for m.count > 1 && (m.count > uint64(lim.MaxEvents) || m.bytes > uint64(lim.MaxBytes)) {
		// One cursor finds and deletes both keys: a search per key less
		// than Get and Delete would make.
		c := b.Cursor()
		k, v := c.Seek([]byte{kindOrder})
		if k == nil || k[0] != kindOrder {
			return fmt.Errorf("meta counts %d events but the order index is empty", m.count)
		}
		seq, err := decodeSeq(k)
		if err != nil {
			return err
		}
		// Copy out of bbolt's memory before changing the bucket.
		stream := string(v)
		if err := c.Delete(); err != nil {
			return err
		}
		ek := eventKey(stream, seq)
		k, v = c.Seek(ek)
		if !bytes.Equal(k, ek) {
			return fmt.Errorf("order index names a missing event %s_%d", stream, seq)
		}
		size := uint64(len(v))
		if err := c.Delete(); err != nil {
			return err
		}
		if err := b.Put(purgeKey(stream), encodeSeq(seq)); err != nil {
			return err
		}
		m.count--
		m.bytes -= min(size, m.bytes)
	}
	return nil
}
