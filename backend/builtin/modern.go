package builtin

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The fixtures of the stateless revision (2026-07-28) that the conformance
// suite (@modelcontextprotocol/conformance 0.2.0-alpha) calls: diagnostic
// tools of SEP-2575 and multi round-trip results (SEP-2322), where the
// server asks for client input inside its result instead of sending a
// request. go-sdk fulfils such results itself for sessionful clients (it
// sends the requests on the session and calls the handler again), so the
// same tools work in both eras.

// Names of the list entries that the trigger tools add and remove.
const (
	dynamicTool   = "test_dynamic_tool"
	dynamicPrompt = "test_dynamic_prompt"
)

func (b *server) addModernTools() {
	s := b.mcp
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	b.stateKey = key

	s.AddTool(&mcp.Tool{
		Name:        "test_missing_capability",
		Description: "Needs the client's sampling capability; without it the call fails with MissingRequiredClientCapabilityError (-32021, SEP-2575).",
		InputSchema: noArgs(),
	}, b.missingCapability)
	s.AddTool(&mcp.Tool{
		Name:        "test_streaming_elicitation",
		Description: "Sends a progress notification, then asks for a name in its result (an elicitation input request, never a request of its own on the stream).",
		InputSchema: noArgs(),
	}, b.streamingElicitation)
	s.AddTool(&mcp.Tool{
		Name:        "test_logging_tool",
		Description: "Sends one info log message; a 2026-07-28 client gets it only when its request sets a log level in _meta.",
		InputSchema: noArgs(),
	}, b.loggingTool)
	s.AddTool(&mcp.Tool{
		Name:        "test_trigger_tool_change",
		Description: "Adds or removes " + dynamicTool + ", so that listeners get notifications/tools/list_changed.",
		InputSchema: noArgs(),
	}, b.triggerToolChange)
	s.AddTool(&mcp.Tool{
		Name:        "test_trigger_prompt_change",
		Description: "Adds or removes " + dynamicPrompt + ", so that listeners get notifications/prompts/list_changed.",
		InputSchema: noArgs(),
	}, b.triggerPromptChange)

	for _, t := range []struct {
		name, desc string
		h          mcp.ToolHandler
	}{
		{"test_input_required_result_elicitation", "Asks for the caller's name (elicitation input request) and greets them.", b.mrtrElicitation},
		{"test_input_required_result_sampling", "Asks the client's model for the capital of France (sampling input request) and returns the answer.", b.mrtrSampling},
		{"test_input_required_result_list_roots", "Asks for the client's roots (roots/list input request) and lists them.", b.mrtrRoots},
		{"test_input_required_result_request_state", "Asks for a confirmation with a signed requestState, and checks the state it gets back.", b.mrtrRequestState},
		{"test_input_required_result_multiple_inputs", "Asks for a name, a sampled greeting and the roots in one round.", b.mrtrMultiple},
		{"test_input_required_result_multi_round", "Asks for a name, then for a colour, carrying a signed requestState between the rounds.", b.mrtrMultiRound},
		{"test_input_required_result_tampered_state", "Asks for a confirmation with a signed requestState and rejects a retry whose state does not verify.", b.mrtrTampered},
		{"test_input_required_result_capabilities", "Asks only for the kinds of input that the client's capabilities declare (sampling, elicitation).", b.mrtrCapabilities},
	} {
		s.AddTool(&mcp.Tool{Name: t.name, Description: t.desc, InputSchema: noArgs()}, t.h)
	}
	s.AddPrompt(&mcp.Prompt{
		Name:        "test_input_required_result_prompt",
		Description: "A prompt that first asks for the context to use (elicitation input request).",
	}, b.mrtrPrompt)
}

func (b *server) missingCapability(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if caps := req.ClientCapabilities(); caps == nil || caps.Sampling == nil {
		return nil, &jsonrpc.Error{
			Code:    mcp.CodeMissingRequiredClientCapabilities,
			Message: "test_missing_capability needs the sampling client capability",
			Data:    json.RawMessage(`{"requiredCapabilities":{"sampling":{}}}`),
		}
	}
	return textResult("The client declared sampling."), nil
}

func (b *server) streamingElicitation(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if name, ok := accepted(req.Params.InputResponses, "user_name", "name"); ok {
		return textResult("Hello, " + name + "!"), nil
	}
	if token := req.Params.GetProgressToken(); token != nil {
		_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: token, Progress: 1, Total: 2, Message: "asking for a name"})
	}
	return inputRequired(mcp.InputRequestMap{"user_name": askName("What is your name?")}, ""), nil
}

func (b *server) loggingTool(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	_ = req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Logger: "test_logging_tool", Data: "a log message"})
	return textResult("Logged one message at level info."), nil
}

