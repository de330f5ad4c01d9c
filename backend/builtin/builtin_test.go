package builtin

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// protocolVersion is the revision the conformance suite speaks; go-sdk's
// client would otherwise offer 2026-07-28, which has no server-to-client
// requests, no logging/setLevel and no resources/subscribe.
const protocolVersion = "2025-11-25"

// connect starts New() and a go-sdk client, offering roots, over in-memory
// transports.
func connect(t *testing.T, opts *mcp.ClientOptions, roots ...*mcp.Root) *mcp.ClientSession {
	t.Helper()
	ctx := context.Background()
	ct, st := mcp.NewInMemoryTransports()
	ss, err := New().Connect(ctx, st, nil)
	if err != nil {
		t.Fatalf("server connect: %v", err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "builtin-test", Version: "1"}, opts)
	client.AddRoots(roots...)
	cs, err := client.Connect(ctx, ct, &mcp.ClientSessionOptions{ProtocolVersion: protocolVersion})
	if err != nil {
		t.Fatalf("client connect: %v", err)
	}
	t.Cleanup(func() {
		cs.Close()
		ss.Wait()
	})
	return cs
}

func callTool(t *testing.T, cs *mcp.ClientSession, name string, args any) *mcp.CallToolResult {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("tools/call %s: %v", name, err)
	}
	return res
}

func resultText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// eventually polls cond until it holds or two seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// recorder collects notifications that go-sdk delivers on its own goroutines.
type recorder[T any] struct {
	mu    sync.Mutex
	items []T
}

func (r *recorder[T]) add(v T) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.items = append(r.items, v)
}

func (r *recorder[T]) get() []T {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.items)
}

func TestInitialize(t *testing.T) {
	cs := connect(t, nil)
	res := cs.InitializeResult()
	if res.ServerInfo.Name != "mooring" || res.ServerInfo.Version == "" {
		t.Errorf("serverInfo = %+v, want name mooring and a version", res.ServerInfo)
	}
	caps := res.Capabilities
	switch {
	case caps.Logging == nil:
		t.Error("logging capability missing")
	case caps.Completions == nil:
		t.Error("completions capability missing")
	case caps.Tools == nil || caps.Prompts == nil:
		t.Error("tools or prompts capability missing")
	case caps.Resources == nil || !caps.Resources.Subscribe:
		t.Errorf("resources capability = %+v, want subscribe", caps.Resources)
	}
}

func TestToolsListed(t *testing.T) {
	cs := connect(t, nil)
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"confirm_delete", "failing_job", "greet",
		"json_schema_2020_12_tool", "multi_input", "protocol_error_job",
		"slow_compute", "slow_count",
		"test_audio_content", "test_elicitation", "test_elicitation_sep1034_defaults",
		"test_elicitation_sep1330_enums", "test_embedded_resource", "test_error_handling",
		"test_image_content",
		"test_input_required_result_capabilities", "test_input_required_result_elicitation",
		"test_input_required_result_list_roots", "test_input_required_result_multi_round",
		"test_input_required_result_multiple_inputs", "test_input_required_result_request_state",
		"test_input_required_result_sampling", "test_input_required_result_tampered_state",
		"test_logging_tool", "test_missing_capability",
		"test_multiple_content_types", "test_reconnection",
		"test_sampling", "test_simple_text", "test_streaming_elicitation",
		"test_tool_with_logging", "test_tool_with_progress", "test_tool_with_task",
		"test_trigger_prompt_change", "test_trigger_tool_change",
	}
	var got []string
	for _, tool := range res.Tools {
		got = append(got, tool.Name)
		if tool.Description == "" {
			t.Errorf("tool %s has no description", tool.Name)
		}
		if m, ok := tool.InputSchema.(map[string]any); !ok || m["type"] != "object" {
			t.Errorf("tool %s inputSchema = %v, want an object schema", tool.Name, tool.InputSchema)
		}
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("tools = %v\nwant %v", got, want)
	}
}

