package session

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/mooring-dev/mooring/store"
)

// GetStream is the id of a session's standalone GET stream.
const GetStream = "g"

// markerByte starts the payload of a stream-open event: the event that an SSE
// stream is primed with. Its id is real (a client resumes from it) but it
// carries no message; the rest of the payload is the JSON id of the request
// that opened the stream, so that a restore can tell which requests were cut
// off.
const markerByte = 0x01

// IsMarker reports whether an event payload is a stream-open marker, written
// to clients as an event with empty data.
func IsMarker(data []byte) bool { return len(data) > 0 && data[0] == markerByte }

// Stream is one SSE stream of a session: the stream of a POST request, or the
// GET stream. Messages are appended to the event log first and then queued
// for the writer attached to the stream, if any.
type Stream struct {
	id      string
	session *Session
	// progressFloor is, for a call re-run after a crash, the highest
	// progress value that the client saw from its first run: the re-run's
	// progress up to there is not sent again. Set at creation.
	progressFloor float64

	// appendMu serializes append-then-queue, so that the queue is in the
	// order of the ids that the store assigned. It guards pending and timer.
	appendMu sync.Mutex
	// pending is the stream-open marker while it is not in the log yet: it
	// goes in with the stream's first message, in the same commit, or alone
	// when the prime delay runs out first. A quick answer then costs one
	// commit instead of two.
	pending []byte
	timer   *time.Timer

	mu     sync.Mutex // guards the fields below
	sub    *Sub       // attached writer, or nil
	done   bool       // the response was queued: the stream ends after it
	closed bool       // the session closed
}

// ID returns the stream id.
func (st *Stream) ID() string { return st.id }

// open sets the stream's marker to be logged with its first message, or
// after delay at the latest.
func (st *Stream) open(marker []byte, delay time.Duration) {
	st.appendMu.Lock()
	st.pending = marker
	st.timer = time.AfterFunc(delay, st.flushPending)
	st.appendMu.Unlock()
}

// flushPending logs the marker alone, if it still waits.
func (st *Stream) flushPending() {
	st.appendMu.Lock()
	defer st.appendMu.Unlock()
	if st.pending == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	marker := st.pending
	st.pending = nil
	id, err := st.session.m.store.Append(st.session.fenced(ctx), st.session.id, st.id, marker)
	if err != nil {
		if st.session.fencedOut(err) {
			return
		}
		st.session.m.log.Error("logging a stream's priming event", "session", st.session.id, "stream", st.id, "err", err)
		return
	}
	st.queue(false, store.Event{ID: id, Data: marker})
}

// publish appends data to the log and hands it to the attached writer. final
// marks the last message of a POST stream (its response).
func (st *Stream) publish(ctx context.Context, data []byte, final bool) (store.EventID, error) {
	st.appendMu.Lock()
	defer st.appendMu.Unlock()
	if st.pending != nil {
		st.timer.Stop()
		ids, err := st.session.m.store.AppendBatch(st.session.fenced(ctx), st.session.id, st.id, [][]byte{st.pending, data})
		if err != nil {
			return store.EventID{}, err
		}
		st.queue(final, store.Event{ID: ids[0], Data: st.pending}, store.Event{ID: ids[1], Data: data})
		st.pending = nil
		return ids[1], nil
	}
	id, err := st.session.m.store.Append(st.session.fenced(ctx), st.session.id, st.id, data)
	if err != nil {
		return id, err
	}
	st.queue(final, store.Event{ID: id, Data: data})
	return id, nil
}

// queue hands logged events to the attached writer. Callers hold appendMu.
func (st *Stream) queue(final bool, events ...store.Event) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if final {
		st.done = true
	}
	if st.sub != nil {
		for i, ev := range events {
			st.sub.push(ev, final && i == len(events)-1)
		}
	}
}

// finishUnlogged ends the stream with a final message that is not in the
// log: the response of a JSON-mode request, or the error that replaces a
// response the log refused.
func (st *Stream) finishUnlogged(data []byte) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.done = true
	if st.sub != nil {
		st.sub.push(store.Event{Data: data}, true)
	}
}

// attach makes sub the stream's writer, detaching any previous one (a client
// that reconnects replaces its old connection).
func (st *Stream) attach(sub *Sub) {
	st.mu.Lock()
	old := st.sub
	st.sub = sub
	if st.done || st.closed {
		sub.end(0)
	}
	st.mu.Unlock()
	if old != nil {
		old.end(0)
	}
}

