package builtin

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestSampling(t *testing.T) {
	var reqs recorder[*mcp.CreateMessageParams]
	cs := connect(t, &mcp.ClientOptions{
		CreateMessageHandler: func(_ context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			reqs.add(req.Params)
			return &mcp.CreateMessageResult{
				Role:       "assistant",
				Content:    &mcp.TextContent{Text: "answer from the client"},
				Model:      "test-model",
				StopReason: "endTurn",
			}, nil
		},
	})
	res := callTool(t, cs, "test_sampling", map[string]any{"prompt": "What is 2+2?"})
	if res.IsError || !strings.Contains(resultText(res), "answer from the client") {
		t.Errorf("result = %q, want the client's answer", resultText(res))
	}
	got := reqs.get()
	if len(got) != 1 {
		t.Fatalf("%d sampling requests, want 1", len(got))
	}
	msg := got[0].Messages[0]
	if tc, ok := msg.Content.(*mcp.TextContent); msg.Role != "user" || !ok || tc.Text != "What is 2+2?" || got[0].MaxTokens != 100 {
		t.Errorf("sampling request = %+v %+v, want the prompt as a user message, maxTokens 100", got[0], msg)
	}
}

func TestSamplingUnsupported(t *testing.T) {
	cs := connect(t, nil)
	res := callTool(t, cs, "test_sampling", map[string]any{"prompt": "hi"})
	if !res.IsError {
		t.Errorf("result = %q, want a tool error for a client without sampling", resultText(res))
	}
}

// elicitClient connects a client that records elicitation requests and
// answers each with content.
func elicitClient(t *testing.T, content map[string]any) (*mcp.ClientSession, *recorder[*mcp.ElicitParams]) {
	rec := new(recorder[*mcp.ElicitParams])
	cs := connect(t, &mcp.ClientOptions{
		ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			rec.add(req.Params)
			return &mcp.ElicitResult{Action: "accept", Content: content}, nil
		},
	})
	return cs, rec
}

// requestedProperties returns the single elicitation request's schema
// properties as the client saw them.
func requestedProperties(t *testing.T, rec *recorder[*mcp.ElicitParams]) map[string]map[string]any {
	t.Helper()
	got := rec.get()
	if len(got) != 1 {
		t.Fatalf("%d elicitation requests, want 1", len(got))
	}
	schema, _ := got[0].RequestedSchema.(map[string]any)
	props, _ := schema["properties"].(map[string]any)
	out := make(map[string]map[string]any)
	for k, v := range props {
		out[k], _ = v.(map[string]any)
	}
	return out
}

func TestElicitation(t *testing.T) {
	cs, rec := elicitClient(t, map[string]any{"username": "testuser", "email": "test@example.com"})
	res := callTool(t, cs, "test_elicitation", map[string]any{"message": "Who are you?"})
	if res.IsError || !strings.Contains(resultText(res), "accept") || !strings.Contains(resultText(res), "testuser") {
		t.Errorf("result = %q, want the action and content", resultText(res))
	}
	if msg := rec.get()[0].Message; msg != "Who are you?" {
		t.Errorf("message = %q, want the argument", msg)
	}
	props := requestedProperties(t, rec)
	if props["username"]["type"] != "string" || props["email"]["type"] != "string" {
		t.Errorf("requested properties = %v", props)
	}
}

func TestElicitationDefaults(t *testing.T) {
	cs, rec := elicitClient(t, map[string]any{
		"name": "Jane Smith", "age": 25, "score": 88, "status": "inactive", "verified": false,
	})
	res := callTool(t, cs, "test_elicitation_sep1034_defaults", map[string]any{})
	if res.IsError || !strings.Contains(resultText(res), "Jane Smith") {
		t.Errorf("result = %q, want the accepted content", resultText(res))
	}
	props := requestedProperties(t, rec)
	for field, want := range map[string]struct {
		typ string
		def any
	}{
		"name":     {"string", "John Doe"},
		"age":      {"integer", 30.0},
		"score":    {"number", 95.5},
		"status":   {"string", "active"},
		"verified": {"boolean", true},
	} {
		p := props[field]
		if p["type"] != want.typ || p["default"] != want.def {
			t.Errorf("%s = %v, want type %s default %v", field, p, want.typ, want.def)
		}
	}
	if enum, _ := props["status"]["enum"].([]any); !slices.Contains(enum, any("active")) {
		t.Errorf("status enum = %v, want it to hold the default", props["status"]["enum"])
	}
}

func TestElicitationEnums(t *testing.T) {
	cs, rec := elicitClient(t, map[string]any{
		"untitledSingle": "option1",
		"titledSingle":   "value1",
		"legacyEnum":     "opt1",
		"untitledMulti":  []any{"option1", "option2"},
		"titledMulti":    []any{"value1", "value2"},
	})
	// The server validates the answer against its schema, so a result that
	// is no error also shows the schema is one go-sdk can use.
	res := callTool(t, cs, "test_elicitation_sep1330_enums", map[string]any{})
	if res.IsError {
		t.Fatalf("tool error: %s", resultText(res))
	}
	props := requestedProperties(t, rec)

	titled := func(list any) bool {
		items, _ := list.([]any)
		for _, it := range items {
			m, _ := it.(map[string]any)
			if _, ok := m["const"].(string); !ok {
				return false
			}
			if _, ok := m["title"].(string); !ok {
				return false
			}
		}
		return len(items) > 0
	}
	us := props["untitledSingle"]
	if us["type"] != "string" || us["enum"] == nil || us["oneOf"] != nil || us["enumNames"] != nil {
		t.Errorf("untitledSingle = %v", us)
	}
	ts := props["titledSingle"]
	if ts["type"] != "string" || !titled(ts["oneOf"]) || ts["enum"] != nil {
		t.Errorf("titledSingle = %v", ts)
	}
	le := props["legacyEnum"]
	enum, _ := le["enum"].([]any)
	names, _ := le["enumNames"].([]any)
	if le["type"] != "string" || len(enum) == 0 || len(names) != len(enum) {
		t.Errorf("legacyEnum = %v", le)
	}
	um := props["untitledMulti"]
	umItems, _ := um["items"].(map[string]any)
	if um["type"] != "array" || umItems["type"] != "string" || umItems["enum"] == nil || umItems["anyOf"] != nil {
		t.Errorf("untitledMulti = %v", um)
	}
	tm := props["titledMulti"]
	tmItems, _ := tm["items"].(map[string]any)
	if tm["type"] != "array" || !titled(tmItems["anyOf"]) || tmItems["enum"] != nil {
		t.Errorf("titledMulti = %v", tm)
	}
}
