package boltstore

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// The write-ahead log is a file beside the bbolt file (<path>.wal) that
// holds the ops applied since the last checkpoint, as records:
//
//	length  4 bytes, big-endian: of the body
//	crc     4 bytes, big-endian: CRC-32C of the LSN and the body
//	lsn     8 bytes, big-endian: log sequence number, one more than the
//	        previous record's
//	body    the encoded op (see ops.go)
//
// After a checkpoint the log starts again at offset 0 and overwrites the
// previous generation in place rather than truncating the file: an
// overwrite of written blocks needs no metadata in the fsync, which made
// it about twice as fast as an append on the machines measured. Whatever is
// left of older generations past the end of the current one cannot be
// mistaken for it: an old record's LSN is at or below the checkpoint (so it
// does not follow the current generation's last LSN), and a partly
// overwritten one fails its length or checksum.
type wal struct {
	f   *os.File
	off int64 // where the next record goes: the end of the current generation
}

const (
	recordHeader = 4 + 4 + 8
	// maxBody bounds one record; bbolt's own limit on a value is lower.
	maxBody = 1<<31 - 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendRecord appends the record of body with lsn to buf.
func appendRecord(buf []byte, lsn uint64, body []byte) []byte {
	var h [recordHeader]byte
	binary.BigEndian.PutUint32(h[0:], uint32(len(body)))
	binary.BigEndian.PutUint64(h[8:], lsn)
	crc := crc32.Update(0, castagnoli, h[8:])
	binary.BigEndian.PutUint32(h[4:], crc32.Update(crc, castagnoli, body))
	return append(append(buf, h[:]...), body...)
}

// write appends records to the log with one write and, with sync, one
// fsync: when it returns nil they survive a crash of the machine.
func (w *wal) write(records []byte, sync bool) error {
	if _, err := w.f.WriteAt(records, w.off); err != nil {
		return fmt.Errorf("write %s: %w", w.f.Name(), err)
	}
	if sync {
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("sync %s: %w", w.f.Name(), err)
		}
	}
	w.off += int64(len(records))
	return nil
}

// restart begins a new generation at the start of the file; the caller has
// made the file hold everything the old one did.
func (w *wal) restart() { w.off = 0 }

// record is one record of the log, its body aliasing the bytes read.
type record struct {
	lsn  uint64
	body []byte
}

// readLog reads the records of the log's current generation: from the
// start of the file while each record is whole, its checksum holds and its
// LSN follows the previous one. What comes after the first record that
// fails is the tail of a write that a crash cut short (never acknowledged)
// or a leftover of an older generation, and is ignored.
func readLog(f *os.File) ([]record, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	data := make([]byte, st.Size())
	if _, err := io.ReadFull(io.NewSectionReader(f, 0, st.Size()), data); err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	var recs []record
	for len(data) >= recordHeader {
		n := binary.BigEndian.Uint32(data[0:])
		lsn := binary.BigEndian.Uint64(data[8:])
		if n < 1+8 || uint64(n) > uint64(len(data)-recordHeader) || lsn == 0 {
			break
		}
		if len(recs) > 0 && lsn != recs[len(recs)-1].lsn+1 {
			break
		}
		body := data[recordHeader : recordHeader+int(n) : recordHeader+int(n)]
		crc := crc32.Update(crc32.Update(0, castagnoli, data[8:16]), castagnoli, body)
		if crc != binary.BigEndian.Uint32(data[4:]) {
			break
		}
		recs = append(recs, record{lsn: lsn, body: body})
		data = data[recordHeader+int(n):]
	}
	return recs, nil
}
