package transport_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/backend/builtin"
	"github.com/mooring-dev/mooring/health"
	"github.com/mooring-dev/mooring/metrics"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/transport"
)

// dualEnv is mooring with the built-in server, the health tool and both eras
// on one endpoint, counted by the metrics middleware as cmd/mooring does.
type dualEnv struct {
	env
	met *metrics.Metrics
	raw *httptest.Server
}

func newDualEnv(t *testing.T, opts *transport.Options) *dualEnv {
	t.Helper()
	st := memstore.New(nil)
	var mgr *session.Manager
	checker := health.New(health.Options{Store: st, Kind: "memory", Sessions: func() int { return mgr.Len() }})
	local := []session.LocalTool{checker.Tool()}
	srv := builtin.New()
	mgr = session.New(st, backend.NewInProcess(srv), &session.Options{LocalTools: local})
	o := transport.Options{}
	if opts != nil {
		o = *opts
	}
	o.Stateless = transport.NewStateless(srv, &transport.StatelessOptions{LocalTools: local})
	met := metrics.New(metrics.Options{})
	hs := httptest.NewServer(met.HTTP(transport.New(mgr, &o)))
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		mgr.Close()
		st.Close()
	})
	return &dualEnv{env: env{url: hs.URL, mgr: mgr}, met: met, raw: hs}
}

// A 2026-07-28 go-sdk client and a 2025-11-25 one on the same endpoint at
// the same time: the first is served statelessly (server/discover, no
// session), the second keeps its durable session.
func TestBothEras_GoSDKClients(t *testing.T) {
	e := newDualEnv(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	var mu sync.Mutex
	var progress []float64
	handlers := &mcp.ClientOptions{
		CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: "Paris"}}, nil
		},
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "Ada", "username": "ada", "email": "ada@example.com"}}, nil
		},
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			mu.Lock()
			progress = append(progress, req.Params.Progress)
			mu.Unlock()
		},
	}
	dial := func(version string) *mcp.ClientSession {
		c := mcp.NewClient(&mcp.Implementation{Name: "era-" + version, Version: "1"}, handlers)
		cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: e.url}, &mcp.ClientSessionOptions{ProtocolVersion: version})
		if err != nil {
			t.Fatalf("connect %s: %v", version, err)
		}
		t.Cleanup(func() { cs.Close() })
		return cs
	}
	modern := dial("2026-07-28")
	legacy := dial("2025-11-25")
	if v := modern.InitializeResult().ProtocolVersion; v != "2026-07-28" {
		t.Fatalf("modern client negotiated %q", v)
	}
	if modern.ID() != "" {
		t.Errorf("stateless client got a session id %q", modern.ID())
	}
	if legacy.ID() == "" || legacy.InitializeResult().ProtocolVersion != "2025-11-25" {
		t.Fatalf("legacy client: session %q, version %q", legacy.ID(), legacy.InitializeResult().ProtocolVersion)
	}

	// Both at once: the two eras must not disturb each other.
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 10 {
		for _, cs := range []*mcp.ClientSession{modern, legacy} {
			wg.Go(func() {
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "slow_count", Arguments: map[string]any{"count": 2, "interval_ms": i}})
				if err != nil {
					errs <- err
				} else if res.IsError {
					errs <- io.ErrUnexpectedEOF
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent call: %v", err)
	}

	for _, cs := range []*mcp.ClientSession{modern, legacy} {
		lt, err := cs.ListTools(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		names := make([]string, 0, len(lt.Tools))
		for _, tool := range lt.Tools {
			names = append(names, tool.Name)
		}
		if !slices.Contains(names, health.ToolName) || !slices.Contains(names, "test_simple_text") {
			t.Errorf("tools/list: %v", names)
		}
		if got := callText(t, cs, "test_simple_text"); got == "" {
			t.Error("empty text")
		}
		// A tool error is a result, not a protocol error, in both eras.
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "test_error_handling"})
		if err != nil || !res.IsError {
			t.Errorf("test_error_handling: %v %+v", err, res)
		}
		// An unknown tool is a protocol error.
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "no_such_tool"}); err == nil {
			t.Error("unknown tool: no error")
		}
		// Client input through a result (2026-07-28) or a request on the
		// session (2025-11-25): the same fixtures work for both.
		if got := callText(t, cs, "test_input_required_result_elicitation"); got != "Hello, Ada!" {
			t.Errorf("elicitation round trip: %q", got)
		}
		if got := callText(t, cs, "test_input_required_result_sampling"); !strings.Contains(got, "Paris") {
			t.Errorf("sampling round trip: %q", got)
		}
		hc, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: health.ToolName})
		if err != nil || hc.IsError {
			t.Fatalf("%s: %v %+v", health.ToolName, err, hc)
		}
		rep, _ := json.Marshal(hc.StructuredContent)
		if !strings.Contains(string(rep), `"status":"healthy"`) {
			t.Errorf("%s: %s", health.ToolName, rep)
		}
		hasSession := strings.Contains(string(rep), `"session":`)
		if hasSession != (cs == legacy) {
			t.Errorf("%s: session report present %v for the %s era", health.ToolName, hasSession, cs.InitializeResult().ProtocolVersion)
		}
	}

	// Progress reaches a stateless client on its request's stream.
	mu.Lock()
	progress = nil
	mu.Unlock()
	if _, err := modern.CallTool(ctx, &mcp.CallToolParams{Name: "test_tool_with_progress", Meta: mcp.Meta{"progressToken": "p1"}}); err != nil {
		t.Fatal(err)
	}
	// go-sdk's client runs notification handlers apart from the call, so
	// the last may land just after the result.
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n, got := len(progress), slices.Clone(progress)
		mu.Unlock()
		if n >= 3 || time.Now().After(deadline) {
			if n != 3 {
				t.Errorf("progress notifications: %v, want 3", got)
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}

	// The session server-to-client request of the sessionful era.
	if got := callText(t, legacy, "test_sampling", map[string]any{"prompt": "hi"}); !strings.Contains(got, "Paris") {
		t.Errorf("test_sampling: %q", got)
	}
	// Only the sessionful client has a session.
	if n := e.mgr.Len(); n != 1 {
		t.Errorf("live sessions: %d, want 1", n)
	}
	if !strings.Contains(e.scrape(t), `mooring_http_requests_total{method="POST",status="200"}`) {
		t.Error("requests not counted")
	}
}

