// Package store holds mooring's storage contracts: the session records, the
// per-session event log and the errors every backend reports. Backends live in
// the sub-packages memstore, boltstore and redisstore; storetest is the
// conformance suite that each of them passes.
//
// The store knows nothing of MCP. Records and event payloads are opaque bytes
// to it; the session package gives them meaning.
package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors. Backends return them (possibly wrapped); callers match them
// with errors.Is.
var (
	// ErrNotFound: the session does not exist, was deleted or expired.
	ErrNotFound = errors.New("store: not found")
	// ErrPurged: events that a replay needs were removed by a cap or a TTL.
	// A replay never skips silently over removed events.
	ErrPurged = errors.New("store: events purged")
	// ErrBadEventID: a Last-Event-ID that this store never issued.
	ErrBadEventID = errors.New("store: malformed event id")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
	// ErrFenced: a write made under a lease token (WithFence) found the
	// session's lease held under another token: this replica lost the
	// session to another one, and nothing of the write was stored.
	ErrFenced = errors.New("store: the session's lease belongs to another replica")
)

// Record is a serialized session record with its bookkeeping. Data is opaque
// to the store.
type Record struct {
	ID   string
	Data []byte
}

// Event is one message of one stream of one session, as stored.
type Event struct {
	// ID is assigned by the store at Append; see EventID.
	ID EventID
	// Data is the payload as it was appended (decompressed if the store
	// compressed it).
	Data []byte
}

// EventID names one event inside one session. Seq is assigned by the store,
// unique within the session and increasing in the order of Append calls;
// Stream is the stream the event belongs to. Its text form, used as the SSE
// `id:` field and read back from Last-Event-ID, is "<stream>_<seq>".
type EventID struct {
	Stream string
	Seq    uint64
}

// String returns the wire form of the id.
func (id EventID) String() string {
	return id.Stream + "_" + strconv.FormatUint(id.Seq, 10)
}

// AppendText appends the wire form of id to b without allocating.
func (id EventID) AppendText(b []byte) []byte {
	b = append(b, id.Stream...)
	b = append(b, '_')
	return strconv.AppendUint(b, id.Seq, 10)
}

// ParseEventID reads the wire form of an event id.
func ParseEventID(s string) (EventID, error) {
	i := strings.LastIndexByte(s, '_')
	if i <= 0 || !ValidStreamID(s[:i]) {
		return EventID{}, fmt.Errorf("%w: %q", ErrBadEventID, s)
	}
	seq, err := strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil || seq == 0 {
		return EventID{}, fmt.Errorf("%w: %q", ErrBadEventID, s)
	}
	return EventID{Stream: s[:i], Seq: seq}, nil
}

// ValidStreamID reports whether s can name a stream: 1 to 64 characters of
// [A-Za-z0-9-]. Stream ids end up in Redis keys and SSE ids, so they are kept
// to a small alphabet.
func ValidStreamID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Limits bound what one session may keep. A zero field means its default.
type Limits struct {
	// TTL is the idle lifetime of a session and its events, sliding on every
	// Put, Touch and Append. A backend may restart it on Append only when
	// part of it has passed (Redis: when less than TTL - TTL/64 is left),
	// so a session may expire that much earlier than a full TTL after its
	// last Append, never earlier than TTL - TTL/64 after it; Put and Touch
	// restart it in full. Default DefaultTTL.
	TTL time.Duration
	// MaxEvents is the number of events kept per session; the oldest are
	// removed first. Default DefaultMaxEvents.
	MaxEvents int
	// MaxBytes is the payload bytes kept per session (as stored, after
	// compression). Default DefaultMaxBytes.
	MaxBytes int64
}

// Defaults for Limits.
const (
	DefaultTTL       = time.Hour
	DefaultMaxEvents = 1000
	DefaultMaxBytes  = 16 << 20
)

// WithDefaults returns l with zero fields set to their defaults.
func (l Limits) WithDefaults() Limits {
	if l.TTL <= 0 {
		l.TTL = DefaultTTL
	}
	if l.MaxEvents <= 0 {
		l.MaxEvents = DefaultMaxEvents
	}
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	return l
}

// Store is what a backend provides. Every method is safe for concurrent use
// and honours ctx. Errors are the sentinels above, wrapped with context, or
// the backend's own errors for I/O failures.
type Store interface {
	// Kind names the backend: "memory", "bolt" or "redis".
	Kind() string

	// PutSession writes a session record, creating or replacing it, and
	// restarts its TTL.
	PutSession(ctx context.Context, rec Record) error
	// GetSession reads a record; ErrNotFound if it does not exist or expired.
	// It does not touch the TTL.
	GetSession(ctx context.Context, id string) (Record, error)
	// TouchSession restarts the TTL of the session and of its events;
	// ErrNotFound if the session does not exist.
	TouchSession(ctx context.Context, id string) error
	// DeleteSession removes the record and all its events. Deleting a
	// missing session is not an error.
	DeleteSession(ctx context.Context, id string) error
	// ListSessions returns up to limit session ids after cursor (start with
	// ""), and the cursor for the next page ("" when done). Order is
	// unspecified but stable for one store; a session may appear on at most
	// one page unless it was created during the listing.
	ListSessions(ctx context.Context, cursor string, limit int) (ids []string, next string, err error)

	// Append adds an event to a stream of a session and returns its id. It
	// enforces the session's caps by removing the oldest events (never the
	// one just appended, however large: append-before-send must not lose a
	// message), and restarts the TTL of the session and its events.
	// Appending to a session without a record is allowed (the record may be
	// written later) but its events expire with the TTL like any other.
	Append(ctx context.Context, session, stream string, data []byte) (EventID, error)
	// AppendBatch appends events to one stream, in order, as Append would
	// one by one, in one commit or round trip, and returns their ids. On an
	// error some leading events may have been appended (Redis); bolt and
	// memory append all or none.
	AppendBatch(ctx context.Context, session, stream string, data [][]byte) ([]EventID, error)
	// After returns the events of after.Stream with a sequence greater than
	// after.Seq, in order. A zero after.Seq means the whole stream. If any
	// such event was removed by a cap it returns ErrPurged and no events: a
	// replay is complete or it is an error, never a gap. Events of other
	// streams and other sessions are never returned. A session with
	// neither record nor events answers ErrNotFound; one with a record and
	// no events answers no events.
	After(ctx context.Context, session string, after EventID) ([]Event, error)
	// Streams lists the ids of the streams that have events in the session,
	// in the order of their first retained event.
	Streams(ctx context.Context, session string) ([]string, error)
	// Log returns every retained event of the session, all streams, in Seq
	// order: one read for what would otherwise take one After per stream
	// (a restore looking for requests that were cut off). ErrNotFound if
	// the session has neither record nor events.
	Log(ctx context.Context, session string) ([]Event, error)

	// Ping checks that the store answers.
	Ping(ctx context.Context) error
	// Close releases the store. It is idempotent; later calls return ErrClosed.
	Close() error
}

