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

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/backend/builtin"
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
	case "health":
		err = healthCmd(ctx, args, stdout, stderr)
	case "sessions":
		err = sessionsCmd(ctx, args, stdout, stderr)
	case "tasks":
		err = tasksCmd(ctx, args, stdout, stderr)
	case "init":
		err = initCmd(ctx, args, stdout, stderr)
	case "check":
		err = checkCmd(ctx, args, stdout, stderr)
	case "compact":
		err = compactCmd(ctx, args, stdout, stderr)
	case "connect":
		err = connectCmd(ctx, args, os.Stdin, stdout, stderr)
	case "stdio-builtin":
		// Not in the usage: the built-in server on stdin/stdout, so that
		// tests and demos have a stdio program at hand
		// (mooring serve --command "mooring stdio-builtin").
		err = builtin.New().Run(ctx, &mcp.StdioTransport{})
	case "version":
		fmt.Fprintln(stdout, "mooring", version)
	case "help":
		usage(stdout)
	default:
		fmt.Fprintf(stderr, "mooring: unknown command %q\n\n", cmd)
		usage(stderr)
		return 2
	}
	if errors.Is(err, errHelp) {
		return 0
	}
	if errors.Is(err, errUsage) {
		return 2
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.msg != "" {
			fmt.Fprintln(stderr, "mooring:", ee.msg)
		}
		return ee.code
	}
	if err != nil {
		fmt.Fprintln(stderr, "mooring:", err)
		return 1
	}
	return 0
}

var (
	errUsage = errors.New("usage")
	errHelp  = errors.New("help shown")
)

func usage(w io.Writer) {
	fmt.Fprint(w, `mooring: an MCP Streamable HTTP server whose sessions survive restarts.

Usage:
  mooring [serve] [flags]   serve MCP (the default command)
  mooring health [--url U]  print mooring's health; exit 0 healthy, 1 degraded, 2 unhealthy
  mooring sessions list | show ID | end ID
                            look at and end sessions (store flags, or --url of a running mooring)
  mooring tasks list | show ID | cancel ID
                            look at and cancel durable tasks (store flags, or --url)
  mooring init [flags]      check the store, write a config file, print the client snippet
  mooring check [--data-dir D]
                            verify a bolt store offline; exit 1 if it is damaged
  mooring compact [--data-dir D]
                            give a bolt store's free pages back to the file system (offline)
  mooring connect URL       an MCP server on stdio that relays to the Streamable HTTP endpoint
                            URL and survives drops, restarts and lost sessions (--check: test it)
  mooring version           print the version
  mooring help              this text

Run "mooring COMMAND --help" for its flags; each has an environment twin,
and serve reads a JSON config file too (--config, keys are flag names).
`)
}
