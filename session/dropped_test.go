package session_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mooring-dev/mooring/internal/syncbuf"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store/memstore"
)

// Replies to server requests that were never sent are counted, each of
// them, but logged at most once per interval: a client cannot flood the log.
func TestSession_UnknownRepliesAreCountedNotEachLogged(t *testing.T) {
	var logs syncbuf.Buffer
	var dropped atomic.Int64
	r := newRecorder()
	m := session.New(memstore.New(nil), r.opener, &session.Options{
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		OnEvent: func(kind string) {
			if kind == "reply_dropped" {
				dropped.Add(1)
			}
		},
	})
	defer m.Close()
	s := open(t, m)
	for i := range 500 {
		id, _ := jsonrpc.MakeID("never-sent-" + strings.Repeat("x", i%7))
		if err := s.Reply(context.Background(), &jsonrpc.Response{ID: id, Result: json.RawMessage(`{}`)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := dropped.Load(); n != 500 {
		t.Errorf("counted %d dropped replies, want 500", n)
	}
	if n := strings.Count(logs.String(), "reply to an unknown server request dropped"); n != 1 {
		t.Errorf("%d log lines for 500 dropped replies, want 1:\n%s", n, logs.String())
	}
}
