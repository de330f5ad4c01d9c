package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mooring-dev/mooring/auth"
	"github.com/mooring-dev/mooring/health"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store/boltstore"
	"github.com/mooring-dev/mooring/store/redisstore"
)

// exitError carries a specific exit status out of a command.
type exitError struct {
	code int
	msg  string
}

func (e *exitError) Error() string { return e.msg }

// health: mooring health [--url URL]
func healthCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("mooring health", stderr)
	var base string
	fs.str(&base, "url", "MOORING_URL", "http://127.0.0.1:8080", "mooring's address (its MCP endpoint URL works too)")
	if _, err := fs.parse(args); err != nil {
		return err
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return &exitError{2, fmt.Sprintf("--url %q: not an http URL", base)}
	}
	u.Path, u.RawQuery = "/readyz", ""
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stdout, "status: %s\n  because: mooring at %s does not answer: %v\n", health.Unhealthy, base, err)
		return &exitError{2, ""}
	}
	defer resp.Body.Close()
	var rep health.Report
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil || rep.Status == "" {
		fmt.Fprintf(stdout, "status: %s\n  because: %s answered %s without a health report\n", health.Unhealthy, u, resp.Status)
		return &exitError{2, ""}
	}
	fmt.Fprint(stdout, rep.Text())
	switch rep.Status {
	case health.Healthy:
		return nil
	case health.Degraded:
		return &exitError{1, ""}
	}
	return &exitError{2, ""}
}

// sessions: mooring sessions list|show ID|end ID [--url URL | store flags]
func sessionsCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := new(config)
	fs := newFlagSet("mooring sessions", stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: mooring sessions list [--cursor C] [--limit N] | show ID | end ID\n"+
			"Reads the configured store directly, or asks a running mooring with --url.\n\n")
		fs.PrintDefaults()
	}
	var o operatorFlags
	o.register(fs, c, "sessions")
	pos, err := fs.parse(args)
	if err != nil {
		return err
	}
	verb, id, err := verbAndID(fs, pos, "show", "end")
	if err != nil {
		return err
	}
	if o.base != "" {
		return sessionsRemote(ctx, o, verb, id, stdout)
	}
	if err := c.validateStore(); err != nil {
		return err
	}
	if err := c.validateBackends(); err != nil {
		return err
	}
	opened, _, err := openForCLI(ctx, c, stderr)
	if err != nil {
		return err
	}
	defer opened.Close()
	switch verb {
	case "list":
		ids, next, err := opened.ListSessions(ctx, o.cursor, o.limit)
		if err != nil {
			return err
		}
		printPage(stdout, sessionPage{Sessions: ids, Next: next, Principals: session.Principals(ctx, opened, ids)})
	case "show":
		info, err := session.Inspect(ctx, opened, id)
		if err != nil {
			return err
		}
		return printJSON(stdout, info)
	case "end":
		if _, err := opened.GetSession(ctx, id); err != nil {
			return fmt.Errorf("session %s: %w", id, err)
		}
		if err := opened.DeleteSession(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "ended %s\n", id)
	}
	return nil
}

// operatorFlags are the flags that the operator's commands (sessions,
// tasks) share besides the store flags.
type operatorFlags struct {
	base, cursor string
	limit        int
}

// register adds the store flags and o's flags to fs; what names the listed
// things in the usage text.
func (o *operatorFlags) register(fs *flagSet, c *config, what string) {
	c.storeFlags(fs)
	fs.str(&o.base, "url", "MOORING_URL", "", "ask the mooring at this address (needed for a bolt store that a running mooring holds)")
	fs.str(&o.cursor, "cursor", "MOORING_CURSOR", "", "list: start after this cursor (printed by the previous page)")
	fs.integer(&o.limit, "limit", "MOORING_LIMIT", 100, "list: "+what+" per page")
}

// verbAndID splits the arguments of an operator's command (sessions,
// tasks): "list", or one of verbs and the ID it acts on.
func verbAndID(fs *flagSet, pos []string, verbs ...string) (verb, id string, err error) {
	switch {
	case len(pos) == 1 && pos[0] == "list":
		return "list", "", nil
	case len(pos) == 2 && slices.Contains(verbs, pos[0]):
		return pos[0], pos[1], nil
	}
	fs.Usage()
	return "", "", errUsage
}

