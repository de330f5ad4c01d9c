package session_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mooring-dev/mooring/internal/redistest"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/redisstore"
)

// pausable is a replica's view of the leases that can stop renewing them,
// as a process stopped by SIGSTOP or a long GC pause does.
type pausable struct {
	store.Leaser
	paused atomic.Bool
}

func (p *pausable) AcquireLease(ctx context.Context, id, owner string, ttl time.Duration) (store.Lease, bool, error) {
	if p.paused.Load() {
		return store.Lease{}, false, errors.New("paused")
	}
	return p.Leaser.AcquireLease(ctx, id, owner, ttl)
}

// TestOwnership_PausedOwnerIsFenced: replica a owns a session and pauses
// past its lease with a request in flight; replica b takes the session
// over. When a wakes up, the response it tries to log is refused by the
// lease's fencing token: the client gets an interruption error instead, a
// drops the session, and b's log holds nothing of a's.
func TestOwnership_PausedOwnerIsFenced(t *testing.T) {
	srv := redistest.Start(t)
	ctx := context.Background()
	rs, err := redisstore.Open(ctx, &redisstore.Options{URL: srv.URL(), SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	rec := newRecorder()
	la := &pausable{Leaser: rs}
	a := session.New(rs, rec.opener, &session.Options{Ownership: &session.Ownership{Lease: la, SelfURL: "http://a", TTL: 300 * time.Millisecond}})
	defer a.Close()
	b := session.New(rs, rec.opener, &session.Options{Ownership: &session.Ownership{Lease: rs, SelfURL: "http://b"}})
	defer b.Close()

	s := open(t, a)
	id := s.ID()
	if _, err := b.Get(ctx, id); !errors.As(err, new(*session.RemoteError)) {
		t.Fatalf("b.Get while a owns the session: %v, want a RemoteError", err)
	}
	sub, err := s.Call(ctx, request(t, 2, "tools/call", `{"name":"block","arguments":{}}`), session.CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	<-rec.started

	// a pauses; once its lease runs out, b restores the session.
	la.paused.Store(true)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := b.Get(ctx, id)
		if err == nil {
			break
		}
		if !errors.As(err, new(*session.RemoteError)) || time.Now().After(deadline) {
			t.Fatalf("b taking the session over: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	before, err := rs.Log(ctx, id)
	if err != nil {
		t.Fatal(err)
	}

	// a wakes up (before its next renewal would notice) and answers.
	close(rec.release)
	resp := wait(t, sub)
	var we *jsonrpc.Error
	if !errors.As(resp.Error, &we) || we.Code != session.CodeInterrupted {
		t.Fatalf("response logged by the paused owner: %+v, want an interruption error", resp)
	}
	// The response is delivered before a drops the session (fencedOut):
	// dropping it closes its streams.
	eventually(t, "a to drop the session after its write was fenced", func() bool { return a.Len() == 0 })
	after, err := rs.Log(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Errorf("the paused owner's write landed: log %d events, was %d", len(after), len(before))
	}
	// Written under a's token (the session's first, 1), directly: refused
	// too.
	if err := rs.PutSession(store.WithFence(ctx, 1), store.Record{ID: id, Data: []byte("{}")}); !errors.Is(err, store.ErrFenced) {
		t.Errorf("a put under a's token: %v, want ErrFenced", err)
	}

	// a's next request for the session goes to b.
	la.paused.Store(false)
	if _, err := a.Get(ctx, id); !errors.As(err, new(*session.RemoteError)) {
		t.Errorf("a.Get after the takeover: %v, want a RemoteError naming b", err)
	}
	// b, the holder, writes on.
	bs, err := b.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if resp := call(t, bs, 3, "tools/list", `{}`); resp.Error != nil {
		t.Errorf("b's call: %v", resp.Error)
	}
}