func TestJSONSchema2020Verbatim(t *testing.T) {
	cs := connect(t, nil)
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(res.Tools, func(tool *mcp.Tool) bool { return tool.Name == "json_schema_2020_12_tool" })
	if i < 0 {
		t.Fatal("json_schema_2020_12_tool not listed")
	}
	got := res.Tools[i].InputSchema.(map[string]any)
	if got["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %v", got["$schema"])
	}
	if defs, _ := got["$defs"].(map[string]any); defs["address"] == nil {
		t.Errorf("$defs = %v, want an address definition", got["$defs"])
	}
	if got["additionalProperties"] != false {
		t.Errorf("additionalProperties = %v, want false", got["additionalProperties"])
	}
	var want map[string]any
	if err := json.Unmarshal([]byte(schema2020), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("inputSchema changed on the way:\ngot  %v\nwant %v", got, want)
	}

	call := callTool(t, cs, "json_schema_2020_12_tool", map[string]any{"name": "Ada"})
	if call.IsError || !strings.Contains(resultText(call), "Ada") {
		t.Errorf("call = %+v, want the arguments echoed", call)
	}
}

func TestToolContent(t *testing.T) {
	cs := connect(t, nil)
	for _, tc := range []struct {
		tool  string
		check func(t *testing.T, res *mcp.CallToolResult)
	}{
		{"test_simple_text", func(t *testing.T, res *mcp.CallToolResult) {
			if len(res.Content) != 1 || resultText(res) == "" {
				t.Errorf("content = %v, want one non-empty text block", res.Content)
			}
		}},
		{"test_image_content", func(t *testing.T, res *mcp.CallToolResult) {
			img, ok := res.Content[0].(*mcp.ImageContent)
			if !ok || img.MIMEType != "image/png" {
				t.Fatalf("content = %#v, want a PNG image", res.Content[0])
			}
			if _, err := png.Decode(bytes.NewReader(img.Data)); err != nil {
				t.Errorf("image data is not a PNG: %v", err)
			}
		}},
		{"test_audio_content", func(t *testing.T, res *mcp.CallToolResult) {
			a, ok := res.Content[0].(*mcp.AudioContent)
			if !ok || a.MIMEType != "audio/wav" {
				t.Fatalf("content = %#v, want audio/wav", res.Content[0])
			}
			if len(a.Data) < 44 || string(a.Data[:4]) != "RIFF" || string(a.Data[8:12]) != "WAVE" {
				t.Errorf("audio data is not a WAV file (%d bytes)", len(a.Data))
			}
		}},
		{"test_embedded_resource", func(t *testing.T, res *mcp.CallToolResult) {
			r, ok := res.Content[0].(*mcp.EmbeddedResource)
			if !ok || r.Resource == nil || r.Resource.URI == "" || r.Resource.MIMEType == "" || r.Resource.Text == "" {
				t.Errorf("content = %#v, want a resource with uri, mimeType and text", res.Content[0])
			}
		}},
		{"test_multiple_content_types", func(t *testing.T, res *mcp.CallToolResult) {
			var kinds []string
			for _, c := range res.Content {
				switch c := c.(type) {
				case *mcp.TextContent:
					kinds = append(kinds, "text")
				case *mcp.ImageContent:
					kinds = append(kinds, "image")
				case *mcp.EmbeddedResource:
					if !json.Valid([]byte(c.Resource.Text)) || c.Resource.MIMEType != "application/json" {
						t.Errorf("resource = %+v, want JSON text", c.Resource)
					}
					kinds = append(kinds, "resource")
				}
			}
			if !slices.Equal(kinds, []string{"text", "image", "resource"}) {
				t.Errorf("content kinds = %v", kinds)
			}
		}},
		{"test_error_handling", func(t *testing.T, res *mcp.CallToolResult) {
			if !res.IsError || resultText(res) == "" {
				t.Errorf("result = %+v, want isError with a message", res)
			}
		}},
		{"test_reconnection", func(t *testing.T, res *mcp.CallToolResult) {
			// In memory there is no stream to close: just the result.
			if res.IsError || resultText(res) == "" {
				t.Errorf("result = %+v, want text", res)
			}
		}},
	} {
		t.Run(tc.tool, func(t *testing.T) {
			res := callTool(t, cs, tc.tool, map[string]any{})
			if len(res.Content) == 0 {
				t.Fatal("no content")
			}
			if tc.tool != "test_error_handling" && res.IsError {
				t.Fatalf("tool error: %s", resultText(res))
			}
			tc.check(t, res)
		})
	}
}

