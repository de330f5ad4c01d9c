package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// config is everything `mooring serve` can be told. Each field has a flag and
// an environment twin; a flag given on the command line wins.
type config struct {
	Addr           string
	Path           string
	Store          string
	DataDir        string
	RedisURL       string
	StoreFallback  string
	Compression    bool
	MaxBytes       int64
	MaxBody        int64
	Heartbeat      time.Duration
	Retry          time.Duration
	ResponseMode   string
	AllowedOrigins string
	AllowedHosts   string
	SessionTTL     int // seconds
	MaxEvents      int
	LogLevel       string
	LogFormat      string
	MetricsAddr    string
	HealthTool     bool
	Stateless      bool
	IdleEvict      time.Duration
	AdvertiseURL   string
	LeaseTTL       time.Duration
	// HTTP limits (see httpServer).
	MaxConns       int
	MaxHeaderBytes int
	ReadTimeout    time.Duration
	WriteTimeout   time.Duration
	IdleTimeout    time.Duration
	// Session limits (sessionlimits.go).
	ServerRequestTimeout time.Duration
	MaxLiveSessions      int
	MaxStoredSessions    int
	MaxRecordBytes       int
	StoreCheck           bool
	CompactAtStart       float64
	DrainGrace           time.Duration
	// Command and Upstream name the one MCP server behind mooring; they
	// win over the config file's mcpServers.
	Command  string
	Upstream string
	// Servers is the config file's mcpServers.
	Servers map[string]serverConfig
	authConfig
	taskConfig
	taskPolicyFlags
}

// flagSet binds flags to their environment twins.
type flagSet struct {
	*flag.FlagSet
	envErr  error
	fromEnv map[string]bool // flags whose default came from the environment
	// servers is the config file's mcpServers object, for serve.
	servers json.RawMessage
}

func newFlagSet(name string, out io.Writer) *flagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	return &flagSet{FlagSet: fs, fromEnv: make(map[string]bool)}
}

func (fs *flagSet) env(name string) (string, bool) {
	v, ok := os.LookupEnv(name)
	return strings.TrimSpace(v), ok && strings.TrimSpace(v) != ""
}

// envDefault returns the default of flag name: def, or the value of env
// parsed when env is set, noting that the flag took its default from the
// environment (a config file does not override it). A value that does not
// parse is kept as fs.envErr, which parse reports.
func envDefault[T any](fs *flagSet, name, env string, def T, parse func(string) (T, error), want string) T {
	v, ok := fs.env(env)
	if !ok {
		return def
	}
	fs.fromEnv[name] = true
	d, err := parse(v)
	if err != nil && fs.envErr == nil {
		fs.envErr = fmt.Errorf("%s=%q: %s", env, v, want)
	}
	return d
}

func envUsage(usage, env string) string { return fmt.Sprintf("%s (env %s)", usage, env) }

func (fs *flagSet) str(p *string, name, env, def, usage string) {
	text := func(s string) (string, error) { return s, nil }
	fs.StringVar(p, name, envDefault(fs, name, env, def, text, ""), envUsage(usage, env))
}

func (fs *flagSet) integer(p *int, name, env string, def int, usage string) {
	fs.IntVar(p, name, envDefault(fs, name, env, def, strconv.Atoi, "not an integer"), envUsage(usage, env))
}

func (fs *flagSet) int64(p *int64, name, env string, def int64, usage string) {
	parse := func(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }
	fs.Int64Var(p, name, envDefault(fs, name, env, def, parse, "not an integer"), envUsage(usage, env))
}

func (fs *flagSet) float(p *float64, name, env string, def float64, usage string) {
	parse := func(s string) (float64, error) { return strconv.ParseFloat(s, 64) }
	fs.Float64Var(p, name, envDefault(fs, name, env, def, parse, "not a number"), envUsage(usage, env))
}

func (fs *flagSet) boolean(p *bool, name, env string, def bool, usage string) {
	fs.BoolVar(p, name, envDefault(fs, name, env, def, strconv.ParseBool, "not a boolean"), envUsage(usage, env))
}

func (fs *flagSet) duration(p *time.Duration, name, env string, def time.Duration, usage string) {
	fs.DurationVar(p, name, envDefault(fs, name, env, def, time.ParseDuration, "not a duration (e.g. 15s)"), envUsage(usage, env))
}

