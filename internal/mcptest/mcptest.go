// Package mcptest is a go-sdk client for tests that put a server behind
// mooring: it answers sampling and elicitation, collects progress and
// resource updates, and checks the round trips that every backend must
// carry.
package mcptest

import (
	"context"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Client is a connected go-sdk client session and what its handlers saw.
type Client struct {
	*mcp.ClientSession
	Progress chan float64 // progress values, in arrival order
	Updated  chan string  // URIs of resources/updated notifications
}

// SamplingAnswer is what the client's model says to every sampling request.
const SamplingAnswer = "from the client's model"

// Dial connects to the MCP endpoint at url. version pins the protocol
// revision; "" lets go-sdk negotiate. The session closes with the test.
func Dial(t *testing.T, ctx context.Context, url, version string) *Client {
	t.Helper()
	c := &Client{Progress: make(chan float64, 16), Updated: make(chan string, 4)}
	cl := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, &mcp.ClientOptions{
		CreateMessageHandler: func(context.Context, *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: SamplingAnswer}}, nil
		},
		ElicitationHandler: func(context.Context, *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"username": "ada", "email": "ada@example.com"}}, nil
		},
		ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) { c.Updated <- req.Params.URI },
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			c.Progress <- req.Params.Progress
		},
	})
	var opts *mcp.ClientSessionOptions
	if version != "" {
		opts = &mcp.ClientSessionOptions{ProtocolVersion: version}
	}
	cs, err := cl.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	c.ClientSession = cs
	return c
}

// Text calls a tool and returns the text of its first content; a tool error
// fails the test.
func Text(t *testing.T, ctx context.Context, cs *mcp.ClientSession, p *mcp.CallToolParams) string {
	t.Helper()
	res, err := cs.CallTool(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError || len(res.Content) == 0 {
		t.Fatalf("tool error: %+v", res)
	}
	return res.Content[0].(*mcp.TextContent).Text
}

// RoundTrips checks, against the built-in server's conformance tools, that
// progress notifications, sampling and elicitation requests and resource
// updates reach the client through mooring.
func RoundTrips(t *testing.T, ctx context.Context, c *Client) {
	t.Helper()
	p := &mcp.CallToolParams{Name: "test_tool_with_progress", Arguments: map[string]any{}}
	p.SetProgressToken("tok")
	Text(t, ctx, c.ClientSession, p)
	for range 3 {
		select {
		case <-c.Progress:
		case <-ctx.Done():
			t.Fatal("fewer than 3 progress notifications")
		}
	}
	if got := Text(t, ctx, c.ClientSession, &mcp.CallToolParams{Name: "test_sampling", Arguments: map[string]any{"prompt": "p"}}); !strings.Contains(got, SamplingAnswer) {
		t.Errorf("sampling: %q", got)
	}
	if got := Text(t, ctx, c.ClientSession, &mcp.CallToolParams{Name: "test_elicitation", Arguments: map[string]any{"message": "m"}}); !strings.Contains(got, "ada") {
		t.Errorf("elicitation: %q", got)
	}
	if err := c.Subscribe(ctx, &mcp.SubscribeParams{URI: "test://watched-resource"}); err != nil {
		t.Fatal(err)
	}
	select {
	case uri := <-c.Updated:
		if uri != "test://watched-resource" {
			t.Errorf("update for %q", uri)
		}
	case <-ctx.Done():
		t.Fatal("no resource update")
	}
}