// openForCLI opens the configured store for an operator's command, with a
// logger that writes warnings and errors to stderr. A bolt store must
// exist already: opening would create an empty one, and a mistyped
// --data-dir must not look like a store with nothing in it. For the same
// reason it never falls back to memory.
func openForCLI(ctx context.Context, c *config, stderr io.Writer) (*openedStore, *slog.Logger, error) {
	if c.Store == "bolt" {
		if _, err := os.Stat(filepath.Join(c.DataDir, "mooring.db")); err != nil {
			return nil, nil, fmt.Errorf("no bolt store in --data-dir %s: %w", c.DataDir, err)
		}
	}
	quiet := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c.StoreFallback = "fail"
	opened, err := openStore(ctx, c, quiet, nil)
	if errors.Is(err, boltstore.ErrLocked) {
		// The usual case: `mooring sessions list` next to a running mooring.
		return nil, nil, fmt.Errorf("%w\na running mooring holds it: ask that one with --url (e.g. --url http://127.0.0.1:8080)", err)
	}
	if err != nil {
		return nil, nil, err
	}
	return opened, quiet, nil
}

func printPage(w io.Writer, p sessionPage) {
	for _, id := range p.Sessions {
		if pr := p.Principals[id]; pr != "" {
			// The principal is issuer and subject: shown subject first.
			iss, sub := auth.SplitPrincipal(pr)
			fmt.Fprintf(w, "%s  %s (%s)\n", id, sub, iss)
			continue
		}
		fmt.Fprintln(w, id)
	}
	if p.Next != "" {
		fmt.Fprintf(w, "more: --cursor %s\n", p.Next)
	}
}

// adminCall sends an operator command's verb to the admin API at base:
// list is GET path with query, show GET path/ID, any other verb (end,
// cancel) DELETE path/ID. It returns the response body; a status of 300 or
// more is an error that carries the body.
func adminCall(ctx context.Context, base, path, verb, id string, query url.Values) ([]byte, error) {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--url %q: not an http URL", base)
	}
	u.Path, u.RawQuery = path, ""
	method := http.MethodGet
	switch verb {
	case "list":
		u.RawQuery = query.Encode()
	case "show":
		u.Path += "/" + url.PathEscape(id)
	default:
		u.Path += "/" + url.PathEscape(id)
		method = http.MethodDelete
	}
	req, _ := http.NewRequestWithContext(ctx, method, u.String(), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	return body, nil
}

// listQuery is the query of a list request to the admin API.
func (o operatorFlags) listQuery() url.Values {
	return url.Values{"cursor": {o.cursor}, "limit": {strconv.Itoa(o.limit)}}
}

func sessionsRemote(ctx context.Context, o operatorFlags, verb, id string, stdout io.Writer) error {
	body, err := adminCall(ctx, o.base, "/admin/sessions", verb, id, o.listQuery())
	if err != nil {
		return err
	}
	switch verb {
	case "list":
		var p sessionPage
		if err := json.Unmarshal(body, &p); err != nil {
			return fmt.Errorf("reading the session list: %w", err)
		}
		printPage(stdout, p)
	case "show":
		_, err = stdout.Write(body)
		return err
	case "end":
		fmt.Fprintf(stdout, "ended %s\n", id)
	}
	return nil
}

