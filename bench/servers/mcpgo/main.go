// Command mcpgo serves the benchmark's echo tool with mark3labs/mcp-go's
// streamable HTTP server, configured as its documentation shows.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/mooring-dev/mooring/bench/internal/serve"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	stateful := flag.Bool("stateful", false, "keep sessions in process (WithStateful); the default is mcp-go's default session id manager")
	flag.Parse()

	s := server.NewMCPServer("bench-mcpgo", "1.0.0", server.WithToolCapabilities(false))
	s.AddTool(mcp.NewTool("echo",
		mcp.WithDescription("returns its text"),
		mcp.WithString("text", mcp.Required(), mcp.Description("the text to send back")),
	), func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		text, err := req.RequireString("text")
		if err != nil {
			return mcp.NewToolResultError(err.Error()), nil
		}
		return mcp.NewToolResultText(text), nil
	})
	opts := []server.StreamableHTTPOption{server.WithStreamableHTTPLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}
	if *stateful {
		opts = append(opts, server.WithStateful(true))
	}
	h := server.NewStreamableHTTPServer(s, opts...)
	serve.Run(serve.Listen(*addr), h, fmt.Sprintf("mcp-go bench server stateful=%v", *stateful))
}
