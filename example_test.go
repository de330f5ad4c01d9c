package mooring_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring"
	"github.com/mooring-dev/mooring/store/boltstore"
)

// A Go program mounts its own mcp.Server behind mooring, on the embedded
// store, and a go-sdk client talks to it.
func Example() {
	srv := mcp.NewServer(&mcp.Implementation{Name: "greeter", Version: "1"}, nil)
	type args struct {
		Name string `json:"name"`
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "greet", Description: "says hello"}, func(ctx context.Context, req *mcp.CallToolRequest, a args) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hello, " + a.Name}}}, nil, nil
	})

	dir, _ := os.MkdirTemp("", "mooring-example")
	defer os.RemoveAll(dir)
	st, err := boltstore.Open(filepath.Join(dir, "mooring.db"), nil)
	if err != nil {
		panic(err)
	}
	defer st.Close()
	h := mooring.New(srv, st, nil)
	defer h.Close()
	web := httptest.NewServer(h)
	defer web.Close()

	ctx := context.Background()
	client := mcp.NewClient(&mcp.Implementation{Name: "example", Version: "1"}, nil)
	// Durable sessions belong to the sessionful revisions: a client that
	// names no version is served statelessly (2026-07-28), with no session.
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: web.URL}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		panic(err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "greet", Arguments: map[string]any{"name": "mooring"}})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Content[0].(*mcp.TextContent).Text)
	// The session is in the store, where a restarted process finds it.
	ids, _, err := st.ListSessions(ctx, "", 10)
	fmt.Println("stored:", err == nil && len(ids) == 1 && ids[0] == cs.ID())
	// Output:
	// hello, mooring
	// stored: true
}
