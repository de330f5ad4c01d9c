package boltstore

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"

	bolt "go.etcd.io/bbolt"
)

// recoverFile readies the bbolt file for a new run and returns the LSN of
// the last logged write that it holds. In one transaction it creates the
// root buckets (a new file) or checks the format, applies the records of
// the log that the file lacks (a crash: those after the checkpointed LSN,
// in order, with the clock readings and limits they first ran with), and
// marks the file as having a log (formatLogged). After this commit the log
// may start again from its beginning.
func recoverFile(db *bolt.DB, log *os.File, logger *slog.Logger) (uint64, error) {
	recs, err := readLog(log)
	if err != nil {
		return 0, err
	}
	tx, err := db.Begin(true)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback() // a no-op after Commit
	lsn, err := initFile(tx)
	if err != nil {
		return 0, err
	}
	checkpointed := lsn
	var o op
	for _, r := range recs {
		if r.lsn <= checkpointed {
			continue // in the file already: a checkpoint was not followed by a log write
		}
		if r.lsn != lsn+1 {
			return 0, fmt.Errorf("write-ahead log %s starts at record %d, but the file holds records up to %d only: writes are missing",
				log.Name(), r.lsn, lsn)
		}
		if err := applyBody(tx, r.body, &o); err != nil {
			return 0, fmt.Errorf("replay record %d of write-ahead log %s: %w", r.lsn, log.Name(), err)
		}
		lsn = r.lsn
	}
	info := tx.Bucket(bucketInfo)
	if err := info.Put(keyLSN, encodeSeq(lsn)); err != nil {
		return 0, err
	}
	if err := info.Put(keyFormat, formatLogged); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, err
	}
	if n := lsn - checkpointed; n > 0 {
		logger.Info("boltstore: replayed writes from the write-ahead log after a crash", "path", log.Name(), "writes", n)
	}
	return lsn, nil
}

// initFile creates the root buckets of a new file, checks the format of an
// existing one, and returns the LSN that the file was last checkpointed at.
func initFile(tx *bolt.Tx) (uint64, error) {
	info, err := tx.CreateBucketIfNotExists(bucketInfo)
	if err != nil {
		return 0, err
	}
	if f := info.Get(keyFormat); f != nil && !bytes.Equal(f, formatValue) && !bytes.Equal(f, formatLogged) {
		return 0, fmt.Errorf("file format %q, this mooring reads formats %q and %q", f, formatValue, formatLogged)
	}
	for _, name := range [][]byte{bucketSessions, bucketData, bucketTasks, bucketTaskScopes, bucketTaskActive} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return 0, err
		}
	}
	v := info.Get(keyLSN)
	if v == nil {
		return 0, nil
	}
	return decodeSeq(v)
}
