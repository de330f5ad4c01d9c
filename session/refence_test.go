package session

import "testing"

// A renewal keeps its token; the next token means nobody held the lease in
// between; a larger jump means another replica did, and the session must be
// dropped; an unfenced session (the store was away at claim) takes any.
func TestRefence(t *testing.T) {
	for _, tc := range []struct {
		old, tok uint64
		ok       bool
		want     uint64 // the session's token afterwards
	}{
		{old: 4, tok: 4, ok: true, want: 4},
		{old: 4, tok: 5, ok: true, want: 5},
		{old: 4, tok: 6, ok: false, want: 4},
		{old: 4, tok: 3, ok: false, want: 4},
		{old: 0, tok: 9, ok: true, want: 9},
	} {
		s := &Session{}
		s.fence.Store(tc.old)
		if ok := s.refence(tc.tok); ok != tc.ok || s.fence.Load() != tc.want {
			t.Errorf("refence(%d) from %d: %v, token %d; want %v, token %d", tc.tok, tc.old, ok, s.fence.Load(), tc.ok, tc.want)
		}
	}
}
