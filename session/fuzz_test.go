package session

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// FuzzUnmarshalRecord: a record is read back from a store that another
// process (or a damaged file) wrote. Any bytes decode or fail with an
// error; a decoded record encodes and decodes to itself.
func FuzzUnmarshalRecord(f *testing.F) {
	rec := &Record{ID: "s1", ProtocolVersion: "2025-06-18", InitializeParams: json.RawMessage(`{"capabilities":{}}`),
		LogLevel: "info", Subscriptions: []string{"a://b"}, Initialized: true,
		CreatedAt: time.Unix(1700000000, 5).UTC(), UpdatedAt: time.Unix(1700000001, 0).UTC()}
	good, _ := rec.marshal()
	for _, s := range [][]byte{good, []byte(`{"id":"s1"}`), []byte(`{"id":"s2"}`), []byte(`{"id":"s1","initializeParams":[1,2]}`),
		[]byte(`{"id":"s1","createdAt":"not a time"}`), []byte(`{"id":"s1","subscriptions":null}`), []byte(`null`), []byte(``), []byte(`{"id":"s1","initializeParams":"\ud800"}`)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := unmarshalRecord("s1", data)
		if err != nil {
			return
		}
		if r.ID != "s1" {
			t.Fatalf("record of id %q accepted for s1", r.ID)
		}
		enc, err := r.marshal()
		if err != nil {
			t.Fatalf("a decoded record does not encode: %v", err)
		}
		back, err := unmarshalRecord("s1", enc)
		if err != nil {
			t.Fatalf("an encoded record does not decode: %v\n%s", err, enc)
		}
		// Encoding compacts the raw params, writes absent ones as null and
		// leaves out an empty subscription list; times compare by instant.
		for _, x := range []*Record{r, back} {
			var c bytes.Buffer
			if json.Compact(&c, x.InitializeParams) != nil || c.Len() == 0 {
				c.Reset()
				c.WriteString("null")
			}
			x.InitializeParams = c.Bytes()
			if len(x.Subscriptions) == 0 {
				x.Subscriptions = nil
			}
		}
		if r.CreatedAt.Equal(back.CreatedAt) && r.UpdatedAt.Equal(back.UpdatedAt) {
			back.CreatedAt, back.UpdatedAt = r.CreatedAt, r.UpdatedAt
		}
		if !reflect.DeepEqual(r, back) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", r, back)
		}
	})
}
