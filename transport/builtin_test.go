package transport_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/backend/builtin"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/transport"
)

// The built-in server through the endpoint, with go-sdk's client: the
// resources, prompts, completions, subscriptions and the server-to-client
// round trips that a user of mooring relies on.
func TestBuiltin_ThroughTheEndpoint(t *testing.T) {
	st := memstore.New(nil)
	mgr := session.New(st, backend.NewInProcess(builtin.New()), nil)
	srv := httptest.NewServer(transport.New(mgr, nil))
	defer func() { srv.Close(); mgr.Close(); st.Close() }()

	updated := make(chan string, 4)
	c := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, &mcp.ClientOptions{
		CreateMessageHandler: func(ctx context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: "from the client's model"}}, nil
		},
		ElicitationHandler: func(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"username": "ada", "email": "ada@example.com"}}, nil
		},
		ResourceUpdatedHandler: func(ctx context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			updated <- req.Params.URI
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: srv.URL}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()

	rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "test://static-text"})
	if err != nil || len(rr.Contents) != 1 || rr.Contents[0].Text == "" {
		t.Fatalf("resources/read: %v %+v", err, rr)
	}
	tr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "test://template/42/data"})
	if err != nil || len(tr.Contents) != 1 || !strings.Contains(tr.Contents[0].Text+tr.Contents[0].URI, "42") {
		t.Fatalf("template read: %v %+v", err, tr)
	}
	pr, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "test_prompt_with_arguments", Arguments: map[string]string{"arg1": "alpha", "arg2": "beta"}})
	if err != nil || len(pr.Messages) == 0 {
		t.Fatalf("prompts/get: %v %+v", err, pr)
	}
	if txt, ok := pr.Messages[0].Content.(*mcp.TextContent); !ok || !strings.Contains(txt.Text, "alpha") || !strings.Contains(txt.Text, "beta") {
		t.Errorf("prompt does not carry its arguments: %+v", pr.Messages[0].Content)
	}
	if _, err := cs.Complete(ctx, &mcp.CompleteParams{Ref: &mcp.CompleteReference{Type: "ref/prompt", Name: "test_prompt_with_arguments"}, Argument: mcp.CompleteParamsArgument{Name: "arg1", Value: "a"}}); err != nil {
		t.Fatalf("completion/complete: %v", err)
	}

	for _, tc := range []struct {
		tool string
		args map[string]any
		want string
	}{
		{"test_sampling", map[string]any{"prompt": "p"}, "from the client's model"},
		{"test_elicitation", map[string]any{"message": "m"}, "ada"},
	} {
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tc.tool, Arguments: tc.args})
		if err != nil || res.IsError || len(res.Content) == 0 {
			if res != nil && len(res.Content) > 0 {
				t.Logf("content: %+v", res.Content[0])
			}
			t.Fatalf("%s: %v %+v", tc.tool, err, res)
		}
		if txt := res.Content[0].(*mcp.TextContent).Text; !strings.Contains(txt, tc.want) {
			t.Errorf("%s: %q does not carry the client's answer %q", tc.tool, txt, tc.want)
		}
	}

	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "test://watched-resource"}); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	select {
	case uri := <-updated:
		if uri != "test://watched-resource" {
			t.Errorf("update for %q", uri)
		}
	case <-ctx.Done():
		t.Fatal("no notifications/resources/updated for the subscribed resource")
	}
}
