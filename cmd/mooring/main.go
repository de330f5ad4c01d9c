// Command mooring serves MCP over Streamable HTTP with sessions that survive
// restarts. `mooring` alone is `mooring serve`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set by the build (-ldflags "-X main.version=...").
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run executes one command line and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := "serve"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "serve":
		err = serve(ctx, args, stderr)
	case "version":
		fmt.Fprintln(stdout, "mooring", version)
	case "help":
		usage(stdout)
	default:
		fmt.Fprintf(stderr, "mooring: unknown command %q\n\n", cmd)
		usage(stderr)
		return 2
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, "mooring:", err)
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

func usage(w io.Writer) {
	fmt.Fprint(w, `mooring: an MCP Streamable HTTP server whose sessions survive restarts.

Usage:
  mooring [serve] [flags]   serve MCP (the default command)
  mooring version           print the version
  mooring help              this text

Run "mooring serve --help" for the flags; each has an environment twin.
`)
}