// storeFlags are the flags that say which store to use: serve, sessions
// and init share them.
func (c *config) storeFlags(fs *flagSet) {
	fs.str(&c.Store, "store", "MOORING_STORE", "bolt", "session store: bolt (embedded file), redis, or memory (nothing survives a restart)")
	fs.str(&c.DataDir, "data-dir", "MOORING_DATA_DIR", "mooring-data", "directory of the bolt store")
	fs.str(&c.RedisURL, "redis-url", "REDIS_URL", "redis://127.0.0.1:6379", "Redis URL: redis:// or rediss://, user:password@, several addresses for Cluster, master_set for Sentinel")
	fs.str(&c.StoreFallback, "store-fallback", "MOORING_STORE_FALLBACK", "memory", "when Redis is unreachable: memory (serve degraded, move sessions back later) or fail")
	fs.boolean(&c.Compression, "compression", "SESSION_COMPRESSION", true, "zstd-compress event payloads of 512 bytes or more")
	fs.int64(&c.MaxBytes, "max-event-bytes", "MAX_EVENT_BYTES_PER_SESSION", 16<<20, "event payload bytes kept per session")
	fs.integer(&c.SessionTTL, "session-ttl", "SESSION_TTL", 3600, "seconds an idle session lives")
	fs.integer(&c.MaxEvents, "max-events", "MAX_EVENTS_PER_SESSION", 1000, "events kept per session for resumption")
}

// serveFlags are the rest of serve's flags.
func (c *config) serveFlags(fs *flagSet) {
	fs.str(&c.Addr, "addr", "MOORING_ADDR", "127.0.0.1:8080", "address to listen on")
	fs.str(&c.Path, "path", "MOORING_PATH", "/mcp", "URL path of the MCP endpoint")
	fs.int64(&c.MaxBody, "max-body", "MOORING_MAX_BODY", 4<<20, "largest POST body in bytes (larger gets 413)")
	fs.duration(&c.Heartbeat, "heartbeat", "MOORING_HEARTBEAT", 15*time.Second, "interval of keep-alive comments on idle SSE streams (0 disables)")
	fs.duration(&c.Retry, "sse-retry", "MOORING_SSE_RETRY", time.Second, "reconnection delay announced to clients in SSE retry fields")
	fs.str(&c.ResponseMode, "response-mode", "MOORING_RESPONSE_MODE", "sse", "how requests are answered: sse (resumable streams) or json")
	fs.str(&c.AllowedOrigins, "allowed-origins", "MOORING_ALLOWED_ORIGINS", "", "comma-separated Origin values accepted besides loopback ones (* for any)")
	fs.str(&c.AllowedHosts, "allowed-hosts", "MOORING_ALLOWED_HOSTS", "", "comma-separated Host names accepted on a loopback listener besides loopback names")
	fs.str(&c.LogLevel, "log-level", "MOORING_LOG_LEVEL", "info", "log level: debug, info, warn, error")
	fs.str(&c.LogFormat, "log-format", "MOORING_LOG_FORMAT", "text", "log format: text or json")
	fs.str(&c.MetricsAddr, "metrics-addr", "MOORING_METRICS_ADDR", "", "serve /metrics on this address instead of the main one")
	fs.duration(&c.IdleEvict, "idle-evict", "MOORING_IDLE_EVICT", 2*time.Minute, "close the backend of a session idle this long (the store keeps it; its next request restores it)")
	fs.str(&c.AdvertiseURL, "advertise-url", "MOORING_ADVERTISE_URL", "", "URL of this replica's MCP endpoint as other replicas reach it (with --store redis; default http://ADDR/PATH)")
	fs.duration(&c.LeaseTTL, "lease-ttl", "MOORING_LEASE_TTL", 10*time.Second, "with --store redis: how long a replica owns a session without renewing; a dead replica's sessions move after it")
	fs.integer(&c.MaxConns, "max-connections", "MOORING_MAX_CONNECTIONS", 0, "connections served at once; beyond them a few more are kept for /healthz, /readyz and /metrics, the rest get 503 (0: 4096, or, if lower, 3/4 of the open-file limit less that reserve)")
	fs.integer(&c.MaxHeaderBytes, "max-header-bytes", "MOORING_MAX_HEADER_BYTES", 64<<10, "largest request header block in bytes (larger gets 431)")
	fs.duration(&c.ReadTimeout, "read-timeout", "MOORING_READ_TIMEOUT", 30*time.Second, "time a request body may take to arrive after its headers (slower gets 408 and the connection closed)")
	fs.duration(&c.WriteTimeout, "write-timeout", "MOORING_WRITE_TIMEOUT", 30*time.Second, "time each write of an answer may wait for a client that does not read; SSE streams that keep writing are not cut")
	fs.duration(&c.IdleTimeout, "idle-timeout", "MOORING_IDLE_TIMEOUT", time.Minute, "close keep-alive connections idle this long")
	fs.duration(&c.DrainGrace, "drain-grace", "MOORING_DRAIN_GRACE", 20*time.Second, "on SIGTERM or SIGINT: how long calls in flight may run on before their sessions move to other replicas anyway (keep it below Kubernetes' terminationGracePeriodSeconds)")
	fs.boolean(&c.HealthTool, "health-tool", "MOORING_HEALTH_TOOL", true, "add the session_health_check tool to the tools clients see")
	fs.str(&c.Command, "command", "MOORING_COMMAND", "", "serve this stdio MCP server program instead of the built-in server: the program and its arguments, split on spaces (one process per session)")
	fs.str(&c.Upstream, "upstream", "MOORING_UPSTREAM", "", "serve this upstream Streamable HTTP MCP server (its endpoint URL) instead of the built-in server")
	c.sessionLimitFlags(fs)
	fs.boolean(&c.Stateless, "stateless", "MOORING_STATELESS", true, "also serve MCP 2026-07-28 (stateless, no sessions) on the endpoint; false: sessionful revisions only")
	c.authFlags(fs)
	c.taskFlags(fs)
	c.taskPolicyFlagSet(fs)
}

