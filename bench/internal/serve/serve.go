// Package serve runs a benchmark server's HTTP side the same way for every
// peer: listen on the given address, announce the URL on stderr (the load
// generator waits for the port), serve until SIGTERM or SIGINT, then shut
// down within two seconds.
package serve

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// Listen listens on addr or exits.
func Listen(addr string) net.Listener {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	return ln
}

// Run serves h at /mcp on ln, with banner (what serves it) on stderr, and
// returns once a signal has stopped it.
func Run(ln net.Listener, h http.Handler, banner string) {
	mux, ok := h.(*http.ServeMux)
	if !ok {
		mux = http.NewServeMux()
		mux.Handle("/mcp", h)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Fprintf(os.Stderr, "%s on http://%s/mcp\n", banner, ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
}