// init: check the store, write a config file, print the client snippet.
func initCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c := new(config)
	fs := newFlagSet("mooring init", stderr)
	c.storeFlags(fs)
	fs.str(&c.Addr, "addr", "MOORING_ADDR", "127.0.0.1:8080", "address mooring will listen on")
	fs.str(&c.Path, "path", "MOORING_PATH", "/mcp", "URL path of the MCP endpoint")
	var out string
	var force bool
	fs.str(&c.Command, "command", "MOORING_COMMAND", "", "the stdio MCP server program (and its arguments, split on spaces) to put behind mooring; default the built-in server")
	fs.str(&c.Upstream, "upstream", "MOORING_UPSTREAM", "", "the upstream Streamable HTTP MCP server (endpoint URL) to put behind mooring")
	fs.str(&out, "out", "MOORING_INIT_OUT", "mooring.json", "config file to write")
	fs.boolean(&force, "force", "MOORING_INIT_FORCE", false, "overwrite an existing config file")
	if _, err := fs.parse(args); err != nil {
		return err
	}
	if err := c.validateStore(); err != nil {
		return err
	}
	if err := c.validateBackends(); err != nil {
		return err
	}
	if err := checkStore(ctx, c, stdout); err != nil {
		return err
	}
	if _, err := os.Stat(out); err == nil && !force {
		return fmt.Errorf("%s exists; use --force to overwrite it", out)
	}
	file := map[string]any{"addr": c.Addr, "path": c.Path, "store": c.Store, "session-ttl": c.SessionTTL,
		"max-events": c.MaxEvents, "max-event-bytes": c.MaxBytes, "compression": c.Compression}
	switch c.Store {
	case "bolt":
		file["data-dir"] = c.DataDir
	case "redis":
		file["redis-url"] = c.RedisURL
		file["store-fallback"] = c.StoreFallback
	}
	// The server behind mooring, in the mcpServers shape that serve reads
	// (and that more servers can be added to).
	switch f := strings.Fields(c.Command); {
	case len(f) > 0:
		file[serversKey] = map[string]serverConfig{"server": {Command: f[0], Args: f[1:]}}
	case c.Upstream != "":
		file[serversKey] = map[string]serverConfig{"server": {URL: c.Upstream}}
	}
	data, _ := json.MarshalIndent(file, "", "  ")
	if err := os.WriteFile(out, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	fmt.Fprintf(stdout, "wrote %s; start mooring with:\n  mooring serve --config %s\n\n", out, out)
	snippet, _ := json.MarshalIndent(map[string]any{"mcpServers": map[string]any{
		"mooring": map[string]string{"type": "http", "url": "http://" + c.Addr + c.Path},
	}}, "", "  ")
	fmt.Fprintf(stdout, "Add this to your MCP client's configuration:\n%s\n", snippet)
	// Clients that speak stdio only, or give up at the first drop, reach
	// it through mooring connect (docs/connect.md).
	stdio, _ := json.MarshalIndent(map[string]any{"mcpServers": map[string]any{
		"mooring": struct {
			Command string   `json:"command"`
			Args    []string `json:"args"`
		}{"mooring", []string{"connect", "http://" + c.Addr + c.Path}},
	}}, "", "  ")
	fmt.Fprintf(stdout, "\nor, for a client that speaks stdio (it then survives drops and restarts too):\n%s\n", stdio)
	return nil
}

// checkStore makes sure that the configured store can be used.
func checkStore(ctx context.Context, c *config, stdout io.Writer) error {
	switch c.Store {
	case "bolt":
		if err := os.MkdirAll(c.DataDir, 0o755); err != nil {
			return fmt.Errorf("data directory %s: %w", c.DataDir, err)
		}
		probe, err := os.CreateTemp(c.DataDir, ".mooring-init-*")
		if err != nil {
			return fmt.Errorf("data directory %s is not writable: %w", c.DataDir, err)
		}
		probe.Close()
		os.Remove(probe.Name())
		abs, _ := filepath.Abs(c.DataDir)
		fmt.Fprintf(stdout, "ok: data directory %s is writable\n", abs)
	case "redis":
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		r, err := redisstore.Open(ctx, &redisstore.Options{URL: c.RedisURL})
		if err != nil {
			return fmt.Errorf("redis at %s: %w", c.RedisURL, err)
		}
		defer r.Close()
		v, _, _, err := r.Info(ctx)
		if err != nil {
			return fmt.Errorf("redis at %s: %w", c.RedisURL, err)
		}
		fmt.Fprintf(stdout, "ok: Redis %s answers at %s\n", v, c.RedisURL)
	case "memory":
		fmt.Fprintln(stdout, "note: the memory store keeps nothing across restarts")
	}
	return nil
}

func (c *config) validateStore() error {
	if c.Store != "memory" && c.Store != "bolt" && c.Store != "redis" {
		return fmt.Errorf("--store %q: want bolt, redis or memory", c.Store)
	}
	if c.Store == "redis" {
		// Checked here, not left to the store's reconnect loop: with
		// --store-fallback memory a URL that cannot parse would otherwise
		// serve "degraded" from memory for ever.
		if err := redisstore.CheckURL(c.RedisURL); err != nil {
			return fmt.Errorf("--redis-url: %w", err)
		}
	}
	return nil
}