func TestToolWithLogging(t *testing.T) {
	var logs recorder[*mcp.LoggingMessageParams]
	cs := connect(t, &mcp.ClientOptions{
		LoggingMessageHandler: func(_ context.Context, req *mcp.LoggingMessageRequest) { logs.add(req.Params) },
	})
	if err := cs.SetLoggingLevel(context.Background(), &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	callTool(t, cs, "test_tool_with_logging", map[string]any{})
	if d := time.Since(start); d < 2*stepDelay {
		t.Errorf("call took %v, want the messages spread over at least %v", d, 2*stepDelay)
	}
	eventually(t, "3 log messages", func() bool { return len(logs.get()) >= 3 })
	for _, l := range logs.get() {
		if l.Level != "info" || l.Data == nil {
			t.Errorf("log = %+v, want info with data", l)
		}
	}
}

func TestToolWithProgress(t *testing.T) {
	var progress recorder[*mcp.ProgressNotificationParams]
	cs := connect(t, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			progress.add(req.Params)
		},
	})

	params := &mcp.CallToolParams{Name: "test_tool_with_progress", Arguments: map[string]any{}}
	params.SetProgressToken("progress-test-1")
	if _, err := cs.CallTool(context.Background(), params); err != nil {
		t.Fatal(err)
	}
	eventually(t, "3 progress notifications", func() bool { return len(progress.get()) >= 3 })
	got := progress.get()
	for i, p := range got {
		if p.ProgressToken != "progress-test-1" {
			t.Errorf("notification %d token = %v, want the request's", i, p.ProgressToken)
		}
		if i > 0 && p.Progress < got[i-1].Progress {
			t.Errorf("progress went down: %v then %v", got[i-1].Progress, p.Progress)
		}
	}

	// Without a token there is nothing to report progress against.
	callTool(t, cs, "test_tool_with_progress", map[string]any{})
	time.Sleep(50 * time.Millisecond)
	if n := len(progress.get()); n != len(got) {
		t.Errorf("%d progress notifications without a progress token", n-len(got))
	}
}

func TestResources(t *testing.T) {
	cs := connect(t, nil)
	ctx := context.Background()

	list, err := cs.ListResources(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var uris []string
	for _, r := range list.Resources {
		uris = append(uris, r.URI)
		if r.Name == "" || r.Description == "" {
			t.Errorf("resource %s lacks a name or description", r.URI)
		}
	}
	slices.Sort(uris)
	if want := []string{staticBinaryURI, staticTextURI, watchedURI}; !slices.Equal(uris, want) {
		t.Errorf("resources = %v, want %v", uris, want)
	}
	templates, err := cs.ListResourceTemplates(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(templates.ResourceTemplates) != 1 || templates.ResourceTemplates[0].URITemplate != templateURI {
		t.Errorf("templates = %v, want %s", templates.ResourceTemplates, templateURI)
	}

	read := func(uri string) *mcp.ResourceContents {
		t.Helper()
		res, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri})
		if err != nil {
			t.Fatalf("read %s: %v", uri, err)
		}
		if len(res.Contents) != 1 || res.Contents[0].URI != uri {
			t.Fatalf("read %s: contents = %v", uri, res.Contents)
		}
		return res.Contents[0]
	}
	if c := read(staticTextURI); c.MIMEType != "text/plain" || c.Text == "" {
		t.Errorf("static text = %+v", c)
	}
	if c := read(staticBinaryURI); c.MIMEType != "image/png" || len(c.Blob) == 0 {
		t.Errorf("static binary = %+v", c)
	} else if _, err := png.Decode(bytes.NewReader(c.Blob)); err != nil {
		t.Errorf("static binary is not a PNG: %v", err)
	}
	c := read("test://template/123/data")
	var data map[string]any
	if err := json.Unmarshal([]byte(c.Text), &data); err != nil || data["id"] != "123" || c.MIMEType != "application/json" {
		t.Errorf("template read = %+v (%v), want JSON with id 123", c, err)
	}

	for _, uri := range []string{"test://nowhere", "test://template//data", "test://template/1/2/data"} {
		if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: uri}); err == nil {
			t.Errorf("read %s: no error", uri)
		}
	}
}

