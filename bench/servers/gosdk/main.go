// Command gosdk serves the benchmark's echo tool with the official go-sdk's
// StreamableHTTPHandler, stateful, in one of three modes: sse (the default
// handler), json (JSONResponse) or store (with its MemoryEventStore, so
// that streams are resumable).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/bench/internal/echo"
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
	mux := http.NewServeMux()
	mux.Handle("/mcp", h)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Fprintf(os.Stderr, "go-sdk bench server on http://%s/mcp mode=%s\n", ln.Addr(), *mode)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
}
