package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/auth"
	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/backend/builtin"
	"github.com/mooring-dev/mooring/backend/command"
	"github.com/mooring-dev/mooring/backend/upstream"
	"github.com/mooring-dev/mooring/tasks/protocol"
)

// serversKey is the config file key of the MCP servers behind mooring, in
// the shape that MCP clients use for their own configuration.
const serversKey = "mcpServers"

// serverConfig is one entry of mcpServers: a stdio program (command, args,
// env, cwd) or an upstream Streamable HTTP server (url, headers).
type serverConfig struct {
	// Type is optional, as in clients' files: stdio, http or
	// streamable-http; it must agree with the other keys.
	Type    string            `json:"type,omitempty"`
	Command string            `json:"command,omitempty"`
	Args    []string          `json:"args,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	Cwd     string            `json:"cwd,omitempty"`
	URL     string            `json:"url,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// ToolScopes are the scopes a client's token needs to call each tool
	// of this server (with --auth).
	ToolScopes map[string][]string `json:"toolScopes,omitempty"`
	// RetryableTools name the tools (path.Match patterns) whose calls are
	// safe to repeat: one that a crash cut off is sent again after the
	// restore, as for a tool annotated idempotentHint.
	RetryableTools []string `json:"retryableTools,omitempty"`
	// Credentials are mooring's own for an HTTP server: a static header or
	// OAuth client credentials. A client's token is never passed on.
	Credentials *auth.Credentials `json:"credentials,omitempty"`
	// Tasks says which of its tools support tasks (docs/tasks.md).
	Tasks *serverTasks `json:"tasks,omitempty"`
}

// parseServers decodes mcpServers strictly: a key mooring does not know is
// an error, not a setting silently ignored.
func parseServers(raw json.RawMessage) (map[string]serverConfig, error) {
	var servers map[string]json.RawMessage
	if err := json.Unmarshal(raw, &servers); err != nil {
		return nil, fmt.Errorf("%s must be an object of named servers: %w", serversKey, err)
	}
	out := make(map[string]serverConfig, len(servers))
	for name, v := range servers {
		dec := json.NewDecoder(bytes.NewReader(v))
		dec.DisallowUnknownFields()
		var sc serverConfig
		if err := dec.Decode(&sc); err != nil {
			return nil, fmt.Errorf("%s %q: %w (keys: type, command, args, env, cwd for a program; type, url, headers, credentials for an HTTP server; toolScopes, retryableTools and tasks for either)", serversKey, name, err)
		}
		out[name] = sc
	}
	return out, nil
}

// kind is "stdio" or "http"; check has made sure that it is one of them.
func (sc serverConfig) kind() string {
	if sc.URL != "" {
		return "http"
	}
	return "stdio"
}

func (sc serverConfig) check(name string) error {
	where := fmt.Sprintf("%s %q", serversKey, name)
	if name == "" {
		return fmt.Errorf("%s: a server needs a name", serversKey)
	}
	for _, pat := range sc.RetryableTools {
		if _, err := path.Match(pat, ""); err != nil || pat == "" {
			return fmt.Errorf("%s: retryableTools %q: not a name or pattern (* ? [...])", where, pat)
		}
	}
	if strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != "" || name == "." || name == ".." {
		return fmt.Errorf("%s: the name becomes a URL path segment: letters, digits, '.', '_' and '-' only", where)
	}
	switch {
	case sc.Command != "" && sc.URL != "":
		return fmt.Errorf("%s: both command and url; a server is a program or an HTTP server", where)
	case sc.Command == "" && sc.URL == "":
		return fmt.Errorf("%s: needs command (a stdio program) or url (an HTTP server)", where)
	case sc.URL != "" && (len(sc.Args) > 0 || len(sc.Env) > 0 || sc.Cwd != ""):
		return fmt.Errorf("%s: args, env and cwd are for a command, not a url", where)
	case sc.Command != "" && len(sc.Headers) > 0:
		return fmt.Errorf("%s: headers are for a url, not a command", where)
	case sc.Command != "" && sc.Credentials != nil:
		return fmt.Errorf("%s: credentials are for a url; a command gets its secrets in env", where)
	}
	if sc.Credentials != nil {
		if err := sc.Credentials.Check(); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		h := sc.Credentials.Header
		if h == "" {
			h = "Authorization"
		}
		for k := range sc.Headers {
			if strings.EqualFold(k, h) {
				return fmt.Errorf("%s: headers sets %s, which credentials set too", where, k)
			}
		}
	}
	switch sc.Type {
	case "":
	case "stdio":
		if sc.URL != "" {
			return fmt.Errorf("%s: type stdio with a url", where)
		}
	case "http", "streamable-http":
		if sc.Command != "" {
			return fmt.Errorf("%s: type %s with a command", where, sc.Type)
		}
	default:
		return fmt.Errorf("%s: type %q: mooring serves stdio, http or streamable-http servers (not the old SSE transport)", where, sc.Type)
	}
	if sc.URL != "" {
		u, err := url.Parse(sc.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s: url %q: want an http:// or https:// URL", where, sc.URL)
		}
	}
	return nil
}