func TestPrompts(t *testing.T) {
	cs := connect(t, nil)
	ctx := context.Background()

	list, err := cs.ListPrompts(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	args := make(map[string][]string)
	for _, p := range list.Prompts {
		if p.Description == "" {
			t.Errorf("prompt %s has no description", p.Name)
		}
		args[p.Name] = []string{}
		for _, a := range p.Arguments {
			args[p.Name] = append(args[p.Name], a.Name)
		}
	}
	want := map[string][]string{
		"test_simple_prompt":                 {},
		"test_prompt_with_arguments":         {"arg1", "arg2"},
		"test_prompt_with_embedded_resource": {"resourceUri"},
		"test_prompt_with_image":             {},
		"test_input_required_result_prompt":  {},
	}
	if !reflect.DeepEqual(args, want) {
		t.Errorf("prompts and arguments = %v, want %v", args, want)
	}

	get := func(name string, args map[string]string) []*mcp.PromptMessage {
		t.Helper()
		res, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: name, Arguments: args})
		if err != nil {
			t.Fatalf("get %s: %v", name, err)
		}
		if len(res.Messages) == 0 {
			t.Fatalf("get %s: no messages", name)
		}
		for _, m := range res.Messages {
			if m.Role == "" || m.Content == nil {
				t.Errorf("get %s: message %+v lacks role or content", name, m)
			}
		}
		return res.Messages
	}

	get("test_simple_prompt", nil)

	msgs := get("test_prompt_with_arguments", map[string]string{"arg1": "testValue1", "arg2": "testValue2"})
	raw, _ := json.Marshal(msgs)
	if !bytes.Contains(raw, []byte("testValue1")) || !bytes.Contains(raw, []byte("testValue2")) {
		t.Errorf("arguments not substituted: %s", raw)
	}
	if _, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "test_prompt_with_arguments", Arguments: map[string]string{"arg1": "x"}}); err == nil {
		t.Error("missing arg2: no error")
	}

	msgs = get("test_prompt_with_embedded_resource", map[string]string{"resourceUri": "test://example-resource"})
	if r, ok := msgs[0].Content.(*mcp.EmbeddedResource); !ok || r.Resource.URI != "test://example-resource" || r.Resource.Text == "" {
		t.Errorf("first message = %#v, want the resource under the given URI", msgs[0].Content)
	}

	msgs = get("test_prompt_with_image", nil)
	if img, ok := msgs[0].Content.(*mcp.ImageContent); !ok || img.MIMEType != "image/png" || len(img.Data) == 0 {
		t.Errorf("first message = %#v, want a PNG image", msgs[0].Content)
	}
}

func TestCompletion(t *testing.T) {
	cs := connect(t, nil)
	complete := func(ref *mcp.CompleteReference, arg, value string) (*mcp.CompleteResult, error) {
		return cs.Complete(context.Background(), &mcp.CompleteParams{
			Ref:      ref,
			Argument: mcp.CompleteParamsArgument{Name: arg, Value: value},
		})
	}
	prompt := &mcp.CompleteReference{Type: "ref/prompt", Name: "test_prompt_with_arguments"}

	res, err := complete(prompt, "arg1", "test")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"test", "testValue1"}; !slices.Equal(res.Completion.Values, want) || res.Completion.Total != 2 {
		t.Errorf("completion = %+v, want %v", res.Completion, want)
	}
	// No match is an empty list, not null: the suite checks for an array.
	res, err = complete(prompt, "arg2", "zzz")
	if err != nil || res.Completion.Values == nil || len(res.Completion.Values) != 0 {
		t.Errorf("no match: %+v, %v; want an empty list", res, err)
	}
	res, err = complete(&mcp.CompleteReference{Type: "ref/resource", URI: templateURI}, "id", "12")
	if err != nil || !slices.Equal(res.Completion.Values, []string{"123"}) {
		t.Errorf("template id: %+v, %v", res, err)
	}
	if _, err := complete(&mcp.CompleteReference{Type: "ref/prompt", Name: "no_such_prompt"}, "x", ""); err == nil {
		t.Error("unknown prompt: no error")
	}
}