// Importer is implemented by stores that can take events with the ids that
// another store assigned: it is how sessions move out of the memory fallback
// into the primary store without their clients' Last-Event-IDs changing
// meaning.
type Importer interface {
	// Import writes events (in Seq order, all of one session) with their
	// ids, and makes later Appends to the session assign Seqs above the
	// highest one imported. Events already present are left as they are.
	Import(ctx context.Context, session string, events []Event) error
}

// Counter is implemented by stores that can count their sessions cheaply
// (without reading every one): mooring's cap on stored sessions uses it.
type Counter interface {
	// CountSessions returns how many sessions the store holds: expired
	// ones that have not been swept yet may be counted, since they still
	// use space.
	CountSessions(ctx context.Context) (int, error)
}

// ErrUnavailable: the store cannot answer now (an outage); the caller may
// retry. It is never a reason to tell a client that its session is gone.
// A backend returns it only when the call surely did nothing (the server
// was loading, or could not be reached at all), so that sending a write
// again cannot apply it twice; an error of a connection that broke while
// the call was out is returned as it is. The fallback store answers it for
// any outage that it gives up on.
var ErrUnavailable = errors.New("store: unavailable")

// Lease is the ownership of a session's backend by one replica.
type Lease struct {
	// Owner names the holder: opaque to the store (mooring puts its
	// replica id and the URL where other replicas reach it).
	Owner string
	// Token increases with every new holder: a fencing token.
	Token uint64
}

// Leaser is implemented by stores shared by several replicas (Redis): it
// gives each session one owner at a time. Leases expire on their own, so
// the session of a dead replica is taken over by the next one that needs it.
type Leaser interface {
	// AcquireLease takes the session's lease for owner, or renews it if
	// owner holds it already, for ttl. It returns the lease as it stands:
	// held by owner (acquired true) or by someone else.
	AcquireLease(ctx context.Context, session, owner string, ttl time.Duration) (l Lease, acquired bool, err error)
	// ReleaseLease gives the lease up if owner holds it.
	ReleaseLease(ctx context.Context, session, owner string) error
	// TakeLease takes the session's lease for owner, under a new token, if
	// from holds it (from's address refuses connections: it is gone). It
	// returns the lease as it stands afterwards.
	TakeLease(ctx context.Context, session, from, owner string, ttl time.Duration) (l Lease, acquired bool, err error)
	// MarkDraining marks owner as draining (it hands its leases over
	// itself) for ttl; ttl 0 clears the mark.
	MarkDraining(ctx context.Context, owner string, ttl time.Duration) error
	// Draining reports whether owner is marked draining.
	Draining(ctx context.Context, owner string) (bool, error)
}

// fenceKey is the context key of WithFence.
type fenceKey struct{}

// WithFence returns a context whose writes to a session (Append,
// AppendBatch, PutSession, TouchSession) are made under the lease token
// tok: a store with leases (Leaser) refuses them with ErrFenced unless the
// session's lease still holds tok. A context value rather than a parameter
// keeps the Store methods as they are for callers that hold no lease
// (tests, tools, imports); stores without leases ignore it. Token 0 means
// no fence.
func WithFence(ctx context.Context, tok uint64) context.Context {
	if tok == 0 {
		return ctx
	}
	return context.WithValue(ctx, fenceKey{}, tok)
}

// FenceFrom returns the lease token set by WithFence, if any.
func FenceFrom(ctx context.Context) (uint64, bool) {
	tok, ok := ctx.Value(fenceKey{}).(uint64)
	return tok, ok
}

// ImportOrder checks events for Import and returns them in Seq order (a
// sorted copy if they were not): every id valid, so that a backend can
// validate before it writes anything.
func ImportOrder(events []Event) ([]Event, error) {
	for _, ev := range events {
		if !ValidStreamID(ev.ID.Stream) || ev.ID.Seq == 0 {
			return nil, fmt.Errorf("%w: %q", ErrBadEventID, ev.ID.String())
		}
	}
	bySeq := func(a, b Event) int { return cmp.Compare(a.ID.Seq, b.ID.Seq) }
	if !slices.IsSortedFunc(events, bySeq) {
		events = slices.Clone(events)
		slices.SortStableFunc(events, bySeq)
	}
	return events, nil
}
