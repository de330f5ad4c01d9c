package boltstore

import (
	bolt "go.etcd.io/bbolt"
)

// maxBatch bounds the writes that share one transaction, so that one commit
// cannot grow without limit under a flood of writes.
const maxBatch = 1000

// committer is the group commit: one goroutine runs every write, and takes
// all the writes that arrived while the previous commit was being synced
// into the next transaction. A lone write is committed at once, with no
// delay to wait for company; under load a batch is whatever queued during
// one fsync, so the cost of the fsync is shared by all of them.
type committer struct {
	db   *bolt.DB
	reqs chan writeReq // closed by Store.Close once no call is in flight
	done chan struct{} // closed when loop has returned
}

type writeReq struct {
	fn  func(tx *bolt.Tx) error
	err chan error
}

func newCommitter(db *bolt.DB) *committer {
	c := &committer{db: db, reqs: make(chan writeReq), done: make(chan struct{})}
	go c.loop()
	return c
}

// do runs fn in a write transaction that it may share with other writes,
// and returns when that transaction is committed (or has failed).
func (c *committer) do(fn func(tx *bolt.Tx) error) error {
	r := writeReq{fn: fn, err: make(chan error, 1)}
	c.reqs <- r
	return <-r.err
}

func (c *committer) loop() {
	defer close(c.done)
	batch := make([]writeReq, 0, maxBatch)
	for first := range c.reqs {
		batch = append(batch[:0], first)
	gather:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-c.reqs:
				if !ok {
					break gather
				}
				batch = append(batch, r)
			default:
				break gather
			}
		}
		c.run(batch)
		clear(batch) // let the payloads go before the next batch fills
	}
}

// run commits a batch. If one write fails, the transaction rolls back and
// every write of the batch runs again in a transaction of its own, so that
// one failure is reported to its caller only.
func (c *committer) run(batch []writeReq) {
	err := c.db.Update(func(tx *bolt.Tx) error {
		for _, r := range batch {
			if err := r.fn(tx); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || len(batch) == 1 {
		for _, r := range batch {
			r.err <- err
		}
		return
	}
	for _, r := range batch {
		r.err <- c.db.Update(r.fn)
	}
}