// badFlagValue finds the flag in the flag package's error for a value
// that does not parse.
var badFlagValue = regexp.MustCompile(`^invalid value ".*" for flag -(\S+): `)

// durationHint says what a duration looks like when flag name is one: the
// flag package says only "parse error" for "5".
func (fs *flagSet) durationHint(name string) string {
	f := fs.Lookup(name)
	if f == nil {
		return ""
	}
	if g, ok := f.Value.(flag.Getter); ok {
		if _, ok := g.Get().(time.Duration); ok {
			return "a duration needs a unit: 20s, 1m30s, 500ms"
		}
	}
	return ""
}

// printUsage prints the command's usage: its Usage function, or else the
// flag package's default.
func (fs *flagSet) printUsage() {
	if fs.Usage != nil {
		fs.Usage()
		return
	}
	fmt.Fprintf(fs.Output(), "Usage of %s:\n", fs.Name())
	fs.PrintDefaults()
}

// parseServe reads the flags, environment and config file of `mooring serve`.
func parseServe(args []string, out io.Writer) (*config, error) {
	c := new(config)
	fs := newFlagSet("mooring serve", out)
	fs.Usage = func() {
		// serve is the default command: `mooring --help` lands here, and
		// shows the other commands too.
		usage(out)
		fmt.Fprint(out, "\nFlags of mooring serve:\n")
		fs.PrintDefaults()
	}
	c.storeFlags(fs)
	c.serveFlags(fs)
	pos, err := fs.parse(args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 0 {
		return nil, fmt.Errorf("unexpected arguments: %s", strings.Join(pos, " "))
	}
	if fs.servers != nil {
		if c.Servers, err = parseServers(fs.servers); err != nil {
			return nil, fmt.Errorf("config file: %w", err)
		}
	}
	return c, c.validate()
}

// parse reads args, which may mix flags and positional arguments, then the
// config file (--config or MOORING_CONFIG) for every flag that neither the
// command line nor the environment set. It returns the positionals.
func (fs *flagSet) parse(args []string) ([]string, error) {
	var file string
	fs.str(&file, "config", "MOORING_CONFIG", "", "JSON config file: an object whose keys are flag names (as mooring init writes it)")
	var pos []string
	for {
		// A bad flag prints its error and a hint, not the list of every
		// flag (serve's is 100 lines, which buries the error); --help
		// prints the list.
		full := fs.Usage
		fs.Usage = func() {}
		err := fs.Parse(args)
		fs.Usage = full
		if err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.printUsage()
				return nil, errHelp
			}
			if m := badFlagValue.FindStringSubmatch(err.Error()); m != nil && fs.durationHint(m[1]) != "" {
				fmt.Fprintln(fs.Output(), fs.durationHint(m[1]))
			}
			fmt.Fprintf(fs.Output(), "Run '%s --help' for its flags.\n", fs.Name())
			return nil, errUsage
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if fs.envErr != nil {
		return nil, fs.envErr
	}
	if file == "" {
		return pos, nil
	}
	return pos, fs.applyFile(file)
}

// serveKeys are the names of serve's flags: other commands skip them in a
// config file.
var serveKeys = func() map[string]bool {
	c, fs := new(config), newFlagSet("keys", io.Discard)
	c.storeFlags(fs)
	c.serveFlags(fs)
	keys := make(map[string]bool)
	fs.VisitAll(func(f *flag.Flag) { keys[f.Name] = true })
	return keys
}()

func (fs *flagSet) applyFile(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var values map[string]any
	if err := json.Unmarshal(data, &values); err != nil {
		return fmt.Errorf("config file %s: %w", file, err)
	}
	given := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for name, v := range values {
		if name == serversKey {
			// Not a flag: serve reads it (parseServers); the other
			// commands skip it like any serve setting.
			fs.servers, _ = json.Marshal(v)
			continue
		}
		f := fs.Lookup(name)
		if f == nil && fs.Name() != "mooring serve" && serveKeys[name] {
			continue // a serve setting: the file is shared by every command
		}
		if f == nil || name == "config" {
			return fmt.Errorf("config file %s: unknown key %q (keys are flag names)", file, name)
		}
		if given[name] || fs.fromEnv[name] {
			continue // the command line and the environment win
		}
		text := fmt.Sprint(v)
		if fv, ok := v.(float64); ok {
			text = strconv.FormatFloat(fv, 'f', -1, 64)
		}
		if err := fs.Set(name, text); err != nil {
			if h := fs.durationHint(name); h != "" {
				return fmt.Errorf("config file %s: %s: %w (%s)", file, name, err, h)
			}
			return fmt.Errorf("config file %s: %s: %w", file, name, err)
		}
	}
	return nil
}

func (c *config) validate() error {
	switch {
	case !strings.HasPrefix(c.Path, "/"):
		return fmt.Errorf("--path %q must start with /", c.Path)
	case c.ResponseMode != "sse" && c.ResponseMode != "json":
		return fmt.Errorf("--response-mode %q: want sse or json", c.ResponseMode)
	case c.SessionTTL <= 0:
		return fmt.Errorf("--session-ttl %d: must be positive", c.SessionTTL)
	case c.MaxEvents <= 0:
		return fmt.Errorf("--max-events %d: must be positive", c.MaxEvents)
	case c.MaxBody <= 0:
		return fmt.Errorf("--max-body %d: must be positive", c.MaxBody)
	case c.validateStore() != nil:
		return c.validateStore()
	case c.StoreFallback != "memory" && c.StoreFallback != "fail":
		return fmt.Errorf("--store-fallback %q: want memory or fail", c.StoreFallback)
	case c.DrainGrace < 0:
		return fmt.Errorf("--drain-grace %s: must not be negative", c.DrainGrace)
	case c.LeaseTTL < time.Second:
		return fmt.Errorf("--lease-ttl %s: at least 1s", c.LeaseTTL)
	case c.MaxBytes <= 0:
		return fmt.Errorf("--max-event-bytes %d: must be positive", c.MaxBytes)
	case c.MaxConns < 0:
		return fmt.Errorf("--max-connections %d: must be positive (0: the default)", c.MaxConns)
	case c.MaxHeaderBytes < 1024:
		return fmt.Errorf("--max-header-bytes %d: at least 1024", c.MaxHeaderBytes)
	case c.ReadTimeout <= 0 || c.WriteTimeout <= 0 || c.IdleTimeout <= 0:
		return errors.New("--read-timeout, --write-timeout and --idle-timeout must be positive")
	}
	if err := c.validateAuth(); err != nil {
		return err
	}
	if err := c.validateSessionLimits(); err != nil {
		return err
	}
	if err := c.validateTasks(); err != nil {
		return err
	}
	return c.validateBackends()
}

func splitList(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if p := strings.TrimSpace(part); p != "" {
			out = append(out, p)
		}
	}
	return out
}