func callText(t *testing.T, cs *mcp.ClientSession, name string, args ...map[string]any) string {
	t.Helper()
	p := &mcp.CallToolParams{Name: name}
	if len(args) > 0 {
		p.Arguments = args[0]
	}
	res, err := cs.CallTool(context.Background(), p)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return text(t, res)
}

func (e *dualEnv) scrape(t *testing.T) string {
	t.Helper()
	rec := httptest.NewRecorder()
	e.met.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// modernBody is a 2026-07-28 request with the given _meta (nil: the full
// triple; a key mapped to nil is left out).
func modernBody(method string, params map[string]any, meta map[string]any) string {
	m := map[string]any{
		"io.modelcontextprotocol/protocolVersion":    "2026-07-28",
		"io.modelcontextprotocol/clientInfo":         map[string]any{"name": "raw", "version": "1"},
		"io.modelcontextprotocol/clientCapabilities": map[string]any{},
	}
	for k, v := range meta {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	if params == nil {
		params = map[string]any{}
	}
	if meta == nil || len(m) > 0 {
		params["_meta"] = m
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": 7, "method": method, "params": params})
	return string(b)
}

func modernHeaders(method string, more ...string) map[string]string {
	h := map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": method}
	for i := 0; i+1 < len(more); i += 2 {
		h[more[i]] = more[i+1]
	}
	return h
}

type errBody struct {
	ID    any `json:"id"`
	Error *struct {
		Code int             `json:"code"`
		Data json.RawMessage `json:"data"`
	} `json:"error"`
}

// readJSONRPC reads a JSON body or the last message of an SSE body.
func readJSONRPC(t *testing.T, resp *http.Response) errBody {
	t.Helper()
	b, _ := io.ReadAll(resp.Body)
	s := string(b)
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		i := strings.LastIndex(s, "data: ")
		if i < 0 {
			t.Fatalf("no data in SSE body %q", s)
		}
		s, _, _ = strings.Cut(s[i+len("data: "):], "\n")
	}
	var out errBody
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		t.Fatalf("body %q: %v", s, err)
	}
	return out
}

func TestStateless_RawHTTP(t *testing.T) {
	e := newDualEnv(t, &transport.Options{MaxBodyBytes: 2048, LocalOnly: true})
	sid := e.initialize(t)
	discover := modernBody("server/discover", nil, nil)
	list := modernBody("tools/list", nil, nil)
	tests := []struct {
		name     string
		req      rawReq
		want     int
		wantCode int  // JSON-RPC error code, 0: a result (or no body)
		echoID   bool // the error carries the request's id
	}{
		{"discover", rawReq{"POST", modernHeaders("server/discover"), discover}, 200, 0, false},
		{"tools/list", rawReq{"POST", modernHeaders("tools/list"), list}, 200, 0, false},
		{"tools/call", rawReq{"POST", modernHeaders("tools/call", "Mcp-Name", "test_simple_text"), modernBody("tools/call", map[string]any{"name": "test_simple_text"}, nil)}, 200, 0, false},
		{"health tool", rawReq{"POST", modernHeaders("tools/call", "Mcp-Name", health.ToolName), modernBody("tools/call", map[string]any{"name": health.ToolName}, nil)}, 200, 0, false},
		{"a session id is ignored", rawReq{"POST", modernHeaders("tools/list", "Mcp-Session-Id", sid), list}, 200, 0, false},
		{"missing _meta", rawReq{"POST", modernHeaders("tools/list"), `{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{}}`}, 400, -32602, true},
		{"_meta without capabilities", rawReq{"POST", modernHeaders("server/discover"), modernBody("server/discover", nil, map[string]any{"io.modelcontextprotocol/clientCapabilities": nil})}, 400, -32602, true},
		{"_meta and header disagree", rawReq{"POST", modernHeaders("server/discover"), modernBody("server/discover", nil, map[string]any{"io.modelcontextprotocol/protocolVersion": "2025-11-25"})}, 400, -32020, true},
		{"_meta version without header", rawReq{"POST", map[string]string{"Mcp-Method": "tools/list"}, list}, 400, -32020, true},
		{"_meta version with a sessionful header", rawReq{"POST", map[string]string{"Mcp-Protocol-Version": "2025-11-25", "Mcp-Method": "tools/list", "Mcp-Session-Id": sid}, list}, 400, -32020, true},
		{"missing Mcp-Method", rawReq{"POST", map[string]string{"Mcp-Protocol-Version": "2026-07-28"}, list}, 400, -32020, false},
		{"Mcp-Method mismatch", rawReq{"POST", modernHeaders("prompts/list"), list}, 400, -32020, false},
		{"Mcp-Name mismatch", rawReq{"POST", modernHeaders("tools/call", "Mcp-Name", "other"), modernBody("tools/call", map[string]any{"name": "test_simple_text"}, nil)}, 400, -32020, false},
		{"unsupported version", rawReq{"POST", map[string]string{"Mcp-Protocol-Version": "2099-01-01", "Mcp-Method": "tools/list"}, list}, 400, -32022, true},
		{"unknown method", rawReq{"POST", modernHeaders("no/such"), modernBody("no/such", nil, nil)}, 404, -32601, true},
		{"initialize is gone", rawReq{"POST", modernHeaders("initialize"), modernBody("initialize", nil, nil)}, 404, -32601, true},
		{"ping is gone", rawReq{"POST", modernHeaders("ping"), modernBody("ping", nil, nil)}, 404, -32601, true},
		{"missing client capability", rawReq{"POST", modernHeaders("tools/call", "Mcp-Name", "test_missing_capability"), modernBody("tools/call", map[string]any{"name": "test_missing_capability"}, nil)}, 400, -32021, true},
		{"GET", rawReq{"GET", map[string]string{"Mcp-Protocol-Version": "2026-07-28"}, ""}, 405, 0, false},
		{"DELETE", rawReq{"DELETE", map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Session-Id": sid}, ""}, 405, 0, false},
		{"wrong content type", rawReq{"POST", modernHeaders("tools/list", "Content-Type", "text/plain"), list}, 415, 0, false},
		{"accept without event-stream", rawReq{"POST", modernHeaders("tools/list", "Accept", "application/json"), list}, 406, 0, false},
		{"body over the limit", rawReq{"POST", modernHeaders("tools/list"), modernBody("tools/list", map[string]any{"x": strings.Repeat("a", 3000)}, nil)}, 413, 0, false},
		{"batch", rawReq{"POST", modernHeaders("tools/list"), "[" + list + "]"}, 400, -32600, false},
		{"foreign origin", rawReq{"POST", modernHeaders("tools/list", "Origin", "http://evil.example.com"), list}, 403, 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := e.do(t, tc.req)
			if resp.StatusCode != tc.want {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.want, b)
			}
			if got := resp.Header.Get("Mcp-Session-Id"); got != "" {
				t.Errorf("a stateless answer carries Mcp-Session-Id %q", got)
			}
			if tc.want == 405 && resp.Header.Get("Allow") != "POST" {
				t.Errorf("405 with Allow %q, want POST", resp.Header.Get("Allow"))
			}
			if tc.want >= 400 && tc.wantCode == 0 {
				return
			}
			body := readJSONRPC(t, resp)
			switch {
			case tc.wantCode == 0 && body.Error != nil:
				t.Fatalf("error %d, want a result", body.Error.Code)
			case tc.wantCode != 0 && (body.Error == nil || body.Error.Code != tc.wantCode):
				t.Fatalf("error %+v, want code %d", body.Error, tc.wantCode)
			}
			if tc.echoID && body.ID != float64(7) {
				t.Errorf("error id %v, want 7", body.ID)
			}
			if tc.wantCode == -32022 {
				var data struct {
					Supported []string `json:"supported"`
					Requested string   `json:"requested"`
				}
				_ = json.Unmarshal(body.Error.Data, &data)
				if !slices.Contains(data.Supported, "2026-07-28") || !slices.Contains(data.Supported, "2025-11-25") || data.Requested != "2099-01-01" {
					t.Errorf("UnsupportedProtocolVersionError data %s", body.Error.Data)
				}
			}
		})
	}
	// A foreign Host on a loopback listener is refused in this era too.
	req, _ := http.NewRequest("POST", e.url, strings.NewReader(list))
	req.Host = "evil.example.com"
	for k, v := range modernHeaders("tools/list", "Content-Type", "application/json", "Accept", "application/json, text/event-stream") {
		req.Header.Set(k, v)
	}
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 {
		t.Errorf("foreign host: %v %v", err, resp)
	} else {
		resp.Body.Close()
	}
	// Nothing above touched the session, and no stateless request made one.
	resp := e.do(t, rawReq{method: "POST", headers: map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-11-25"}, body: `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`})
	if resp.StatusCode != 200 {
		t.Fatalf("session after stateless traffic: status %d", resp.StatusCode)
	}
	if n := e.mgr.Len(); n != 1 {
		t.Errorf("live sessions: %d, want 1", n)
	}
	m := e.scrape(t)
	for _, want := range []string{`method="POST",status="200"`, `method="POST",status="400"`, `method="POST",status="404"`, `method="GET",status="405"`} {
		if !strings.Contains(m, "mooring_http_requests_total{"+want+"}") {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// Without a stateless handler, a 2026-07-28 request gets the modern error
// listing the sessionful versions, so that a dual-era client falls back to
// initialize; go-sdk's client does.
func TestStateless_Disabled(t *testing.T) {
	e := newEnv(t, nil)
	resp := e.do(t, rawReq{"POST", modernHeaders("server/discover"), modernBody("server/discover", nil, nil)})
	if resp.StatusCode != 400 {
		t.Fatalf("status %d, want 400", resp.StatusCode)
	}
	body := readJSONRPC(t, resp)
	var data struct{ Supported []string }
	if body.Error != nil {
		_ = json.Unmarshal(body.Error.Data, &data)
	}
	if body.Error == nil || body.Error.Code != -32022 || len(data.Supported) == 0 || slices.Contains(data.Supported, "2026-07-28") {
		t.Fatalf("error %+v, supported %v", body.Error, data.Supported)
	}
	cs := connect(t, e.url, nil) // go-sdk's default: 2026-07-28 first
	if v := cs.InitializeResult().ProtocolVersion; v != "2025-11-25" || cs.ID() == "" {
		t.Fatalf("fallback: version %q, session %q", v, cs.ID())
	}
}