func (b *server) triggerToolChange(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	b.dynMu.Lock()
	defer b.dynMu.Unlock()
	if b.dynTool {
		b.mcp.RemoveTools(dynamicTool)
	} else {
		b.mcp.AddTool(&mcp.Tool{Name: dynamicTool, Description: "Added by test_trigger_tool_change.", InputSchema: noArgs()}, b.simpleText)
	}
	b.dynTool = !b.dynTool
	return textResult(fmt.Sprintf("%s present: %v", dynamicTool, b.dynTool)), nil
}

func (b *server) triggerPromptChange(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	b.dynMu.Lock()
	defer b.dynMu.Unlock()
	if b.dynPrompt {
		b.mcp.RemovePrompts(dynamicPrompt)
	} else {
		b.mcp.AddPrompt(&mcp.Prompt{Name: dynamicPrompt, Description: "Added by test_trigger_prompt_change."}, b.simplePrompt)
	}
	b.dynPrompt = !b.dynPrompt
	return textResult(fmt.Sprintf("%s present: %v", dynamicPrompt, b.dynPrompt)), nil
}

func (b *server) mrtrElicitation(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if name, ok := accepted(req.Params.InputResponses, "user_name", "name"); ok {
		return textResult("Hello, " + name + "!"), nil
	}
	// Missing or unusable: ask again rather than fail.
	return inputRequired(mcp.InputRequestMap{"user_name": askName("What is your name?")}, ""), nil
}

func (b *server) mrtrSampling(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if text, ok := sampled(req.Params.InputResponses, "capital_question"); ok {
		return textResult("The model answered: " + text), nil
	}
	return inputRequired(mcp.InputRequestMap{"capital_question": askModel("What is the capital of France?", 100)}, ""), nil
}

func (b *server) mrtrRoots(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	if roots, ok := req.Params.InputResponses["client_roots"].(*mcp.ListRootsResult); ok {
		return textResult(describeRoots(roots)), nil
	}
	return inputRequired(mcp.InputRequestMap{"client_roots": &mcp.ListRootsParams{}}, ""), nil
}

func (b *server) mrtrRequestState(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	const step = "request_state"
	if _, answered := req.Params.InputResponses["confirm"].(*mcp.ElicitResult); answered {
		if err := b.verifyState(req.Params.RequestState, step); err != nil {
			return nil, err
		}
		return textResult("state-ok: the requestState came back intact."), nil
	}
	return inputRequired(mcp.InputRequestMap{"confirm": askConfirm()}, b.signState(step)), nil
}

func (b *server) mrtrMultiple(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	const step = "multiple"
	in := req.Params.InputResponses
	name, okName := accepted(in, "user_name", "name")
	greeting, okGreeting := sampled(in, "greeting")
	roots, okRoots := in["client_roots"].(*mcp.ListRootsResult)
	if okName && okGreeting && okRoots {
		if err := b.verifyState(req.Params.RequestState, step); err != nil {
			return nil, err
		}
		return textResult(fmt.Sprintf("name %s; greeting %q; %s", name, greeting, describeRoots(roots))), nil
	}
	return inputRequired(mcp.InputRequestMap{
		"user_name":    askName("What is your name?"),
		"greeting":     askModel("Generate a greeting", 50),
		"client_roots": &mcp.ListRootsParams{},
	}, b.signState(step)), nil
}

func (b *server) mrtrMultiRound(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	in := req.Params.InputResponses
	if color, ok := accepted(in, "step2", "color"); ok {
		name, err := b.verifyStateValue(req.Params.RequestState, "multi_round/2")
		if err != nil {
			return nil, err
		}
		return textResult(fmt.Sprintf("%s likes %s.", name, color)), nil
	}
	if name, ok := accepted(in, "step1", "name"); ok {
		if err := b.verifyState(req.Params.RequestState, "multi_round/1"); err != nil {
			return nil, err
		}
		return inputRequired(mcp.InputRequestMap{"step2": askField("Step 2: What is your favorite color?", "color")},
			b.signState("multi_round/2:"+name)), nil
	}
	return inputRequired(mcp.InputRequestMap{"step1": askName("Step 1: What is your name?")}, b.signState("multi_round/1")), nil
}

func (b *server) mrtrTampered(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	const step = "tampered_state"
	if len(req.Params.InputResponses) > 0 || req.Params.RequestState != "" {
		if err := b.verifyState(req.Params.RequestState, step); err != nil {
			return nil, err
		}
		return textResult("The requestState verified."), nil
	}
	return inputRequired(mcp.InputRequestMap{"confirm": askConfirm()}, b.signState(step)), nil
}

