package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/redis/rueidis"
)

// Appends are group-committed: concurrent Append and AppendBatch calls,
// of any sessions, go to Redis together as one appendsLua script. Redis
// runs scripts on one thread and the fixed cost of a script call (and the
// per-session work: seq, caps, TTL) was most of an append's cost, so one
// script for many events is what raises the append rate.
//
// There is no timer: a call that finds fewer than maxInflight batches
// under way sends its events at once, alone, from its own goroutine, as
// a lone appender always does. Calls that find maxInflight batches under
// way queue, and whichever batch finishes first sends everything queued
// (up to batchEvents and batchBytes) as the next batch. The busier Redis
// is, the larger the batches grow.
const (
	// maxInflight is how many batch scripts may be under way at once.
	// rueidis pipelines them, so Redis finds the next one in its socket
	// buffer when it finishes one, instead of idling for a round trip.
	maxInflight = 4
	// batchEvents and batchBytes bound one batch, so that a script does
	// not hold Redis' one thread for long, nor need a large buffer. A
	// single call larger than that still goes, alone.
	batchEvents = 128
	batchBytes  = 1 << 20
)

// appendReq is one Append or AppendBatch call: its events and, once its
// batch ran, its result.
type appendReq struct {
	ctx     context.Context
	session string
	fence   string // the lease token it is made under, "" for none; see fenceLua
	slot    uint16 // on a Cluster, a batch holds requests of one slot
	stream  string
	data    []string
	size    int

	// Set by the batch before done is closed.
	first uint64 // seq of data[0]; the others follow one by one
	err   error
	done  chan struct{}
}

// appender is the queue of requests waiting for a batch.
type appender struct {
	mu       sync.Mutex
	queue    []*appendReq
	inflight int // batches under way
}

// appendEvents appends data to one stream of a session, through a batch,
// and returns the seq of the first event.
func (s *Store) appendEvents(ctx context.Context, session, stream string, data []string) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, s.fail(err, "append to session %q stream %q", session, stream)
	}
	r := &appendReq{ctx: ctx, session: session, fence: fenceArg(ctx), stream: stream, data: data, done: make(chan struct{})}
	for _, d := range data {
		r.size += len(d)
	}
	if s.cluster {
		r.slot = slot(hashTag(session))
	}
	a := &s.appends
	a.mu.Lock()
	a.queue = append(a.queue, r)
	// Requests queue only while maxInflight batches are under way (or, on a
	// Cluster, while those of other slots were taken first), so a request
	// that finds a free slot usually finds itself alone in the queue.
	batches := a.takeAll()
	a.mu.Unlock()
	var alone []*appendReq
	for _, b := range batches {
		if len(b) == 1 && b[0] == r {
			alone = b
			continue
		}
		// A batch of others (on a Cluster, of other slots) must not wait
		// for this caller, nor end with its ctx.
		go s.runBatches(context.WithoutCancel(b[0].ctx), b, true)
	}
	if alone != nil {
		// Sent from this goroutine, with this caller's ctx, as a single
		// append was before batching.
		s.runBatches(ctx, alone, false)
	}

	select {
	case <-r.done:
		return r.first, r.err
	case <-ctx.Done():
	}
	a.mu.Lock()
	if i := slices.Index(a.queue, r); i >= 0 {
		// Not sent yet: it never will be.
		a.queue = slices.Delete(a.queue, i, i+1)
	}
	a.mu.Unlock()
	// Otherwise its batch is under way and may append it, as a cancelled
	// Do may still run its command; the result is not delivered.
	return 0, s.fail(ctx.Err(), "append to session %q stream %q", session, stream)
}

// takeAll starts as many batches as the in-flight limit allows. It holds
// a.mu.
func (a *appender) takeAll() [][]*appendReq {
	var batches [][]*appendReq
	for a.inflight < maxInflight && len(a.queue) > 0 {
		batches = append(batches, a.take())
		a.inflight++
	}
	return batches
}

