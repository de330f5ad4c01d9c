package boltstore

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/mooring-dev/mooring/store"
)

const (
	// maxBatch bounds the requests that one round of the committer takes,
	// so that one log write cannot grow without limit under a flood.
	maxBatch = 1000
	// maxLogSize makes a checkpoint due before its interval is up, so that
	// the log, the transaction's memory and the replay after a crash stay
	// bounded under heavy writing.
	maxLogSize = 16 << 20
	// maxBufKeep is the largest log buffer kept between batches.
	maxBufKeep = 4 << 20
)

// committer runs every read and write of the store on one goroutine, in
// one bbolt write transaction that stays open across many batches.
//
// A batch is whatever queued while the previous one was being synced; a
// lone request is served at once, with no delay to wait for company. The
// batch's reads run first, on the state that is already in the log. Then
// its writes are applied to the transaction and their records written to
// the log with one write and one fsync, and only then are the writers
// answered: an acknowledged write is in the log, and no read has seen a
// write that is not.
//
// A checkpoint commits the transaction (with bbolt's own fsync) once the
// oldest write it holds is interval old, the log has grown past
// maxLogSize, or the store closes; the log then starts again. A crash
// loses the transaction, and Open replays the log instead.
type committer struct {
	db       *bolt.DB
	log      *wal
	interval time.Duration
	noSync   bool
	logger   *slog.Logger

	reqs chan *request // closed by Store.shutdown once no call is in flight
	done chan struct{} // closed when loop has returned
	// crash is set before reqs is closed by a simulated crash (tests): the
	// loop then ends without a checkpoint.
	crash bool
	// closeErr is what the last checkpoint at close returned; read after
	// done is closed.
	closeErr error

	// Owned by the loop goroutine.
	tx      *bolt.Tx // nil after a failure, until rebuild
	pending [][]byte // bodies applied to tx since the last checkpoint; all in the log
	lsn     uint64   // the LSN of the last record written (or given up, see logBad)
	since   time.Time
	// logBad: a log write failed, so part of its records may be in the
	// file. Nothing is logged until a checkpoint has restarted the log.
	logBad bool
	op     op // decoded in place, to decode without allocating
	buf    []byte
	writes []*request

	mu sync.Mutex
	// Guarded by mu, for Ping: the last failure to write the log, until a
	// log write succeeds, and to checkpoint, until a checkpoint succeeds.
	logErr, checkpointErr error
}

// request is one call handed to the committer: a write (body, the encoded
// op) or a read (read, run in the transaction).
type request struct {
	body []byte
	read func(tx *bolt.Tx) error
	res  opResult
	err  error
	done chan struct{} // receives once the request is answered
}

// requests are pooled: a request and its channel per call were a good part
// of the allocations of an append.
var requests = sync.Pool{New: func() any { return &request{done: make(chan struct{}, 1)} }}

func newCommitter(db *bolt.DB, log *wal, lsn uint64, o Options) (*committer, error) {
	tx, err := db.Begin(true)
	if err != nil {
		return nil, fmt.Errorf("begin transaction: %w", err)
	}
	c := &committer{
		db: db, log: log, interval: o.CheckpointInterval, noSync: o.NoSync, logger: o.Logger,
		reqs: make(chan *request), done: make(chan struct{}),
		tx: tx, lsn: lsn,
	}
	go c.loop()
	return c, nil
}

// do hands a write (body) or a read to the loop and waits for its answer.
// A write is answered once it is in the log; a read runs in the open
// transaction and must copy out whatever it keeps, since bbolt's memory is
// only valid inside it.
func (c *committer) do(body []byte, read func(tx *bolt.Tx) error) (opResult, error) {
	r := requests.Get().(*request)
	r.body, r.read = body, read
	c.reqs <- r
	<-r.done
	res, err := r.res, r.err
	*r = request{done: r.done}
	requests.Put(r)
	return res, err
}

