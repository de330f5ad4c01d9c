// Command gosdk serves the benchmark's echo tool with the official go-sdk's
// StreamableHTTPHandler, stateful, in one of three modes: sse (the default
// handler), json (JSONResponse) or store (with its MemoryEventStore, so
// that streams are resumable).
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/bench/internal/echo"
	"github.com/mooring-dev/mooring/bench/internal/serve"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	mode := flag.String("mode", "sse", "sse, json (JSONResponse) or store (MemoryEventStore)")
	flag.Parse()

	opts := &mcp.StreamableHTTPOptions{}
	switch *mode {
	case "sse":
	case "json":
		opts.JSONResponse = true
	case "store":
		opts.EventStore = mcp.NewMemoryEventStore(nil)
	default:
		log.Fatalf("--mode %q: want sse, json or store", *mode)
	}
	server := echo.NewServer()
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, opts)
	serve.Run(serve.Listen(*addr), h, fmt.Sprintf("go-sdk bench server mode=%s", *mode))
}