// attached reports whether a writer holds the stream.
func (st *Stream) attached() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.sub != nil
}

// detach removes sub if it is still the attached writer.
func (st *Stream) detach(sub *Sub) {
	st.mu.Lock()
	if st.sub == sub {
		st.sub = nil
	}
	st.mu.Unlock()
}

// closeWriter ends the attached writer's connection without ending the
// stream (SEP-1699 polling): the client comes back with Last-Event-ID.
func (st *Stream) closeWriter(retry time.Duration) {
	st.flushPending() // the client needs the priming id to come back with
	st.mu.Lock()
	sub := st.sub
	st.sub = nil
	st.mu.Unlock()
	if sub != nil {
		sub.end(retry)
	}
}

// shut ends the stream because its session closed. With retry > 0 (a
// drain: the session moves to another replica) the priming event that still
// waits is logged first and the writer ends with the retry hint, so that
// its client resumes from an id; otherwise the writer just ends.
func (st *Stream) shut(retry time.Duration) {
	if retry > 0 {
		st.flushPending()
	}
	st.appendMu.Lock()
	if st.timer != nil {
		st.timer.Stop()
	}
	st.pending = nil
	st.appendMu.Unlock()
	st.mu.Lock()
	st.closed = true
	sub := st.sub
	st.sub = nil
	st.mu.Unlock()
	if sub != nil {
		sub.end(retry)
	}
}

// Sub is a writer's subscription to a stream: the events to write, in order.
type Sub struct {
	stream *Stream
	ready  chan struct{} // signalled when events arrive or the sub ends

	mu    sync.Mutex // guards the fields below
	queue []store.Event
	// replay is what the log held when the writer attached (a resent
	// request): Take returns it first.
	replay []store.Event
	after  uint64 // events at or below this seq were replayed already
	ended  bool
	final  bool          // the stream's last event is in queue
	retry  time.Duration // reconnection hint when ended by the server
}

func newSub(st *Stream) *Sub {
	return &Sub{stream: st, ready: make(chan struct{}, 1)}
}

func (s *Sub) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

func (s *Sub) push(ev store.Event, final bool) {
	s.mu.Lock()
	s.queue = append(s.queue, ev)
	if final {
		s.final = true
	}
	s.mu.Unlock()
	s.signal()
}

func (s *Sub) end(retry time.Duration) {
	s.mu.Lock()
	if !s.ended {
		s.ended = true
		s.retry = retry
	}
	s.mu.Unlock()
	s.signal()
}

// Ready is signalled when Take has something new.
func (s *Sub) Ready() <-chan struct{} { return s.ready }

// Take returns the events queued since the last call, and whether the
// subscription is over after them: the stream's response was among them, or
// the server ended this connection (retry is then the reconnection hint, zero
// if none), or the session closed.
func (s *Sub) Take() (events []store.Event, over bool, retry time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	events = s.queue
	s.queue = nil
	// Drop what a replay already delivered.
	n := 0
	for s.after > 0 && n < len(events) && events[n].ID.Seq <= s.after {
		n++
	}
	events = events[n:]
	if s.replay != nil {
		events = append(s.replay, events...)
		s.replay = nil
	}
	return events, s.ended || s.final, s.retry
}

// Answered reports whether the stream's response was among the events
// taken so far.
func (s *Sub) Answered() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.final && len(s.queue) == 0 && s.replay == nil
}

// Prime logs the stream's priming event now if it still waits for the
// prime delay, and queues it on this subscription: a writer that ends the
// connection early (the server shuts down) gives its client an id to
// resume from.
func (s *Sub) Prime() { s.stream.flushPending() }

// Close detaches the subscription: the client went away. The stream goes on;
// its events stay in the log for a resumption.
func (s *Sub) Close() { s.stream.detach(s) }

// rejoin attaches a new writer to the stream of a call in flight: what the
// stream logged so far is replayed first (Sub.Take returns it before the
// live events), then its live events follow, without repeats.
func (s *Session) rejoin(ctx context.Context, st *Stream) (*Sub, error) {
	sub := newSub(st)
	st.attach(sub)
	replay, err := s.m.store.After(ctx, s.id, store.EventID{Stream: st.id})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		sub.Close()
		return nil, fmt.Errorf("session %s: replay of a resent request's stream: %w", s.id, err)
	}
	sub.mu.Lock()
	sub.replay = replay
	if n := len(replay); n > 0 {
		sub.after = replay[n-1].ID.Seq
	}
	sub.mu.Unlock()
	return sub, nil
}
