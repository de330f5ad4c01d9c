package boltstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/mooring-dev/mooring/store"
)

// Every write is a logical operation (an op): encoded by the caller, written
// to the write-ahead log by the committer, and applied to the open bbolt
// transaction from its encoding. The live path and the replay after a crash
// decode and apply the same bytes, so they cannot disagree.
//
// An encoded op (its body) is
//
//	kind      1 byte
//	now       8 bytes, big-endian unix nanoseconds; stamped by the committer
//	ttl       uvarint nanoseconds  ┐ the limits in force when the op was
//	maxEvents uvarint              │ made: a restart with other limits
//	maxBytes  uvarint              ┘ replays it as it first ran
//	args      per kind, below; strings and byte strings are a uvarint
//	          length and the bytes
//
// The args of each kind:
//
//	put     session, record
//	touch   session
//	delete  session
//	append  session, stream, count, count × payload
//	import  session, count, count × (stream, seq uvarint, payload)
//	expire  count, count × session: the sweeper's deletion, decided at now
//	taskCreate, taskUpdate  id, scope, version, expires (unix ns), active, data
//	taskDelete              id
//	taskExpire              count, count × id (as expire, for tasks)
type opKind byte

const (
	opPut opKind = iota + 1
	opTouch
	opDelete
	opAppend
	opImport
	opExpire
	// Task ops; see tasks.go.
	opTaskCreate
	opTaskUpdate
	opTaskDelete
	opTaskExpire
)

// offNow is where the clock reading sits in a body; the committer writes it
// when the op joins a batch, so that ops apply in the order of their times.
const (
	offNow     = 1
	headerSize = 1 + 8 + 3*binary.MaxVarintLen64
)

// op is a decoded body. Its byte slices alias the body, which stays alive
// and unchanged until the checkpoint that commits it: bbolt keeps the values
// given to Put, without copying, until its transaction ends.
type op struct {
	kind    opKind
	now     int64
	lim     store.Limits
	session []byte
	stream  []byte   // append
	items   [][]byte // put: the record; append, import: payloads; expire: session ids
	streams [][]byte // import: the stream of each item
	seqs    []uint64 // import: the seq of each item
	key     []byte   // scratch for building keys while applying
	task    taskArgs // task ops
}

// opResult is what an op reports back. Expected outcomes (a missing
// session) travel here; errors are reserved for failures of bbolt.
type opResult struct {
	seq   uint64     // append: the seq of the first event
	found bool       // touch: the session exists and has a record
	n     int        // expire: sessions (or tasks) deleted
	task  taskResult // task ops
}

// encoder builds a body. Its capacity is computed up front, so that a body
// is one allocation.
type encoder []byte

func newBody(kind opKind, lim store.Limits, argBytes int) encoder {
	e := make(encoder, 1+8, headerSize+argBytes)
	e[0] = byte(kind)
	e = binary.AppendUvarint(e, uint64(lim.TTL))
	e = binary.AppendUvarint(e, uint64(lim.MaxEvents))
	return binary.AppendUvarint(e, uint64(lim.MaxBytes))
}

func (e encoder) uint(v uint64) encoder { return binary.AppendUvarint(e, v) }

func (e encoder) str(s string) encoder {
	return append(binary.AppendUvarint(e, uint64(len(s))), s...)
}

func (e encoder) bytes(b []byte) encoder {
	return append(binary.AppendUvarint(e, uint64(len(b))), b...)
}

// sized is the room a length-prefixed string of n bytes takes.
func sized(n int) int { return binary.MaxVarintLen64 + n }

func encodePut(lim store.Limits, session string, record []byte) []byte {
	return newBody(opPut, lim, sized(len(session))+sized(len(record))).str(session).bytes(record)
}

func encodeTouch(lim store.Limits, session string) []byte {
	return newBody(opTouch, lim, sized(len(session))).str(session)
}

func encodeDelete(lim store.Limits, session string) []byte {
	return newBody(opDelete, lim, sized(len(session))).str(session)
}

