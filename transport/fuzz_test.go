package transport

import (
	"bytes"
	"net/http/httptest"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store"
)

// FuzzDecodeMessage: every POST body goes through decodeMessage. Any bytes
// decode or fail with an error; a decoded message has a valid id or none,
// encodes, and decodes again to the same kind, id and method.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":"a","result":{}}`,
		`{"jsonrpc":"2.0","id":2,"error":{"code":-1,"message":"x"}}`,
		`{"jsonrpc":"2.0","id":null,"method":"x"}`,
		`{"jsonrpc":"2.0","id":1.5,"method":"x"}`,
		`{"jsonrpc":"2.0","id":1e3,"method":"x"}`,
		`{"jsonrpc":"2.0","id":[1],"method":"x"}`,
		`{"jsonrpc":"2.0","method":null}`,
		`{"jsonrpc":"1.0","id":1,"method":"x"}`,
		`{"jsonrpc":"2.0","id":"\xff","method":"x"}`,
		`[{"jsonrpc":"2.0","id":1,"method":"x"}]`,
		`{"jsonrpc":"2.0","id":99999999999999999999,"method":"x"}`,
		``, `null`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := decodeMessage(data)
		if err != nil {
			return
		}
		var id jsonrpc.ID
		var method string
		switch m := msg.(type) {
		case *jsonrpc.Request:
			id, method = m.ID, m.Method
		case *jsonrpc.Response:
			id = m.ID
			if !id.IsValid() {
				t.Fatalf("%q: a response without an id", data)
			}
		default:
			t.Fatalf("%q: decoded to %T", data, msg)
		}
		switch id.Raw().(type) {
		case nil, string, int64:
		default:
			t.Fatalf("%q: id of type %T", data, id.Raw())
		}
		enc, err := jsonrpc.EncodeMessage(msg)
		if err != nil {
			return // e.g. a response with neither result nor error: never sent on
		}
		back, err := decodeMessage(enc)
		if err != nil {
			t.Fatalf("%q: re-encoded as %q, which does not decode: %v", data, enc, err)
		}
		switch b := back.(type) {
		case *jsonrpc.Request:
			if b.ID != id || b.Method != method {
				t.Fatalf("%q: round trip gave id %v method %q, want %v %q", data, b.ID.Raw(), b.Method, id.Raw(), method)
			}
		case *jsonrpc.Response:
			if _, ok := msg.(*jsonrpc.Response); !ok || b.ID != id {
				t.Fatalf("%q: round trip changed the message to %q", data, enc)
			}
		}
	})
}

// FuzzSSEFrame: an event's payload comes from a backend (or the log) and
// may hold anything. Whatever it holds, its frame must parse, by the SSE
// rules, to exactly that one event: its id and its data (line breaks as
// LF, the only form a data field can carry), never to more events, other
// fields or a different id.
func FuzzSSEFrame(f *testing.F) {
	for _, s := range []string{`{"jsonrpc":"2.0","id":1,"result":{}}`, "", "a\nb", "a\r\nb", "a\rb", "\n\nid: x\ndata: y\n\n",
		" lead", "trail\n", ":comment", "\x01", "\x01[1]", "data: x", "\x00", "\r", "é\xff"} {
		f.Add([]byte(s), uint64(1), true)
	}
	f.Fuzz(func(t *testing.T, payload []byte, seq uint64, prime bool) {
		if seq == 0 {
			seq = 1
		}
		ev := store.Event{ID: store.EventID{Stream: "a1-b", Seq: seq}, Data: payload}
		rec := httptest.NewRecorder()
		h := New(nil, nil)
		sw := h.startSSE(rec, false)
		sw.event(ev, prime)
		sw.write()
		got := parseSSE(rec.Body.Bytes())
		if session.IsMarker(payload) {
			// A stream-open marker: a priming event with an empty data
			// field, or nothing for clients that predate priming.
			if !prime {
				if len(got) != 0 {
					t.Fatalf("marker without priming framed as %q", rec.Body.Bytes())
				}
				return
			}
			if len(got) != 1 || got[0].data != "" || got[0].id != ev.ID.String() {
				t.Fatalf("marker framed as %q, parsed to %+v", rec.Body.Bytes(), got)
			}
			return
		}
		want := string(bytes.ReplaceAll(bytes.ReplaceAll(payload, []byte("\r\n"), []byte("\n")), []byte("\r"), []byte("\n")))
		if len(got) != 1 || got[0].data != want || got[0].id != ev.ID.String() || got[0].event != "message" {
			t.Fatalf("payload %q framed as %q, parsed to %+v", payload, rec.Body.Bytes(), got)
		}
	})
}

type parsedEvent struct{ id, event, data string }

// parseSSE parses an event stream as the HTML standard's event-stream
// interpretation does (lines end at CRLF, LF or CR; a blank line
// dispatches; a field's value loses one leading space; an id with NUL is
// ignored), recording each dispatched event with the last id seen.
func parseSSE(b []byte) []parsedEvent {
	var out []parsedEvent
	var id, event string
	var data []byte
	hasData := false
	for len(b) > 0 {
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			break // an unterminated last line is discarded
		}
		line := b[:i]
		if b[i] == '\r' && i+1 < len(b) && b[i+1] == '\n' {
			b = b[i+2:]
		} else {
			b = b[i+1:]
		}
		if len(line) == 0 {
			if hasData {
				out = append(out, parsedEvent{id: id, event: event, data: string(bytes.TrimSuffix(data, []byte("\n")))})
			}
			data, hasData, event = nil, false, ""
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value, found := bytes.Cut(line, []byte(":"))
		if found && len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
		switch string(field) {
		case "data":
			data = append(append(data, value...), '\n')
			hasData = true
		case "id":
			if !bytes.Contains(value, []byte{0}) {
				id = string(value)
			}
		case "event":
			event = string(value)
		}
	}
	return out
}
