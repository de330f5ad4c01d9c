package storetest

import (
	"testing"

	"github.com/mooring-dev/mooring/store"
)

// testCount checks store.Counter, for stores that implement it: sessions
// put are counted, deleted ones are not. (Expired sessions not yet swept
// may be counted, so expiry is not part of the check.)
func testCount(t *testing.T, h Harness, _ *Options) {
	s := h(t, store.Limits{})
	c, ok := s.(store.Counter)
	if !ok {
		t.Skip("the store does not implement store.Counter")
	}
	count := func() int {
		t.Helper()
		n, err := c.CountSessions(ctx(t))
		if err != nil {
			t.Fatalf("CountSessions: %v", err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("CountSessions of an empty store = %d", n)
	}
	for _, id := range []string{"a", "b", "c"} {
		mustPut(t, s, id, []byte("r"))
	}
	mustPut(t, s, "a", []byte("again")) // replaced, still one
	if n := count(); n != 3 {
		t.Fatalf("CountSessions = %d, want 3", n)
	}
	if err := s.DeleteSession(ctx(t), "b"); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 2 {
		t.Fatalf("CountSessions after a delete = %d, want 2", n)
	}
}