func encodeAppend(lim store.Limits, session, stream string, data [][]byte) []byte {
	n := sized(len(session)) + sized(len(stream)) + binary.MaxVarintLen64
	for _, d := range data {
		n += sized(len(d))
	}
	e := newBody(opAppend, lim, n).str(session).str(stream).uint(uint64(len(data)))
	for _, d := range data {
		e = e.bytes(d)
	}
	return e
}

func encodeImport(lim store.Limits, session string, events []store.Event) []byte {
	n := sized(len(session)) + binary.MaxVarintLen64
	for _, ev := range events {
		n += sized(len(ev.ID.Stream)) + binary.MaxVarintLen64 + sized(len(ev.Data))
	}
	e := newBody(opImport, lim, n).str(session).uint(uint64(len(events)))
	for _, ev := range events {
		e = e.str(ev.ID.Stream).uint(ev.ID.Seq).bytes(ev.Data)
	}
	return e
}

func encodeExpire(lim store.Limits, ids []string) []byte {
	n := binary.MaxVarintLen64
	for _, id := range ids {
		n += sized(len(id))
	}
	e := newBody(opExpire, lim, n).uint(uint64(len(ids)))
	for _, id := range ids {
		e = e.str(id)
	}
	return e
}

// stamp writes the clock reading that the op applies with.
func stamp(body []byte, now int64) {
	binary.BigEndian.PutUint64(body[offNow:], uint64(now))
}

var errCorruptOp = errors.New("corrupt operation")

// decoder reads a body. The first malformed field sets err; later reads
// return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = errCorruptOp
		return 0
	}
	d.b = d.b[n:]
	return v
}

// bytes returns a length-prefixed byte string, aliasing the body. Its
// capacity ends with it, so that an append to it can never overwrite the
// next field.
func (d *decoder) bytes() []byte {
	n := d.uint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = errCorruptOp
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

// count reads a number of items, each of which takes at least one byte:
// a corrupt count cannot make the decoder allocate beyond the body.
func (d *decoder) count() int {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.err = errCorruptOp
		return 0
	}
	return int(n)
}

// decodeOp decodes body into o, reusing o's slices, so that the committer
// decodes without allocating.
func decodeOp(body []byte, o *op) error {
	if len(body) < 1+8 {
		return fmt.Errorf("%w: %d bytes", errCorruptOp, len(body))
	}
	o.kind = opKind(body[0])
	o.now = int64(binary.BigEndian.Uint64(body[offNow:]))
	o.session, o.stream = nil, nil
	o.items, o.streams, o.seqs = o.items[:0], o.streams[:0], o.seqs[:0]
	d := decoder{b: body[1+8:]}
	o.lim = store.Limits{
		TTL:       time.Duration(d.uint()),
		MaxEvents: int(d.uint()),
		MaxBytes:  int64(d.uint()),
	}
	switch o.kind {
	case opPut:
		o.session = d.bytes()
		o.items = append(o.items, d.bytes())
	case opTouch, opDelete:
		o.session = d.bytes()
	case opAppend:
		o.session, o.stream = d.bytes(), d.bytes()
		for n := d.count(); n > 0 && d.err == nil; n-- {
			o.items = append(o.items, d.bytes())
		}
	case opImport:
		o.session = d.bytes()
		for n := d.count(); n > 0 && d.err == nil; n-- {
			o.streams = append(o.streams, d.bytes())
			o.seqs = append(o.seqs, d.uint())
			o.items = append(o.items, d.bytes())
		}
	case opExpire:
		for n := d.count(); n > 0 && d.err == nil; n-- {
			o.items = append(o.items, d.bytes())
		}
	case opTaskCreate, opTaskUpdate, opTaskDelete, opTaskExpire:
		o.decodeTask(&d)
	default:
		return fmt.Errorf("%w: unknown kind %d", errCorruptOp, o.kind)
	}
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d bytes left over", errCorruptOp, len(d.b))
	}
	return d.err
}
