package protocol_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/backend/builtin"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/tasks"
	"github.com/mooring-dev/mooring/tasks/protocol"
	"github.com/mooring-dev/mooring/transport"
)

// authedServer serves the built-in server's stateless era with the tasks
// extension behind go-sdk's bearer-token middleware: the token is the
// user's name. Its Manager shares the store with other.
type authedServer struct {
	srv   *mcp.Server
	url   string
	m     *tasks.Manager
	other *tasks.Manager
}

func newAuthed(t *testing.T, lease time.Duration) *authedServer {
	t.Helper()
	st := memstore.New(nil)
	m := tasks.NewManager(st, &tasks.Options{PollInterval: 50 * time.Millisecond, ReplicaID: "a", LeaseTTL: lease})
	other := tasks.NewManager(st, &tasks.Options{PollInterval: 50 * time.Millisecond, ReplicaID: "b"})
	srv := builtin.New()
	ext, err := protocol.NewExtension(srv, transport.NewStateless(srv, nil), m, &protocol.ExtensionOptions{Policy: &protocol.Policy{Tools: builtin.TaskSupport()}})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(_ context.Context, token string, _ *http.Request) (*sdkauth.TokenInfo, error) {
		if token == "" {
			return nil, sdkauth.ErrInvalidToken
		}
		return &sdkauth.TokenInfo{UserID: "https://issuer " + token, Expiration: time.Now().Add(time.Hour)}, nil
	}
	ts := httptest.NewServer(sdkauth.RequireBearerToken(verify, nil)(ext))
	t.Cleanup(func() {
		ts.Close()
		_ = m.Close()
		_ = other.Close()
	})
	return &authedServer{srv: srv, url: ts.URL, m: m, other: other}
}

// post sends one 2026-07-28 request as user (declaring the extension or
// not) and returns the HTTP response, its body unread.
func (s *authedServer) post(t *testing.T, ctx context.Context, user string, id int, method string, params map[string]any, declare bool) *http.Response {
	t.Helper()
	caps := map[string]any{}
	if declare {
		caps["extensions"] = map[string]any{protocol.ExtensionID: map[string]any{}}
	}
	params["_meta"] = map[string]any{
		"io.modelcontextprotocol/protocolVersion":    "2026-07-28",
		"io.modelcontextprotocol/clientCapabilities": caps,
		"io.modelcontextprotocol/clientInfo":         map[string]any{"name": "test", "version": "1"},
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": id, "method": method, "params": params})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", method)
	req.Header.Set("Authorization", "Bearer "+user)
	if name, ok := params["name"].(string); ok {
		req.Header.Set("Mcp-Name", name)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return resp
}

// message is one JSON-RPC message read from a stream.
type message struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params map[string]any  `json:"params"`
	Result map[string]any  `json:"result"`
	Error  *rpcErr         `json:"error"`
}

// messages reads resp's SSE (or JSON) messages onto a channel, closed
// at the end of the body.
func messages(resp *http.Response) <-chan message {
	out := make(chan message, 64)
	go func() {
		defer close(out)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if d, ok := strings.CutPrefix(line, "data: "); ok {
				line = d
			} else if !strings.HasPrefix(line, "{") {
				continue
			}
			var m message
			if json.Unmarshal([]byte(line), &m) == nil {
				out <- m
			}
		}
	}()
	return out
}

func subscriptionID(params map[string]any) any {
	meta, _ := params["_meta"].(map[string]any)
	return meta["io.modelcontextprotocol/subscriptionId"]
}

func next(t *testing.T, ch <-chan message) (message, bool) {
	t.Helper()
	select {
	case m, ok := <-ch:
		return m, ok
	case <-time.After(30 * time.Second):
		t.Fatal("no message on the listen stream within 30s")
	}
	return message{}, false
}