// take removes the next batch from the queue: the first request and the
// ones after it of the same slot (all of them, outside a Cluster), in
// queue order, while they fit. It holds a.mu.
func (a *appender) take() []*appendReq {
	first := a.queue[0]
	batch := []*appendReq{first}
	events, size, full := len(first.data), first.size, false
	keep := a.queue[:0]
	for _, r := range a.queue[1:] {
		if !full && r.slot == first.slot {
			if events+len(r.data) <= batchEvents && size+r.size <= batchBytes {
				batch = append(batch, r)
				events += len(r.data)
				size += r.size
				continue
			}
			// Later requests wait too, so that batches keep the order
			// in which the requests of a slot came.
			full = true
		}
		keep = append(keep, r)
	}
	clear(a.queue[len(keep):])
	a.queue = keep
	return batch
}

// runBatches runs batch, delivers its results and starts the batches that
// queued meanwhile. In a goroutine of its own (loop) it runs the first of
// those itself; a caller's goroutine hands them all to new goroutines, so
// that its caller gets its result now.
func (s *Store) runBatches(ctx context.Context, batch []*appendReq, loop bool) {
	for {
		s.execBatch(ctx, batch)
		for _, r := range batch {
			close(r.done)
		}
		a := &s.appends
		a.mu.Lock()
		a.inflight--
		next := a.takeAll()
		a.mu.Unlock()
		if !loop {
			for _, b := range next {
				go s.runBatches(context.WithoutCancel(b[0].ctx), b, true)
			}
			return
		}
		if len(next) == 0 {
			return
		}
		for _, b := range next[1:] {
			go s.runBatches(context.WithoutCancel(b[0].ctx), b, true)
		}
		batch, ctx = next[0], context.WithoutCancel(next[0][0].ctx)
	}
}

// sessionReqs are the requests of one session in a batch, in queue order,
// made under one fence: requests of one session under different fences
// (rare: a lease changed hands within the process) are checked apart.
type sessionReqs struct {
	group
	reqs   []*appendReq
	events int
}

// group is what the requests of one sessionReqs share.
type group struct {
	session, fence string
}

// execBatch runs one appendsLua script for the requests of batch and sets
// their results.
func (s *Store) execBatch(ctx context.Context, batch []*appendReq) {
	// The events of one session go together, so that the script does the
	// per-session work once.
	sessions := make([]sessionReqs, 0, len(batch))
	var index map[group]int // for large batches; small ones search
	if len(batch) > 16 {
		index = make(map[group]int, len(batch))
	}
	events := 0
	for _, r := range batch {
		key := group{r.session, r.fence}
		i, ok := -1, false
		if index != nil {
			i, ok = index[key]
		} else {
			i = slices.IndexFunc(sessions, func(g sessionReqs) bool { return g.group == key })
			ok = i >= 0
		}
		if !ok {
			i = len(sessions)
			if index != nil {
				index[key] = i
			}
			sessions = append(sessions, sessionReqs{group: key})
		}
		sessions[i].reqs = append(sessions[i].reqs, r)
		sessions[i].events += len(r.data)
		events += len(r.data)
	}
	keys := make([]string, 0, 4*len(sessions))
	args := make([]string, 0, 4+2*len(sessions)+2*events)
	args = append(args, s.ttlArg, s.maxEventsArg, s.maxBytesArg, s.refreshArg)
	for _, g := range sessions {
		keys = s.keys.appendSession(keys, g.session, true)
		args = append(args, g.fence, strconv.Itoa(g.events))
		for _, r := range g.reqs {
			for _, d := range r.data {
				args = append(args, r.stream, d)
			}
		}
	}

	replies, err := appendsScript.exec(ctx, s.client, keys, args).ToArray()
	if err == nil && len(replies) != len(sessions) {
		err = fmt.Errorf("append script returned %d replies for %d sessions", len(replies), len(sessions))
	}
	for i, g := range sessions {
		var first uint64
		gerr := err
		if gerr == nil {
			first, gerr = firstSeq(replies[i])
		}
		for _, r := range g.reqs {
			if gerr != nil {
				r.err = s.fail(gerr, "append to session %q stream %q", r.session, r.stream)
				continue
			}
			r.first = first
			first += uint64(len(r.data))
		}
	}
}

// firstSeq reads one session's reply of appendsLua: a seq as a decimal
// string, or the error that kept the session from being written.
func firstSeq(m rueidis.RedisMessage) (uint64, error) {
	if err := m.Error(); err != nil {
		return 0, err
	}
	text, err := m.ToString()
	if err != nil {
		return 0, err
	}
	seq, err := strconv.ParseUint(text, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("append script returned seq %q", text)
	}
	return seq, nil
}
