package session_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store/memstore"
)

// At the cap on live sessions, a new session evicts the idle one unused
// longest (the store keeps it, and its next request restores it); when no
// session is idle, new ones get ErrBusy instead of growing the process.
func TestManager_MaxLive(t *testing.T) {
	rec := newRecorder()
	var rejected atomic.Int32
	m := session.New(memstore.New(nil), rec.opener, &session.Options{MaxLive: 2, OnEvent: func(kind string) {
		if kind == "rejected" {
			rejected.Add(1)
		}
	}})
	defer m.Close()
	first, second := open(t, m), open(t, m)
	call(t, first, 5, "tools/list", `{}`) // second is now the one unused longest
	third := open(t, m)
	if n := m.Len(); n != 2 || m.Live(second.ID()) {
		t.Fatalf("%d live sessions (second live: %v), want the cap of 2 with second, the idle one unused longest, evicted", n, m.Live(second.ID()))
	}
	// The evicted session is not lost: its next request restores it,
	// evicting first, now the one unused longest.
	back, err := m.Get(context.Background(), second.ID())
	if err != nil {
		t.Fatalf("the evicted session: %v", err)
	}
	if r := call(t, back, 6, "tools/list", `{}`); r.Error != nil {
		t.Fatal(r.Error)
	}
	if n := m.Len(); n != 2 || m.Live(first.ID()) || !m.Live(third.ID()) {
		t.Fatalf("%d live sessions after the restore (first %v, third %v), want 2 with first evicted", n, m.Live(first.ID()), m.Live(third.ID()))
	}
	// Both live sessions busy: nothing may be evicted.
	live := []*session.Session{back, third}
	for i, s := range live {
		if _, err := s.Call(context.Background(), request(t, int64(10+i), "tools/call", `{"name":"block"}`), session.CallOptions{}); err != nil {
			t.Fatal(err)
		}
		<-rec.started
	}
	if _, err := m.Create(context.Background()); !errors.Is(err, session.ErrBusy) {
		t.Errorf("Create with every live session busy: %v, want ErrBusy", err)
	}
	if n := rejected.Load(); n != 1 {
		t.Errorf("%d rejected events, want 1 (for metrics)", n)
	}
	close(rec.release)
}

// A subscription that would make the record pass MaxRecordBytes is refused
// with an error, and forgotten: the session's later changes are saved.
func TestSession_RecordCapRefusesSubscription(t *testing.T) {
	rec := newRecorder()
	m := session.New(memstore.New(nil), rec.opener, &session.Options{MaxRecordBytes: 1024})
	defer m.Close()
	s := open(t, m)
	uri := `test://` + strings.Repeat("u", 300)
	var refused bool
	for i := range 5 {
		r := call(t, s, int64(10+i), "resources/subscribe", fmt.Sprintf(`{"uri":%q}`, fmt.Sprint(uri, i)))
		if r.Error != nil {
			var werr *jsonrpc.Error
			if !errors.As(r.Error, &werr) || werr.Code != -32602 || !strings.Contains(werr.Message, "max-record-bytes") {
				t.Fatalf("subscribe %d: %v, want -32602 naming --max-record-bytes", i, r.Error)
			}
			refused = true
			break
		}
	}
	if !refused {
		t.Fatal("five subscriptions of 300 bytes fit a 1024-byte record")
	}
	if r := call(t, s, 20, "logging/setLevel", `{"level":"error"}`); r.Error != nil {
		t.Fatalf("setLevel after a refused subscription: %v", r.Error)
	}
	if got := s.Record().LogLevel; got != "error" {
		t.Errorf("log level %q, want error", got)
	}
}
