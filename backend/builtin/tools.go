package builtin

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Limits and defaults of slow_count. The limits keep one call from holding a
// session for more than a bounded time or filling its event log.
const (
	slowCountDefault    = 5
	slowCountMax        = 10000
	slowIntervalDefault = 500   // ms
	slowIntervalMax     = 60000 // ms
)

// test_reconnection timing. The retry is short so that a client honouring it
// reconnects well before the result is ready, and the result then arrives on
// the resumed stream live rather than from the replay.
const (
	reconnectRetry = 50 * time.Millisecond
	reconnectWait  = 250 * time.Millisecond
)

// stepDelay spaces the notifications of the logging and progress fixtures so
// that a client sees them arrive one by one during the call.
const stepDelay = 50 * time.Millisecond

// json_schema_2020_12_tool's input schema, sent verbatim: the suite checks
// that $schema, $defs and additionalProperties survive tools/list (SEP-1613).
const schema2020 = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "$defs": {
    "address": {
      "type": "object",
      "properties": {
        "street": {"type": "string"},
        "city": {"type": "string"}
      }
    }
  },
  "properties": {
    "name": {"type": "string"},
    "address": {"$ref": "#/$defs/address"}
  },
  "additionalProperties": false
}`

// Elicitation schemas. They are raw JSON so that keywords go-sdk's schema
// type does not model (enumNames) reach the client unchanged.
const (
	userInfoSchema = `{
  "type": "object",
  "properties": {
    "username": {"type": "string", "description": "The name you go by"},
    "email": {"type": "string", "description": "Where to reach you"}
  },
  "required": ["username", "email"]
}`

	// SEP-1034: a default for every primitive type.
	defaultsSchema = `{
  "type": "object",
  "properties": {
    "name": {"type": "string", "description": "Full name", "default": "John Doe"},
    "age": {"type": "integer", "description": "Age in years", "default": 30},
    "score": {"type": "number", "description": "Score out of 100", "default": 95.5},
    "status": {"type": "string", "description": "Account status", "enum": ["active", "inactive", "pending"], "default": "active"},
    "verified": {"type": "boolean", "description": "Whether the account is verified", "default": true}
  }
}`

	// SEP-1330: the five ways to spell an enum.
	enumsSchema = `{
  "type": "object",
  "properties": {
    "untitledSingle": {"type": "string", "description": "Pick one", "enum": ["option1", "option2", "option3"]},
    "titledSingle": {"type": "string", "description": "Pick one", "oneOf": [
      {"const": "value1", "title": "First Option"},
      {"const": "value2", "title": "Second Option"},
      {"const": "value3", "title": "Third Option"}
    ]},
    "legacyEnum": {"type": "string", "description": "Pick one", "enum": ["opt1", "opt2", "opt3"],
      "enumNames": ["Option One", "Option Two", "Option Three"]},
    "untitledMulti": {"type": "array", "description": "Pick any", "items": {"type": "string", "enum": ["option1", "option2", "option3"]}},
    "titledMulti": {"type": "array", "description": "Pick any", "items": {"anyOf": [
      {"const": "value1", "title": "First Choice"},
      {"const": "value2", "title": "Second Choice"},
      {"const": "value3", "title": "Third Choice"}
    ]}}
  }
}`
)

type samplingArgs struct {
	Prompt string `json:"prompt" jsonschema:"the prompt to send to the client's model"`
}

type elicitationArgs struct {
	Message string `json:"message" jsonschema:"the message to show the user"`
}

type slowCountArgs struct {
	Count      int `json:"count"`
	IntervalMS int `json:"interval_ms"`
}

func (b *server) addTools() {
	s := b.mcp
	s.AddTool(&mcp.Tool{
		Name:        "test_simple_text",
		Description: "Returns a single text content block.",
		InputSchema: noArgs(),
	}, b.simpleText)
	s.AddTool(&mcp.Tool{
		Name:        "test_image_content",
		Description: "Returns a single image content block (a 1x1 PNG).",
		InputSchema: noArgs(),
	}, b.imageContent)
	s.AddTool(&mcp.Tool{
		Name:        "test_audio_content",
		Description: "Returns a single audio content block (audio/wav).",
		InputSchema: noArgs(),
	}, b.audioContent)
	s.AddTool(&mcp.Tool{
		Name:        "test_embedded_resource",
		Description: "Returns an embedded text resource.",
		InputSchema: noArgs(),
	}, b.embeddedResource)
	s.AddTool(&mcp.Tool{
		Name:        "test_multiple_content_types",
		Description: "Returns text, image and embedded resource content in one result.",
		InputSchema: noArgs(),
	}, b.multipleContent)
	s.AddTool(&mcp.Tool{
		Name:        "test_tool_with_logging",
		Description: "Sends three log messages at level info during the call, 50 ms apart.",
		InputSchema: noArgs(),
	}, b.withLogging)
	s.AddTool(&mcp.Tool{
		Name:        "test_tool_with_progress",
		Description: "Reports progress 0, 50 and 100 of 100 during the call, 50 ms apart, when the request carries a progress token.",
		InputSchema: noArgs(),
	}, b.withProgress)
	s.AddTool(&mcp.Tool{
		Name:        "test_error_handling",
		Description: "Always fails with a tool error (isError true), not a protocol error.",
		InputSchema: noArgs(),
	}, b.errorHandling)
	mcp.AddTool(s, &mcp.Tool{
		Name:        "test_sampling",
		Description: "Asks the client's model to answer the prompt (sampling/createMessage) and returns the answer.",
	}, b.sampling)
	mcp.AddTool(s, &mcp.Tool{
		Name:        "test_elicitation",
		Description: "Asks the user for a username and an email (elicitation/create) and returns the answer.",
	}, b.elicitation)
	s.AddTool(&mcp.Tool{
		Name:        "test_elicitation_sep1034_defaults",
		Description: "Elicits a form whose string, integer, number, enum and boolean fields all have defaults (SEP-1034).",
		InputSchema: noArgs(),
	}, b.elicitWith(defaultsSchema, "Please review your profile; every field has a default."))
	s.AddTool(&mcp.Tool{
		Name:        "test_elicitation_sep1330_enums",
		Description: "Elicits a form with untitled, titled and legacy single-select enums and untitled and titled multi-select enums (SEP-1330).",
		InputSchema: noArgs(),
	}, b.elicitWith(enumsSchema, "Please pick from each list."))
	s.AddTool(&mcp.Tool{
		Name:        "json_schema_2020_12_tool",
		Description: "Has an input schema using JSON Schema 2020-12 keywords ($schema, $defs, $ref, additionalProperties), listed verbatim.",
		InputSchema: json.RawMessage(schema2020),
	}, b.schema2020)
	s.AddTool(&mcp.Tool{
		Name:        "test_reconnection",
		Description: "Closes the request's SSE stream before answering (SEP-1699); the result arrives once the client resumes the stream.",
		InputSchema: noArgs(),
	}, b.reconnection)
	mcp.AddTool(s, &mcp.Tool{
		Name: "slow_count",
		Description: fmt.Sprintf("Counts from 1 to count, one step every interval_ms, sending a progress notification "+
			"(when the request has a progress token) and an info log message per step; for trying stream resumption. "+
			"count is at most %d, interval_ms at most %d.", slowCountMax, slowIntervalMax),
		InputSchema: slowCountSchema(),
		// Counting has no effect but its messages: safe to repeat, so a
		// call that a crash cut off is run again (and shows that).
		Annotations: &mcp.ToolAnnotations{IdempotentHint: true, ReadOnlyHint: true},
	}, b.slowCount)
}

func noArgs() *jsonschema.Schema { return &jsonschema.Schema{Type: "object"} }

func slowCountSchema() *jsonschema.Schema {
	return &jsonschema.Schema{
		Type: "object",
		Properties: map[string]*jsonschema.Schema{
			"count": {
				Type:        "integer",
				Description: fmt.Sprintf("how many steps to count, 1 to %d", slowCountMax),
				Default:     json.RawMessage(fmt.Sprint(slowCountDefault)),
			},
			"interval_ms": {
				Type:        "integer",
				Description: fmt.Sprintf("milliseconds between steps, 0 to %d", slowIntervalMax),
				Default:     json.RawMessage(fmt.Sprint(slowIntervalDefault)),
			},
		},
	}
}

func textResult(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

// sleep waits for d or until ctx ends, whichever comes first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (b *server) simpleText(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	return textResult("This is a plain text answer from mooring's built-in server."), nil
}

func (b *server) imageContent(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	return &mcp.CallToolResult{Content: []mcp.Content{
		&mcp.ImageContent{Data: b.png, MIMEType: "image/png"},
	}}, nil
}

func (b *server) audioContent(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	return &mcp.CallToolResult{Content: []mcp.Content{
		&mcp.AudioContent{Data: b.wav, MIMEType: "audio/wav"},
	}}, nil
}

func (b *server) embeddedResource(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	return &mcp.CallToolResult{Content: []mcp.Content{
		&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{
			URI:      "test://embedded-resource",
			MIMEType: "text/plain",
			Text:     "Text of a resource embedded in a tool result.",
		}},
	}}, nil
}

func (b *server) multipleContent(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	return &mcp.CallToolResult{Content: []mcp.Content{
		&mcp.TextContent{Text: "Three content types follow: this text, an image and a resource."},
		&mcp.ImageContent{Data: b.png, MIMEType: "image/png"},
		&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{
			URI:      "test://mixed-content-resource",
			MIMEType: "application/json",
			Text:     `{"fixture":"mixed-content","items":3}`,
		}},
	}}, nil
}

func (b *server) withLogging(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	steps := []string{"starting", "working", "finished"}
	for i, msg := range steps {
		if i > 0 {
			if err := sleep(ctx, stepDelay); err != nil {
				return nil, fmt.Errorf("test_tool_with_logging: %w", err)
			}
		}
		err := req.Session.Log(ctx, &mcp.LoggingMessageParams{
			Level:  "info",
			Logger: "test_tool_with_logging",
			Data:   msg,
		})
		if err != nil {
			return nil, fmt.Errorf("test_tool_with_logging: sending log message %d: %w", i+1, err)
		}
	}
	return textResult(fmt.Sprintf("Sent %d log messages.", len(steps))), nil
}

func (b *server) withProgress(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	token := req.Params.GetProgressToken()
	for i, p := range []float64{0, 50, 100} {
		if i > 0 {
			if err := sleep(ctx, stepDelay); err != nil {
				return nil, fmt.Errorf("test_tool_with_progress: %w", err)
			}
		}
		if token == nil {
			continue
		}
		err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
			ProgressToken: token,
			Progress:      p,
			Total:         100,
		})
		if err != nil {
			return nil, fmt.Errorf("test_tool_with_progress: sending progress %v: %w", p, err)
		}
	}
	return textResult("Progress reported: 0, 50, 100 of 100."), nil
}

func (b *server) errorHandling(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	return &mcp.CallToolResult{
		IsError: true,
		Content: []mcp.Content{&mcp.TextContent{Text: "test_error_handling always fails; this is its error message."}},
	}, nil
}

func (b *server) sampling(ctx context.Context, req *mcp.CallToolRequest, in samplingArgs) (*mcp.CallToolResult, any, error) {
	res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{
		Messages:  []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: in.Prompt}}},
		MaxTokens: 100,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("test_sampling: sampling/createMessage: %w", err)
	}
	answer := fmt.Sprintf("(%T content)", res.Content)
	if t, ok := res.Content.(*mcp.TextContent); ok {
		answer = t.Text
	}
	return textResult("LLM response: " + answer), nil, nil
}

func (b *server) elicitation(ctx context.Context, req *mcp.CallToolRequest, in elicitationArgs) (*mcp.CallToolResult, any, error) {
	res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{
		Message:         in.Message,
		RequestedSchema: json.RawMessage(userInfoSchema),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("test_elicitation: elicitation/create: %w", err)
	}
	return textResult("User response: " + describeElicit(res)), nil, nil
}

// elicitWith returns a tool handler that elicits the given form and reports
// the user's answer.
func (b *server) elicitWith(schema, message string) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{
			Message:         message,
			RequestedSchema: json.RawMessage(schema),
		})
		if err != nil {
			// A client without elicitation support is the caller's problem,
			// so report it as a tool error rather than a protocol error.
			r := textResult(fmt.Sprintf("%s: elicitation/create: %v", req.Params.Name, err))
			r.IsError = true
			return r, nil
		}
		return textResult("Elicitation completed: " + describeElicit(res)), nil
	}
}

func describeElicit(res *mcp.ElicitResult) string {
	content, err := json.Marshal(res.Content)
	if err != nil {
		content = []byte(fmt.Sprintf("%q", err.Error()))
	}
	return fmt.Sprintf("action=%s, content=%s", res.Action, content)
}

func (b *server) schema2020(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	args := string(req.Params.Arguments)
	if args == "" {
		args = "{}"
	}
	return textResult("Received arguments: " + args), nil
}

func (b *server) reconnection(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	// The transport offers CloseSSEStream only where it can close the POST
	// stream and let the client resume; elsewhere (stdio, in memory, JSON
	// responses) the result simply follows.
	if req.Extra != nil && req.Extra.CloseSSEStream != nil {
		req.Extra.CloseSSEStream(mcp.CloseSSEStreamArgs{RetryAfter: reconnectRetry})
		if err := sleep(ctx, reconnectWait); err != nil {
			return nil, fmt.Errorf("test_reconnection: %w", err)
		}
	}
	return textResult("Reconnection test finished: this result was sent after the stream was closed."), nil
}

func (b *server) slowCount(ctx context.Context, req *mcp.CallToolRequest, in slowCountArgs) (*mcp.CallToolResult, any, error) {
	if in.Count < 1 || in.Count > slowCountMax {
		return nil, nil, fmt.Errorf("slow_count: count must be between 1 and %d, got %d", slowCountMax, in.Count)
	}
	if in.IntervalMS < 0 || in.IntervalMS > slowIntervalMax {
		return nil, nil, fmt.Errorf("slow_count: interval_ms must be between 0 and %d, got %d", slowIntervalMax, in.IntervalMS)
	}
	interval := time.Duration(in.IntervalMS) * time.Millisecond
	token := req.Params.GetProgressToken()
	for i := 1; i <= in.Count; i++ {
		if i > 1 {
			if err := sleep(ctx, interval); err != nil {
				return nil, nil, fmt.Errorf("slow_count: stopped after %d of %d: %w", i-1, in.Count, err)
			}
		}
		if token != nil {
			err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
				ProgressToken: token,
				Progress:      float64(i),
				Total:         float64(in.Count),
				Message:       fmt.Sprintf("%d of %d", i, in.Count),
			})
			if err != nil {
				return nil, nil, fmt.Errorf("slow_count: sending progress %d: %w", i, err)
			}
		}
		// go-sdk drops log messages until the client sets a level with
		// logging/setLevel, as the spec lets it.
		err := req.Session.Log(ctx, &mcp.LoggingMessageParams{
			Level:  "info",
			Logger: "slow_count",
			Data:   fmt.Sprintf("%d of %d", i, in.Count),
		})
		if err != nil {
			return nil, nil, fmt.Errorf("slow_count: sending log message %d: %w", i, err)
		}
	}
	return textResult(fmt.Sprintf("counted to %d", in.Count)), nil, nil
}
