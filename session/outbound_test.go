package session_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store/memstore"
)

// asker is a backend whose tool "ask" sends the client a sampling request
// and returns what came of it.
func asker() *backend.InProcess {
	srv := mcp.NewServer(&mcp.Implementation{Name: "asker", Version: "1"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "ask"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		_, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{
			MaxTokens: 10,
			Messages:  []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "hi"}}},
		})
		if err != nil {
			return nil, nil, err
		}
		return &mcp.CallToolResult{}, nil, nil
	})
	return backend.NewInProcess(srv)
}

// A server-to-client request that the client never answers (it went away)
// times out: the backend's handler gets an error and ends, the client is
// told that the request was cancelled, and the session, no longer waiting
// for anyone, is evicted when idle.
func TestSession_ServerRequestTimesOut(t *testing.T) {
	m := session.New(memstore.New(nil), asker(), &session.Options{
		ServerRequestTimeout: 200 * time.Millisecond,
		IdleEvict:            50 * time.Millisecond,
	})
	defer m.Close()
	s := openWith(t, m, `{"protocolVersion":"2025-06-18","capabilities":{"sampling":{}},"clientInfo":{"name":"t","version":"1"}}`)
	sub, err := s.Call(context.Background(), request(t, 2, "tools/call", `{"name":"ask","arguments":{}}`), session.CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	var asked string
	var resp *jsonrpc.Response
	deadline := time.After(10 * time.Second)
	for resp == nil {
		events, over, _ := sub.Take()
		for _, ev := range events {
			if session.IsMarker(ev.Data) {
				continue
			}
			msg, err := jsonrpc.DecodeMessage(ev.Data)
			if err != nil {
				t.Fatal(err)
			}
			switch msg := msg.(type) {
			case *jsonrpc.Request:
				seen = append(seen, msg.Method)
				if msg.Method == "sampling/createMessage" {
					asked, _ = msg.ID.Raw().(string)
				}
				if msg.Method == "notifications/cancelled" {
					var p struct {
						RequestID string `json:"requestId"`
					}
					if err := json.Unmarshal(msg.Params, &p); err != nil || p.RequestID != asked {
						t.Errorf("cancelled %s, want requestId %q (the id the client was sent)", msg.Params, asked)
					}
				}
			case *jsonrpc.Response:
				resp = msg
			}
		}
		if resp != nil {
			break
		}
		if over {
			t.Fatal("stream ended without a response")
		}
		select {
		case <-sub.Ready():
		case <-deadline:
			t.Fatalf("the tool call was not answered within 10s (saw %v): the unanswered sampling request never timed out", seen)
		}
	}
	sub.Close()
	if strings.Join(seen, ",") != "sampling/createMessage,notifications/cancelled" {
		t.Errorf("the client was sent %v, want the sampling request, then its cancellation", seen)
	}
	var res mcp.CallToolResult
	if resp.Error == nil {
		if err := json.Unmarshal(resp.Result, &res); err != nil || !res.IsError {
			t.Errorf("tool answered %s, want an error", resp.Result)
		}
	}
	// Nothing waits any more: the idle session leaves memory.
	eventually(t, "the idle session to be evicted", func() bool { return m.Len() == 0 })
}

// When the client cancels the call that is waiting for its reply, the
// backend cancels its own request to the client, and the session stops
// waiting for that reply: the client is told the id it knows, and the idle
// session can be evicted long before the timeout.
func TestSession_ServerRequestCancelledWithItsCall(t *testing.T) {
	m := session.New(memstore.New(nil), asker(), &session.Options{IdleEvict: 50 * time.Millisecond})
	defer m.Close()
	s := openWith(t, m, `{"protocolVersion":"2025-06-18","capabilities":{"sampling":{}},"clientInfo":{"name":"t","version":"1"}}`)
	get, err := s.Listen(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sub, err := s.Call(context.Background(), request(t, 2, "tools/call", `{"name":"ask","arguments":{}}`), session.CallOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The backend's notice may come on the call's stream or, once the call
	// has been answered, on the GET stream.
	var asked, cancelled string
	deadline := time.After(10 * time.Second)
	for _, sub := range []*session.Sub{sub, get} {
		for cancelled == "" {
			events, over, _ := sub.Take()
			for _, ev := range events {
				if session.IsMarker(ev.Data) {
					continue
				}
				msg, err := jsonrpc.DecodeMessage(ev.Data)
				if err != nil {
					t.Fatal(err)
				}
				req, ok := msg.(*jsonrpc.Request)
				if !ok {
					continue
				}
				switch req.Method {
				case "sampling/createMessage":
					asked, _ = req.ID.Raw().(string)
					if err := s.Notify(context.Background(), &jsonrpc.Request{Method: "notifications/cancelled", Params: json.RawMessage(`{"requestId":2}`)}); err != nil {
						t.Fatal(err)
					}
				case "notifications/cancelled":
					var p struct {
						RequestID string `json:"requestId"`
					}
					_ = json.Unmarshal(req.Params, &p)
					cancelled = p.RequestID
				}
			}
			if over || cancelled != "" {
				break
			}
			select {
			case <-sub.Ready():
			case <-deadline:
				t.Fatal("the backend's cancellation did not reach the client within 10s")
			}
		}
	}
	sub.Close()
	get.Close()
	if asked == "" || cancelled != asked {
		t.Errorf("the client was asked %q and told of the cancellation of %q, want the same id", asked, cancelled)
	}
	eventually(t, "the idle session to be evicted", func() bool { return m.Len() == 0 })
}

// A CallBackendWith call is told (BackendCall.Waiting) when a request that
// the backend sent because of it waits for the client, and when it no
// longer does: here the request times out unanswered.
func TestSession_CallBackendWaiting(t *testing.T) {
	m := session.New(memstore.New(nil), asker(), &session.Options{ServerRequestTimeout: 200 * time.Millisecond})
	defer m.Close()
	s := openWith(t, m, `{"protocolVersion":"2025-11-25","capabilities":{"sampling":{}},"clientInfo":{"name":"t","version":"1"}}`)
	var told []bool // written by Waiting, whose calls are serialized; read after the call returned
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := s.CallBackendWith(ctx, "tools/call", json.RawMessage(`{"name":"ask","arguments":{}}`), session.BackendCall{
		Waiting: func(w bool) { told = append(told, w) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Error == nil && !strings.Contains(string(resp.Result), `"isError":true`) {
		t.Errorf("ask answered %s, want the timeout's error", resp.Result)
	}
	if len(told) != 2 || !told[0] || told[1] {
		t.Errorf("Waiting was told %v, want [true false]", told)
	}
}