// validateBackends checks the servers behind mooring, wherever they were
// configured.
func (c *config) validateBackends() error {
	if c.Command != "" && c.Upstream != "" {
		return errors.New("--command and --upstream both given: mooring serves one of them (several servers go in the config file's mcpServers)")
	}
	if c.Command != "" && len(strings.Fields(c.Command)) == 0 {
		return fmt.Errorf("--command %q: no program", c.Command)
	}
	if c.Upstream != "" {
		if err := (serverConfig{URL: c.Upstream}).check("upstream"); err != nil {
			return fmt.Errorf("--upstream: %w", err)
		}
	}
	for name, sc := range c.Servers {
		if err := sc.check(name); err != nil {
			return err
		}
	}
	return nil
}

// mount is one MCP server behind mooring and the path it is served at.
type mount struct {
	name   string // "" for the built-in server and the --command/--upstream one
	kind   string // builtin, stdio or http
	path   string
	opener backend.Opener
	// server is the go-sdk server of an in-process backend, which can
	// also answer 2026-07-28 (stateless) requests; nil for the others.
	server *mcp.Server
	// toolScopes are the server's own tool scopes (mcpServers toolScopes).
	toolScopes map[string][]string
	// tasks says which of its tools support tasks (docs/tasks.md).
	tasks *protocol.Policy
	// retryable are its mcpServers retryableTools.
	retryable []string
}

// mounts builds the servers to serve: --command or --upstream (which win
// over the file), else the file's mcpServers (one at --path; several at
// --path/<name>), else the built-in server at --path.
func (c *config) mounts(log *slog.Logger) ([]mount, error) {
	servers := c.Servers
	single := ""
	switch {
	case c.Command != "":
		f := strings.Fields(c.Command)
		servers, single = map[string]serverConfig{"command": {Command: f[0], Args: f[1:]}}, "command"
	case c.Upstream != "":
		servers, single = map[string]serverConfig{"upstream": {URL: c.Upstream}}, "upstream"
	case len(servers) == 0:
		srv := builtin.New()
		pol, err := c.flagPolicy(builtin.TaskSupport())
		if err != nil {
			return nil, err
		}
		return []mount{{kind: "builtin", path: c.Path, opener: backend.NewInProcess(srv), server: srv, tasks: pol}}, nil
	}
	if (c.Command != "" || c.Upstream != "") && len(c.Servers) > 0 {
		log.Warn("--command/--upstream given: the config file's mcpServers are not served")
	}
	names := make([]string, 0, len(servers))
	for name := range servers {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []mount
	for _, name := range names {
		sc := servers[name]
		m := mount{name: name, kind: sc.kind(), path: c.Path, toolScopes: sc.ToolScopes, retryable: sc.RetryableTools}
		if len(servers) > 1 {
			m.path = strings.TrimSuffix(c.Path, "/") + "/" + name
		}
		var err error
		if name == single {
			m.name = ""
			m.tasks, err = c.flagPolicy(nil)
		} else if m.tasks, err = sc.Tasks.policy(); err != nil {
			err = fmt.Errorf("%s %q: %w", serversKey, name, err)
		} else {
			// A call safe to repeat is a task safe to run again.
			m.tasks.Retryable = append(m.tasks.Retryable, sc.RetryableTools...)
		}
		if err != nil {
			return nil, err
		}
		switch m.kind {
		case "stdio":
			op := command.New(command.Options{Name: name, Command: sc.Command, Args: sc.Args, Env: sc.Env, Dir: sc.Cwd, Logger: log})
			if err := op.Check(); err != nil {
				if name == single {
					return nil, fmt.Errorf("--command: %w", err)
				}
				return nil, fmt.Errorf("%s %q: %w", serversKey, name, err)
			}
			m.opener = op
		case "http":
			var tr http.RoundTripper
			if sc.Credentials != nil {
				var err error
				if tr, err = sc.Credentials.Transport(http.DefaultTransport.(*http.Transport).Clone(), sc.URL); err != nil {
					return nil, fmt.Errorf("%s %q: %w", serversKey, name, err)
				}
			}
			m.opener = upstream.New(upstream.Options{Name: name, URL: sc.URL, Headers: sc.Headers, Transport: tr, Logger: log})
		}
		out = append(out, m)
	}
	return out, nil
}
