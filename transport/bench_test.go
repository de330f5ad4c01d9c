package transport_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/transport"
)

// BenchmarkToolCall measures one tools/call round trip through the endpoint:
// HTTP request, session lookup, the in-process go-sdk server, the event log
// (SSE) and the response parsed by the client.
func BenchmarkToolCall(b *testing.B) {
	for _, mode := range []transport.ResponseMode{transport.JSON, transport.SSE} {
		b.Run(string(mode), func(b *testing.B) {
			st := memstore.New(nil)
			mgr := session.New(st, backend.NewInProcess(testServer()), quietSessions)
			defer func() { mgr.Close(); st.Close() }()
			runToolCalls(b, transport.New(mgr, &transport.Options{Mode: mode}), &http.Transport{MaxIdleConnsPerHost: 64})
		})
	}
}

// quietSessions keeps the session log ("session created") out of the
// benchmark's output, where it split the result lines.
var quietSessions = &session.Options{Logger: slog.New(slog.DiscardHandler)}

// runToolCalls serves h and, after an initialize, times tools/call round
// trips from parallel clients whose requests go through rt.
func runToolCalls(b *testing.B, h http.Handler, rt http.RoundTripper) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := &http.Client{Transport: rt}
	sid := benchInit(b, client, srv.URL)
	var id atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := id.Add(1) + 10
			body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`, n)
			if err := benchCall(client, srv.URL, sid, body); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func benchPost(client *http.Client, url, sid, body string) (*http.Response, error) {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if sid != "" {
		req.Header.Set("Mcp-Session-Id", sid)
		req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	}
	return client.Do(req)
}

func benchInit(b *testing.B, client *http.Client, url string) string {
	resp, err := benchPost(client, url, "", initBody)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	sid := resp.Header.Get("Mcp-Session-Id")
	resp, err = benchPost(client, url, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	return sid
}

// benchCall posts one call and reads its response, JSON or the last SSE data
// line, checking that it is a result.
func benchCall(client *http.Client, url, sid, body string) error {
	resp, err := benchPost(client, url, sid, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	var msg []byte
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if line := sc.Bytes(); bytes.HasPrefix(line, []byte("data: {")) {
				msg = append(msg[:0], line[6:]...)
			}
		}
	} else {
		msg, _ = io.ReadAll(resp.Body)
	}
	if !bytes.Contains(msg, []byte(`"result"`)) {
		return fmt.Errorf("no result in %q", msg)
	}
	return nil
}