func (b *server) mrtrCapabilities(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
	in := req.Params.InputResponses
	if len(in) > 0 {
		return textResult(fmt.Sprintf("Got %d input responses.", len(in))), nil
	}
	asks := mcp.InputRequestMap{}
	if caps := req.ClientCapabilities(); caps != nil {
		if caps.Sampling != nil {
			asks["model_answer"] = askModel("Say hello.", 20)
		}
		if caps.Elicitation != nil {
			asks["user_name"] = askName("What is your name?")
		}
	}
	if len(asks) == 0 {
		return textResult("The client declared neither sampling nor elicitation: nothing to ask."), nil
	}
	return inputRequired(asks, ""), nil
}

func (b *server) mrtrPrompt(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	if ctxText, ok := accepted(req.Params.InputResponses, "user_context", "context"); ok {
		return &mcp.GetPromptResult{
			Description: "A prompt built from the context the user gave.",
			Messages:    []*mcp.PromptMessage{userMessage(&mcp.TextContent{Text: "Answer with this context in mind: " + ctxText})},
		}, nil
	}
	return &mcp.GetPromptResult{InputRequests: mcp.InputRequestMap{
		"user_context": askField("What context should the prompt use?", "context"),
	}}, nil
}

// inputRequired is a tool result that asks the client for input; go-sdk
// marks it resultType input_required for 2026-07-28 clients.
func inputRequired(asks mcp.InputRequestMap, state string) *mcp.CallToolResult {
	return &mcp.CallToolResult{InputRequests: asks, RequestState: state}
}

func askField(message, field string) *mcp.ElicitParams {
	return &mcp.ElicitParams{
		Message: message,
		RequestedSchema: json.RawMessage(`{"type":"object","properties":{"` + field +
			`":{"type":"string"}},"required":["` + field + `"]}`),
	}
}

func askName(message string) *mcp.ElicitParams { return askField(message, "name") }

func askConfirm() *mcp.ElicitParams {
	return &mcp.ElicitParams{
		Message:         "Please confirm",
		RequestedSchema: json.RawMessage(`{"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"]}`),
	}
}

func askModel(question string, maxTokens int64) *mcp.CreateMessageParams {
	return &mcp.CreateMessageParams{
		Messages:  []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: question}}},
		MaxTokens: maxTokens,
	}
}

// accepted returns the string field of an accepted elicitation response.
func accepted(in mcp.InputResponseMap, key, field string) (string, bool) {
	res, ok := in[key].(*mcp.ElicitResult)
	if !ok || res.Action != "accept" {
		return "", false
	}
	v, ok := res.Content[field].(string)
	return v, ok
}

// sampled returns the text of a sampling response.
func sampled(in mcp.InputResponseMap, key string) (string, bool) {
	switch res := in[key].(type) {
	case *mcp.CreateMessageWithToolsResult:
		for _, c := range res.Content {
			if t, ok := c.(*mcp.TextContent); ok {
				return t.Text, true
			}
		}
		return "", true
	case *mcp.CreateMessageResult:
		if t, ok := res.Content.(*mcp.TextContent); ok {
			return t.Text, true
		}
		return "", true
	}
	return "", false
}

func describeRoots(res *mcp.ListRootsResult) string {
	uris := make([]string, 0, len(res.Roots))
	for _, r := range res.Roots {
		if r != nil {
			uris = append(uris, r.URI)
		}
	}
	return fmt.Sprintf("%d roots: %s", len(uris), strings.Join(uris, ", "))
}

// signState returns value with an HMAC of it under the server's key: a
// requestState comes back from the client and must not be trusted unsigned.
func (b *server) signState(value string) string {
	mac := hmac.New(sha256.New, b.stateKey)
	mac.Write([]byte(value))
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(value)) + "." + enc.EncodeToString(mac.Sum(nil))
}

// verifyStateValue checks a signed state whose value starts with prefix and
// returns the rest of it (after a colon, if any).
func (b *server) verifyStateValue(state, prefix string) (string, error) {
	bad := &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "requestState failed its integrity check"}
	enc := base64.RawURLEncoding
	v64, m64, ok := strings.Cut(state, ".")
	if !ok {
		return "", bad
	}
	value, err1 := enc.DecodeString(v64)
	sum, err2 := enc.DecodeString(m64)
	if err1 != nil || err2 != nil {
		return "", bad
	}
	mac := hmac.New(sha256.New, b.stateKey)
	mac.Write(value)
	if !hmac.Equal(sum, mac.Sum(nil)) {
		return "", bad
	}
	rest, ok := strings.CutPrefix(string(value), prefix)
	if !ok || (rest != "" && rest[0] != ':') {
		return "", bad
	}
	return strings.TrimPrefix(rest, ":"), nil
}

func (b *server) verifyState(state, want string) error {
	rest, err := b.verifyStateValue(state, want)
	if err == nil && rest != "" {
		err = &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "requestState belongs to another step"}
	}
	return err
}