// TestEmptyResults checks on the wire that ping, logging/setLevel and
// resources/subscribe and unsubscribe answer exactly {}, as the suite
// requires, and that a subscription to test://watched-resource brings a
// notifications/resources/updated.
func TestEmptyResults(t *testing.T) {
	ctx := context.Background()
	ct, st := mcp.NewInMemoryTransports()
	server := New()
	ss, err := server.Connect(ctx, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := ct.Connect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		ss.Wait()
	})

	// Reads happen on one goroutine; responses and notifications are sorted
	// onto channels for the test to wait on.
	responses := make(chan *jsonrpc.Response, 16)
	notes := make(chan *jsonrpc.Request, 16)
	go func() {
		for {
			msg, err := conn.Read(ctx)
			if err != nil {
				close(responses)
				return
			}
			switch m := msg.(type) {
			case *jsonrpc.Response:
				responses <- m
			case *jsonrpc.Request:
				if !m.IsCall() {
					notes <- m
				}
			}
		}
	}()
	nextID := int64(0)
	call := func(method string, params any) json.RawMessage {
		t.Helper()
		nextID++
		id, _ := jsonrpc.MakeID(float64(nextID))
		raw, err := json.Marshal(params)
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.Write(ctx, &jsonrpc.Request{ID: id, Method: method, Params: raw}); err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		select {
		case r, ok := <-responses:
			if !ok {
				t.Fatalf("%s: connection closed", method)
			}
			if r.Error != nil {
				t.Fatalf("%s: %v", method, r.Error)
			}
			return r.Result
		case <-time.After(2 * time.Second):
			t.Fatalf("%s: no response", method)
		}
		return nil
	}

	call("initialize", map[string]any{
		"protocolVersion": protocolVersion,
		"capabilities":    map[string]any{},
		"clientInfo":      map[string]any{"name": "raw", "version": "1"},
	})
	if err := conn.Write(ctx, &jsonrpc.Request{Method: "notifications/initialized", Params: json.RawMessage("{}")}); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		method string
		params any
	}{
		{"ping", map[string]any{}},
		{"logging/setLevel", map[string]any{"level": "info"}},
		{"resources/subscribe", map[string]any{"uri": watchedURI}},
	} {
		if got := call(c.method, c.params); string(got) != "{}" {
			t.Errorf("%s result = %s, want {}", c.method, got)
		}
	}

	select {
	case n := <-notes:
		var p mcp.ResourceUpdatedNotificationParams
		if n.Method != "notifications/resources/updated" || json.Unmarshal(n.Params, &p) != nil || p.URI != watchedURI {
			t.Errorf("notification = %s %s, want resources/updated for %s", n.Method, n.Params, watchedURI)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no notifications/resources/updated after subscribing")
	}
	var read mcp.ReadResourceResult
	if err := json.Unmarshal(call("resources/read", map[string]any{"uri": watchedURI}), &read); err != nil {
		t.Fatal(err)
	}
	if len(read.Contents) != 1 || !strings.Contains(read.Contents[0].Text, "revision 1") {
		t.Errorf("watched resource after the update = %+v, want revision 1", read.Contents)
	}

	if got := call("resources/unsubscribe", map[string]any{"uri": watchedURI}); string(got) != "{}" {
		t.Errorf("resources/unsubscribe result = %s, want {}", got)
	}
}

func TestSubscribeUnknown(t *testing.T) {
	cs := connect(t, nil)
	if err := cs.Subscribe(context.Background(), &mcp.SubscribeParams{URI: "test://nowhere"}); err == nil {
		t.Error("subscribe to an unknown resource: no error")
	}
}
