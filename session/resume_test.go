package session_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/memstore"
)

// Resume of a well-formed Last-Event-ID when the store holds nothing for
// the session (it lost or expired its data) while the session is still
// live in this process: the id cannot be one of the session's, and the
// answer says so (store.ErrBadEventID: 400), never an empty replay with a
// live subscription, which would skip whatever the id was meant to resume.
func TestResume_StoreHoldsNothing(t *testing.T) {
	st := memstore.New(nil)
	m := session.New(st, newRecorder().opener, nil)
	defer m.Close()
	s := open(t, m)
	if r := call(t, s, 2, "tools/list", `{}`); r.Error != nil {
		t.Fatal(r.Error)
	}
	evs, err := st.Log(context.Background(), s.ID())
	if err != nil || len(evs) == 0 {
		t.Fatalf("the session's log before: %d events, %v", len(evs), err)
	}
	if err := st.DeleteSession(context.Background(), s.ID()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{evs[len(evs)-1].ID.String(), session.GetStream + "_1", "zz-1_7"} {
		replay, sub, err := s.Resume(context.Background(), id)
		if sub != nil {
			sub.Close()
		}
		if !errors.Is(err, store.ErrBadEventID) {
			t.Errorf("Resume(%q) with nothing in the store: %d events, sub %v, err %v; want store.ErrBadEventID", id, len(replay), sub != nil, err)
		}
	}
}
