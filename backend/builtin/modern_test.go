package builtin

import (
	"context"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The multi round-trip fixtures work for a sessionful client too: go-sdk
// sends their input requests on the session and calls the tool again.
func TestInputRequired_Sessionful(t *testing.T) {
	c := connect(t, &mcp.ClientOptions{
		ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "Ada", "ok": true}}, nil
		},
		CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: "Paris"}}, nil
		},
	}, &mcp.Root{URI: "file:///work"})
	for tool, want := range map[string]string{
		"test_input_required_result_elicitation":     "Hello, Ada!",
		"test_input_required_result_sampling":        "Paris",
		"test_input_required_result_list_roots":      "file:///work",
		"test_input_required_result_request_state":   "state-ok",
		"test_input_required_result_multiple_inputs": "name Ada",
	} {
		if got := resultText(callTool(t, c, tool, map[string]any{})); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want it to contain %q", tool, got, want)
		}
	}
}

func TestRequestState_Integrity(t *testing.T) {
	b := &server{stateKey: []byte("0123456789abcdef0123456789abcdef")}
	st := b.signState("multi_round/2:Ada")
	if name, err := b.verifyStateValue(st, "multi_round/2"); err != nil || name != "Ada" {
		t.Fatalf("verify: %q, %v", name, err)
	}
	for _, bad := range []string{st + "-TAMPERED", "x" + st, "", "no-dot", b.signState("request_state")} {
		if _, err := b.verifyStateValue(bad, "multi_round/2"); err == nil {
			t.Errorf("state %q verified", bad)
		}
	}
	if err := b.verifyState(b.signState("multi_round/2:Ada"), "multi_round/2"); err == nil {
		t.Error("a state with a value verified as the bare step")
	}
}
