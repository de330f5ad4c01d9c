package builtin

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The task fixtures are plain tools: called directly (the gateway's plain
// call) they answer as the tasks scenarios describe.
func TestTaskFixtures_PlainCalls(t *testing.T) {
	// multi_input asks twice in parallel: the handler runs concurrently.
	var mu sync.Mutex
	var asked []string
	cs := connect(t, &mcp.ClientOptions{
		ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			mu.Lock()
			asked = append(asked, req.Params.Message)
			mu.Unlock()
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": "Alice", "confirm": true}}, nil
		},
	})
	for _, tc := range []struct {
		tool    string
		args    map[string]any
		want    string
		isError bool
	}{
		{"greet", map[string]any{"name": "World"}, "Hello, World!", false},
		{"slow_compute", map[string]any{"seconds": 0, "label": "x"}, `Computed "x" in 0s.`, false},
		{"failing_job", nil, "failed", true},
		{"confirm_delete", map[string]any{"filename": "a.txt"}, `Deleted "a.txt".`, false},
		{"multi_input", nil, "name: accept (Alice); confirmation: accept (true)", false},
		{"test_tool_with_task", nil, "Hello, Alice!", false},
	} {
		res := callTool(t, cs, tc.tool, tc.args)
		if got := resultText(res); !strings.Contains(got, tc.want) || res.IsError != tc.isError {
			t.Errorf("%s: %q (isError %v), want %q (isError %v)", tc.tool, got, res.IsError, tc.want, tc.isError)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) != 4 { // confirm_delete 1, multi_input 2, test_tool_with_task 1
		t.Errorf("elicitations = %q, want 4", asked)
	}
	_, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "protocol_error_job"})
	if err == nil || !strings.Contains(err.Error(), "internal failure") {
		t.Errorf("protocol_error_job: err = %v, want the protocol error", err)
	}
}

func TestTaskFixtures_SupportListed(t *testing.T) {
	cs := connect(t, nil)
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, tool := range res.Tools {
		listed[tool.Name] = true
	}
	for name, support := range TaskSupport() {
		if !listed[name] || (support != "optional" && support != "required") {
			t.Errorf("TaskSupport %s = %q: listed %v", name, support, listed[name])
		}
	}
}
