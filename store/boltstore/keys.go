package boltstore

import (
	"encoding/binary"
	"fmt"
)

// Root buckets; see the package doc for the layout.
var (
	bucketSessions = []byte("sessions")
	bucketData     = []byte("data")
	bucketInfo     = []byte("info")
)

// keyFormat in the info bucket names the layout of the file, so that a
// later mooring that changes it can tell an old file from a new one.
// formatValue says that the file holds every acknowledged write; a
// mooring that predates the write-ahead log reads such a file. While a
// Store is open the file says formatLogged instead: acknowledged writes may
// be in the log beside it, which that older mooring would not replay (and
// would then contradict). Close writes formatValue back with its last
// checkpoint; after a crash the file keeps formatLogged until the next Open
// has replayed the log.
var (
	keyFormat    = []byte("format")
	formatValue  = []byte("1")
	formatLogged = []byte("2")
	// keyLSN holds the LSN of the last logged op that the file contains:
	// replay skips the log records at or below it.
	keyLSN = []byte("wal-lsn")
)

// Key kinds inside a session's data bucket.
const (
	kindRecord = 'r'
	kindOrder  = 'o'
	kindEvent  = 'e'
	kindPurged = 'p'
)

var keyRecord = []byte{kindRecord}

// orderKeyTo appends the order key of an event to b: o<seq>.
func orderKeyTo(b []byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append(b, kindOrder), seq)
}

// eventPrefix is what every key of one stream's events starts with:
// e<stream>0x00.
func eventPrefix(stream string) []byte {
	return eventPrefixTo(make([]byte, 0, len(stream)+10), stream)
}

func eventPrefixTo[S ~string | ~[]byte](b []byte, stream S) []byte {
	b = append(b, kindEvent)
	b = append(b, stream...)
	return append(b, 0)
}

// eventKey names the payload of an event: e<stream>0x00<seq>.
func eventKey(stream string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(eventPrefix(stream), seq)
}

// eventKeyTo appends the event key of stream and seq to b.
func eventKeyTo(b []byte, stream []byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(eventPrefixTo(b, stream), seq)
}

// purgeKey names a stream's purge watermark: p<stream>.
func purgeKey(stream string) []byte {
	return append([]byte{kindPurged}, stream...)
}

func encodeSeq(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// decodeSeq reads the 8-byte seq at the end of a key or value.
func decodeSeq(b []byte) (uint64, error) {
	if len(b) < 8 {
		return 0, fmt.Errorf("boltstore: corrupt seq %x", b)
	}
	return binary.BigEndian.Uint64(b[len(b)-8:]), nil
}

// meta is what the sessions bucket holds for one session. Its counts are
// running totals, kept in step with the data bucket by every write, so that
// caps are enforced without scanning.
type meta struct {
	expires int64  // unix nanoseconds; the session is missing from then on
	seq     uint64 // the last seq assigned
	count   uint64 // events kept
	bytes   uint64 // payload bytes kept
	record  bool   // PutSession wrote a record
}

const (
	metaVersion = 1
	metaLen     = 1 + 4*8 + 1
)

func (m meta) encode() []byte {
	b := make([]byte, 1, metaLen)
	b[0] = metaVersion
	b = binary.BigEndian.AppendUint64(b, uint64(m.expires))
	b = binary.BigEndian.AppendUint64(b, m.seq)
	b = binary.BigEndian.AppendUint64(b, m.count)
	b = binary.BigEndian.AppendUint64(b, m.bytes)
	if m.record {
		return append(b, 1)
	}
	return append(b, 0)
}

func decodeMeta(b []byte) (meta, error) {
	if len(b) != metaLen || b[0] != metaVersion {
		return meta{}, fmt.Errorf("boltstore: corrupt session meta %x", b)
	}
	return meta{
		expires: int64(binary.BigEndian.Uint64(b[1:])),
		seq:     binary.BigEndian.Uint64(b[9:]),
		count:   binary.BigEndian.Uint64(b[17:]),
		bytes:   binary.BigEndian.Uint64(b[25:]),
		record:  b[33] == 1,
	}, nil
}

// live reports whether the session has not expired at now.
func (m meta) live(now int64) bool { return now < m.expires }