func (c *committer) loop() {
	defer close(c.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false
	batch := make([]*request, 0, maxBatch)
	for {
		// Arm the checkpoint timer while writes are pending, so that an
		// idle store checkpoints too.
		if want := len(c.pending) > 0; want && !armed {
			timer.Reset(max(0, c.interval-time.Since(c.since)))
			armed = true
		} else if !want && armed {
			timer.Stop()
			armed = false
		}
		var first *request
		var ok bool
		if armed {
			select {
			case first, ok = <-c.reqs:
			case <-timer.C:
				armed = false
				_ = c.checkpoint(false) // logged, and reported by Ping
				continue
			}
		} else {
			first, ok = <-c.reqs
		}
		if !ok {
			timer.Stop()
			c.closeErr = c.finish()
			return
		}
		batch = append(batch[:0], first)
	gather:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-c.reqs:
				if !ok {
					break gather // Close: the next receive ends the loop
				}
				batch = append(batch, r)
			default:
				break gather
			}
		}
		c.run(batch)
		clear(batch) // let the payloads go before the next batch fills
		if len(c.pending) > 0 && (time.Since(c.since) >= c.interval || c.log.off >= maxLogSize) {
			_ = c.checkpoint(false)
		}
	}
}

// run serves a batch: reads first, then the writes.
func (c *committer) run(batch []*request) {
	// Reads before the batch's writes are applied: they see only writes
	// that are in the log already. A write that a read has seen must
	// survive a crash, or a client could be sent an event id that the
	// store later gives to another event.
	c.writes = c.writes[:0]
	for _, r := range batch {
		if r.body != nil {
			c.writes = append(c.writes, r)
			continue
		}
		r.err = c.heal()
		if r.err == nil {
			r.err = c.guard(func() error { return r.read(c.tx) })
		}
		r.done <- struct{}{}
	}
	if len(c.writes) > 0 {
		c.runWrites(c.writes)
		for _, w := range c.writes {
			w.done <- struct{}{}
		}
		clear(c.writes)
	}
}

// runWrites applies the writes and logs them; it sets each one's result
// or error.
func (c *committer) runWrites(ws []*request) {
	if err := c.heal(); err != nil {
		for _, w := range ws {
			w.err = err
		}
		return
	}
	now := nowNano()
	for _, w := range ws {
		stamp(w.body, now)
	}
	if err := c.applyAll(ws); err != nil {
		for _, w := range ws {
			if w.err == nil {
				w.err = err
			}
		}
		return
	}
	c.buf = c.buf[:0]
	lsn := c.lsn
	for _, w := range ws {
		if w.err == nil {
			lsn++
			c.buf = appendRecord(c.buf, lsn, w.body)
		}
	}
	if lsn == c.lsn {
		return // every write failed
	}
	err := c.log.write(c.buf, !c.noSync)
	if cap(c.buf) > maxBufKeep {
		c.buf = nil
	}
	if err != nil {
		c.logFailed(ws, lsn, fmt.Errorf("write-ahead log: %w", err))
		return
	}
	c.lsn = lsn
	c.setFailure(&c.logErr, nil)
	if len(c.pending) == 0 {
		c.since = time.Now()
	}
	for _, w := range ws {
		if w.err == nil {
			c.pending = append(c.pending, w.body)
		}
	}
}

// logFailed handles a failed log write: the batch's writers get err, and
// its effects leave the transaction. Part of its records may be in the
// file; their LSNs (up to lsn) are given up, so that a later record can
// never follow them. A checkpoint then puts everything logged before into
// the file and restarts the log; until one succeeds nothing is logged.
func (c *committer) logFailed(ws []*request, lsn uint64, err error) {
	for _, w := range ws {
		if w.err == nil {
			w.err = err
		}
	}
	c.lsn = lsn
	c.logBad = true
	c.setFailure(&c.logErr, err)
	c.logger.Error("boltstore: writing the write-ahead log failed", "path", c.log.f.Name(), "err", err)
	c.rollback()
	_ = c.heal() // logged, and tried again before the next write
}

// applyAll applies the writes to the transaction. bbolt has no savepoints:
// when one fails, the transaction is rebuilt from the logged writes and the
// batch applied again without the failed one, which alone gets the error.
// Each round removes one write, so it ends. A non-nil error means that the
// transaction could not be rebuilt.
func (c *committer) applyAll(ws []*request) error {
	for {
		failed := false
		for _, w := range ws {
			if w.err != nil {
				continue
			}
			if err := decodeOp(w.body, &c.op); err != nil {
				w.err = err // nothing applied yet
				continue
			}
			var res opResult
			err := c.guard(func() (err error) {
				res, err = c.op.apply(c.tx)
				return err
			})
			if err != nil {
				w.err = err
				failed = true
				break
			}
			w.res = res
		}
		if !failed {
			return nil
		}
		if err := c.rebuild(); err != nil {
			return err
		}
	}
}

