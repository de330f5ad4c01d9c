package store_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/mooring-dev/mooring/store"
)

// FuzzParseEventID: a Last-Event-ID header is the client's to choose. Any
// text parses or fails with ErrBadEventID, and a parsed id has a valid
// stream and a seq above 0, and prints to text that parses back to it.
func FuzzParseEventID(f *testing.F) {
	for _, s := range []string{"g_1", "a1b2-3_42", "x_0", "_1", "g_", "g__1", "g_-1", "g_+1", "g_007",
		"g_18446744073709551615", "g_18446744073709551616", strings.Repeat("a", 65) + "_1", "é_1", "g_1\n", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := store.ParseEventID(s)
		if err != nil {
			if !errors.Is(err, store.ErrBadEventID) {
				t.Fatalf("ParseEventID(%q): %v, not ErrBadEventID", s, err)
			}
			return
		}
		if !store.ValidStreamID(id.Stream) || id.Seq == 0 {
			t.Fatalf("ParseEventID(%q) = %+v: invalid", s, id)
		}
		back, err := store.ParseEventID(id.String())
		if err != nil || back != id {
			t.Fatalf("ParseEventID(%q) = %+v, printed %q, parsed back to %+v, %v", s, id, id.String(), back, err)
		}
		if string(id.AppendText(nil)) != id.String() {
			t.Fatalf("AppendText %q != String %q", id.AppendText(nil), id.String())
		}
	})
}