// subscriptions/listen with notifications.taskIds delivers
// notifications/tasks for the caller's own tasks: acknowledged with the
// ids it follows (another principal's and unknown ones left out), each
// task's current state, every change (made by this process, or by another
// one on the same store), and the graceful end once all are over.
func TestListen_TaskNotifications(t *testing.T) {
	s := newAuthed(t, 0)
	ctx := context.Background()
	create := func(user string, seconds float64) string {
		resp := s.post(t, ctx, user, 1, "tools/call", map[string]any{"name": "slow_compute", "arguments": map[string]any{"seconds": seconds, "label": user}}, true)
		m, _ := next(t, messages(resp))
		id, _ := m.Result["taskId"].(string)
		if id == "" {
			t.Fatalf("slow_compute as %s = %+v %+v, want a task", user, m, m.Error)
		}
		return id
	}
	mine := create("alice", 1)
	bobs := create("bob", 60)
	// A task run by another process sharing the store: its changes reach
	// this one only through the store.
	release := make(chan struct{})
	remote, err := s.other.Create(ctx, &tasks.Task{Scope: protocol.PrincipalScope("https://issuer alice"), Tool: "remote"}, func(ctx context.Context, _ *tasks.Task) ([]byte, error) {
		select {
		case <-release:
			return []byte(`{"content":[{"type":"text","text":"remote done"}]}`), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	if err != nil {
		t.Fatal(err)
	}

	resp := s.post(t, ctx, "alice", 7, "subscriptions/listen", map[string]any{
		"notifications": map[string]any{"taskIds": []string{mine, bobs, "no-such-task", remote.ID}},
	}, true)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("listen answered %d %s", resp.StatusCode, ct)
	}
	ch := messages(resp)
	ack, _ := next(t, ch)
	if ack.Method != "notifications/subscriptions/acknowledged" {
		t.Fatalf("first message = %+v, want the acknowledgement", ack)
	}
	if sub := subscriptionID(ack.Params); sub != float64(7) {
		t.Errorf("ack subscriptionId = %v, want 7", sub)
	}
	var acked []string
	notes, _ := ack.Params["notifications"].(map[string]any)
	ids, _ := notes["taskIds"].([]any)
	for _, v := range ids {
		id, _ := v.(string)
		acked = append(acked, id)
	}
	if want := []string{mine, remote.ID}; !slices.Equal(acked, want) {
		t.Fatalf("acknowledged taskIds = %v, want %v (alice's own only)", acked, want)
	}

	seen := map[string][]string{} // task id -> statuses notified
	var ended bool
	var releaseOnce bool
	for !ended {
		m, ok := next(t, ch)
		if !ok {
			t.Fatal("the stream ended without the graceful result")
		}
		switch {
		case m.Method == "notifications/tasks":
			id, _ := m.Params["taskId"].(string)
			status, _ := m.Params["status"].(string)
			if id == bobs || (id != mine && id != remote.ID) {
				t.Fatalf("notification for task %s, which alice did not get acknowledged", id)
			}
			if _, has := m.Params["resultType"]; has || m.Params["createdAt"] == nil || m.Params["ttlMs"] == nil {
				t.Errorf("notification params = %v, want a DetailedTask", m.Params)
			}
			if subscriptionID(m.Params) != float64(7) {
				t.Errorf("notification without the subscription id: %v", m.Params["_meta"])
			}
			if status == "completed" && m.Params["result"] == nil {
				t.Errorf("completed notification without its result: %v", m.Params)
			}
			seen[id] = append(seen[id], status)
			if id == mine && status == "completed" && !releaseOnce {
				releaseOnce = true
				close(release)
			}
		case len(m.ID) > 0:
			if string(m.ID) != "7" || m.Result["resultType"] != "complete" {
				t.Fatalf("listen answered %+v, want its graceful result", m)
			}
			ended = true
		default:
			t.Fatalf("unexpected message %+v", m)
		}
	}
	for _, id := range []string{mine, remote.ID} {
		got := seen[id]
		if len(got) < 2 || got[0] != "working" || got[len(got)-1] != "completed" {
			t.Errorf("task %s: notified %v, want working ... completed", id, got)
		}
	}
	if _, err := s.m.Cancel(ctx, bobs, protocol.PrincipalScope("https://issuer bob")); err != nil && !errors.Is(err, tasks.ErrTerminal) {
		t.Error(err)
	}
}

// A listen for tasks from a client that did not declare the extension is
// -32021; one for no known task is acknowledged empty and ends at once.
func TestListen_Refusals(t *testing.T) {
	s := newAuthed(t, 0)
	ctx := context.Background()
	resp := s.post(t, ctx, "alice", 3, "subscriptions/listen", map[string]any{"notifications": map[string]any{"taskIds": []string{"x"}}}, false)
	m, _ := next(t, messages(resp))
	if m.Error == nil || m.Error.Code != protocol.CodeMissingCapability {
		t.Errorf("undeclared listen for tasks = %+v, want -32021", m)
	}
	resp = s.post(t, ctx, "alice", 4, "subscriptions/listen", map[string]any{"notifications": map[string]any{"taskIds": []string{"x"}}}, true)
	ch := messages(resp)
	ack, _ := next(t, ch)
	notes, _ := ack.Params["notifications"].(map[string]any)
	if ids, _ := notes["taskIds"].([]any); ack.Method != "notifications/subscriptions/acknowledged" || len(ids) != 0 {
		t.Errorf("ack = %+v, want no task ids", ack)
	}
	if end, _ := next(t, ch); string(end.ID) != "4" || end.Result == nil {
		t.Errorf("after an empty ack: %+v, want the graceful result", end)
	}
}

// A task that did not change as a client sees it is not notified again:
// its runner's lease renewals write it to the store (every LeaseTTL/3)
// and the stream re-reads it every second.
func TestListen_NoNotificationWithoutChange(t *testing.T) {
	s := newAuthed(t, 300*time.Millisecond)
	ctx := context.Background()
	release := make(chan struct{})
	task, err := s.m.Create(ctx, &tasks.Task{Scope: protocol.PrincipalScope("https://issuer alice"), Tool: "held"}, func(ctx context.Context, _ *tasks.Task) ([]byte, error) {
		select {
		case <-release:
			return []byte(`{"content":[]}`), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	resp := s.post(t, ctx, "alice", 5, "subscriptions/listen", map[string]any{"notifications": map[string]any{"taskIds": []string{task.ID}}}, true)
	ch := messages(resp)
	if ack, _ := next(t, ch); ack.Method != "notifications/subscriptions/acknowledged" {
		t.Fatalf("first message %+v", ack)
	}
	// Several lease renewals, and more than one of the stream's reads.
	start := time.Now()
	for {
		cur, err := s.m.Get(ctx, task.ID, task.Scope)
		if err != nil {
			t.Fatal(err)
		}
		if cur.Version >= task.Version+4 && time.Since(start) > 2500*time.Millisecond {
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("the task's lease was renewed %d times in 30s", cur.Version-task.Version)
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(release)
	var statuses []string
	for {
		m, ok := next(t, ch)
		if !ok || len(m.ID) > 0 {
			break
		}
		if st, _ := m.Params["status"].(string); m.Method == "notifications/tasks" {
			statuses = append(statuses, st)
		}
	}
	if !slices.Equal(statuses, []string{"working", "completed"}) {
		t.Errorf("notified %v, want [working completed]: nothing in between changed", statuses)
	}
}

// A quiet listen stream carries comment lines (ExtensionOptions.Heartbeat),
// so that proxies do not cut it while a long task runs.
func TestListen_Heartbeat(t *testing.T) {
	st := memstore.New(nil)
	m := tasks.NewManager(st, nil)
	defer m.Close()
	srv := builtin.New()
	ext, err := protocol.NewExtension(srv, transport.NewStateless(srv, nil), m, &protocol.ExtensionOptions{
		Policy: &protocol.Policy{Tools: builtin.TaskSupport()}, Heartbeat: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(ext)
	defer ts.Close()
	task, err := m.Create(context.Background(), &tasks.Task{Tool: "held"}, func(ctx context.Context, _ *tasks.Task) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s := &authedServer{url: ts.URL}
	resp := s.post(t, ctx, "", 1, "subscriptions/listen", map[string]any{"notifications": map[string]any{"taskIds": []string{task.ID}}}, true)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	beats := 0
	for beats < 2 && sc.Scan() {
		if strings.HasPrefix(sc.Text(), ":") {
			beats++
		}
	}
	if beats < 2 {
		t.Fatalf("no heartbeat on a quiet listen stream (%v)", sc.Err())
	}
}

// A listen whose taskIds list is empty asks for no task notifications: it
// is served as any other (here the list-changed notifications it asks
// for are acknowledged).
func TestListen_EmptyTaskIDsLeftToServer(t *testing.T) {
	s := newAuthed(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp := s.post(t, ctx, "alice", 6, "subscriptions/listen", map[string]any{"notifications": map[string]any{"taskIds": []string{}, "toolsListChanged": true}}, true)
	ack, _ := next(t, messages(resp))
	notes, _ := ack.Params["notifications"].(map[string]any)
	if ack.Method != "notifications/subscriptions/acknowledged" || notes["toolsListChanged"] != true {
		t.Errorf("ack = %+v, want toolsListChanged acknowledged", ack)
	}
}

// A listen that asks for task notifications and list changes gets both on
// one stream: one acknowledgement naming both, the tasks' notifications,
// and go-sdk's list_changed; it stays open after the tasks are over.
func TestListen_TasksWithListChanges(t *testing.T) {
	s := newAuthed(t, 0)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp := s.post(t, ctx, "alice", 1, "tools/call", map[string]any{"name": "slow_compute", "arguments": map[string]any{"seconds": 0.3}}, true)
	created, _ := next(t, messages(resp))
	id, _ := created.Result["taskId"].(string)
	if id == "" {
		t.Fatalf("slow_compute = %+v, want a task", created)
	}
	resp = s.post(t, ctx, "alice", 8, "subscriptions/listen", map[string]any{"notifications": map[string]any{"taskIds": []string{id}, "toolsListChanged": true}}, true)
	ch := messages(resp)
	ack, _ := next(t, ch)
	notes, _ := ack.Params["notifications"].(map[string]any)
	ids, _ := notes["taskIds"].([]any)
	if ack.Method != "notifications/subscriptions/acknowledged" || notes["toolsListChanged"] != true || len(ids) != 1 {
		t.Fatalf("ack = %+v, want taskIds and toolsListChanged", ack)
	}
	for done := false; !done; {
		m, ok := next(t, ch)
		if !ok || m.Method != "notifications/tasks" {
			t.Fatalf("before the task is over: %+v", m)
		}
		done = m.Params["status"] == "completed"
	}
	s.srv.AddTool(&mcp.Tool{Name: "late", InputSchema: map[string]any{"type": "object"}}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return &mcp.CallToolResult{}, nil
	})
	m, ok := next(t, ch)
	if !ok || m.Method != "notifications/tools/list_changed" || subscriptionID(m.Params) != float64(8) {
		t.Fatalf("after a tool was added: %+v (open %v), want notifications/tools/list_changed of subscription 8", m, ok)
	}
}

// A change committed by this process reaches the listen streams as it was
// committed: the stream reads no task from the store for it (it used to
// read every task it follows again at each such change).
func TestListen_LocalChangeWithoutRead(t *testing.T) {
	protocol.SetListenPoll(t, time.Hour) // no reads for other replicas' changes
	st := memstore.New(nil)
	reads := &taskReads{TaskStore: st}
	m := tasks.NewManager(reads, &tasks.Options{PollInterval: 50 * time.Millisecond, LeaseTTL: time.Hour, SweepInterval: -1})
	srv := builtin.New()
	ext, err := protocol.NewExtension(srv, transport.NewStateless(srv, nil), m, &protocol.ExtensionOptions{Policy: &protocol.Policy{Tools: builtin.TaskSupport()}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(ext)
	defer ts.Close()
	defer m.Close()
	ctx := context.Background()
	const n = 5
	var ids []string
	var release []chan struct{}
	for range n {
		ch := make(chan struct{})
		task, err := m.Create(ctx, &tasks.Task{Tool: "held"}, func(ctx context.Context, _ *tasks.Task) ([]byte, error) {
			select {
			case <-ch:
				return []byte(`{"content":[]}`), nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, task.ID)
		release = append(release, ch)
	}
	resp := (&authedServer{url: ts.URL}).post(t, ctx, "anyone", 7, "subscriptions/listen", map[string]any{"notifications": map[string]any{"taskIds": ids}}, true)
	msgs := messages(resp)
	if ack, _ := next(t, msgs); ack.Method != "notifications/subscriptions/acknowledged" {
		t.Fatalf("first message %+v", ack)
	}
	for range n {
		if m, _ := next(t, msgs); m.Params["status"] != "working" {
			t.Fatalf("first state %+v", m)
		}
	}
	reads.n.Store(0)
	for i, ch := range release {
		close(ch)
		m, _ := next(t, msgs)
		if m.Params["taskId"] != ids[i] || m.Params["status"] != "completed" {
			t.Fatalf("after task %d ended: %+v, want its completion", i, m)
		}
	}
	if m, ok := next(t, msgs); !ok || len(m.ID) == 0 {
		t.Errorf("after the last task: %+v, want the listen's result", m)
	}
	if got := reads.n.Load(); got != 0 {
		t.Errorf("%d store reads for %d changes made here, want 0", got, n)
	}
}