// heal makes the committer ready for requests after a failure: an open
// transaction holding every logged write, and a log that the next record
// may follow.
func (c *committer) heal() error {
	if c.tx == nil {
		if err := c.rebuild(); err != nil {
			return err
		}
	}
	if c.logBad {
		return c.checkpoint(false)
	}
	return nil
}

// rebuild rolls the transaction back and begins a new one holding every
// write logged since the last checkpoint, applied again in order.
func (c *committer) rebuild() error {
	c.rollback()
	tx, err := c.db.Begin(true)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	for _, body := range c.pending {
		if err := c.guard(func() error { return applyBody(tx, body, &c.op) }); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("apply a logged write again: %w", err)
		}
	}
	c.tx = tx
	return nil
}

func (c *committer) rollback() {
	if c.tx != nil {
		_ = c.tx.Rollback() // only fails on a transaction that is closed already
		c.tx = nil
	}
}

// checkpoint commits the transaction with the LSN of the last logged
// write, then restarts the log, whose records the file now holds. final
// also marks the file as holding everything (formatValue) and leaves no
// transaction open.
func (c *committer) checkpoint(final bool) error {
	if len(c.pending) == 0 && !c.logBad && !final {
		return nil
	}
	if c.tx == nil {
		if err := c.rebuild(); err != nil {
			return err
		}
	}
	info := c.tx.Bucket(bucketInfo)
	err := info.Put(keyLSN, encodeSeq(c.lsn))
	if err == nil && final {
		err = info.Put(keyFormat, formatValue)
	}
	if err == nil {
		err = c.guard(c.tx.Commit) // rolls back if it fails
	} else {
		_ = c.tx.Rollback()
	}
	c.tx = nil
	if err != nil {
		err = fmt.Errorf("checkpoint: %w", err)
		c.setFailure(&c.checkpointErr, err)
		c.logger.Error("boltstore: checkpoint failed; the write-ahead log keeps the writes", "path", c.db.Path(), "err", err)
		c.since = time.Now() // try again after an interval, not at every batch
		return err
	}
	clear(c.pending)
	c.pending = c.pending[:0]
	c.log.restart()
	c.logBad = false
	c.setFailure(&c.checkpointErr, nil)
	if final {
		return nil
	}
	if c.tx, err = c.db.Begin(true); err != nil {
		return fmt.Errorf("begin transaction: %w", err) // heal tries again
	}
	return nil
}

// finish ends the loop when the store closes: a last checkpoint, then an
// empty log. A simulated crash just drops the transaction.
func (c *committer) finish() error {
	if c.crash {
		c.rollback()
		return c.log.f.Close()
	}
	err := c.checkpoint(true)
	if err == nil {
		// A tidy directory; if the truncation is lost, the records are at
		// or below the checkpoint and replay skips them.
		if terr := c.log.f.Truncate(0); terr != nil {
			err = fmt.Errorf("truncate %s: %w", c.log.f.Name(), terr)
		}
	}
	c.rollback()
	if cerr := c.log.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close %s: %w", c.log.f.Name(), cerr)
	}
	return err
}

func (c *committer) setFailure(field *error, err error) {
	c.mu.Lock()
	*field = err
	c.mu.Unlock()
}

// lastFailure is the last failure to log or to checkpoint that has not
// been followed by a success of the same.
func (c *committer) lastFailure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.logErr != nil {
		return c.logErr
	}
	return c.checkpointErr
}

// guard runs fn, a read or a write of the transaction, and turns a panic of
// bbolt (a damaged page: "assertion failed", "invalid page type") or a
// fault on the mapped file into an error that wraps ErrDamaged and
// store.ErrNotFound: the request that met the damage fails as if its
// session were gone, and every other session goes on. The transaction may
// be half changed, so it is dropped and rebuilt from the logged writes
// before the next request.
func (c *committer) guard(fn func() error) error {
	err := safely(fn)
	if errors.Is(err, ErrDamaged) {
		c.logger.Error("boltstore: a damaged page of the data file was met; the request fails as if its session were lost (run mooring check)",
			"path", c.db.Path(), "err", err)
		if c.tx != nil {
			_ = safely(c.tx.Rollback)
			c.tx = nil
		}
		return fmt.Errorf("%w (%w)", store.ErrNotFound, err)
	}
	return err
}
