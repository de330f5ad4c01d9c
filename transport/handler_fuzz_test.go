package transport_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/transport"
)

// FuzzHandler drives the endpoint end to end on the memory store with
// arbitrary requests: method, body, and the headers a client controls, to
// a fresh session or none. Whatever comes, the answer is never a 5xx, an
// error answer is one JSON-RPC error object, and nothing panics.
func FuzzHandler(f *testing.F) {
	seeds := []struct {
		method, version, lastEventID string
		withSession                  bool
		body                         string
	}{
		{"POST", "", "", false, initBody},
		{"POST", "2025-11-25", "", true, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`},
		{"POST", "2025-11-25", "", true, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi\n\nid: x"}}}`},
		{"POST", "2025-11-25", "", true, `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"count","arguments":{"n":2}}}`},
		{"POST", "", "", true, `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`},
		{"POST", "", "", true, `{"jsonrpc":"2.0","id":"m-x-1","result":{}}`},
		{"POST", "2026-07-28", "", false, `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}`},
		{"POST", "1999-01-01", "", true, `{"jsonrpc":"2.0","id":1,"method":"ping"}`},
		{"POST", "", "", true, `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`},
		{"POST", "", "", true, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":"x"}`},
		{"GET", "", "g_1", true, ``},
		{"GET", "", "zz_99", true, ``},
		{"GET", "", "not an id", true, ``},
		{"DELETE", "", "", true, ``},
		{"PUT", "", "", false, `{}`},
	}
	for _, s := range seeds {
		f.Add(s.method, s.version, s.lastEventID, s.withSession, []byte(s.body))
	}
	st := memstore.New(nil)
	mgr := session.New(st, backend.NewInProcess(testServer()), nil)
	h := transport.New(mgr, &transport.Options{Heartbeat: -1})
	f.Cleanup(func() {
		mgr.Close()
		st.Close()
	})
	f.Fuzz(func(t *testing.T, method, version, lastEventID string, withSession bool, body []byte) {
		var sid string
		if withSession {
			rec := serve(h, http.MethodPost, "", "", "", []byte(initBody))
			if sid = rec.Header().Get("Mcp-Session-Id"); sid == "" {
				t.Fatalf("initialize: %d %s", rec.Code, rec.Body.String())
			}
			defer mgr.End(context.Background(), sid)
		}
		rec := serve(h, method, version, lastEventID, sid, body)
		if rec == nil {
			return // not a request net/http would deliver
		}
		if rec.Code >= 500 {
			t.Fatalf("%s %q (version %q, Last-Event-ID %q): %d %s", method, body, version, lastEventID, rec.Code, rec.Body.String())
		}
		if rec.Code >= 400 {
			var m struct {
				JSONRPC string          `json:"jsonrpc"`
				Error   json.RawMessage `json:"error"`
			}
			dec := json.NewDecoder(bytes.NewReader(rec.Body.Bytes()))
			if err := dec.Decode(&m); err != nil || m.JSONRPC != "2.0" || len(m.Error) == 0 || dec.More() {
				t.Fatalf("%s %q: %d answered with %q, not one JSON-RPC error", method, body, rec.Code, rec.Body.String())
			}
		}
	})
}

// serve runs one request through h, giving up on a stream after a moment
// (a GET stream stays open until the client leaves).
func serve(h http.Handler, method, version, lastEventID, sid string, body []byte) *httptest.ResponseRecorder {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://127.0.0.1/mcp", bytes.NewReader(body))
	if err != nil {
		return nil
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range map[string]string{"Mcp-Protocol-Version": version, "Last-Event-ID": lastEventID, "Mcp-Session-Id": sid} {
		if v != "" && !strings.ContainsAny(v, "\r\n\x00") {
			req.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
