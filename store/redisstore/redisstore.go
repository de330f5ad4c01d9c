package redisstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/mooring-dev/mooring/store"
)

// Defaults for Options.
const (
	DefaultURL       = "redis://127.0.0.1:6379"
	DefaultKeyPrefix = "mooring:"
	// DefaultDialTimeout bounds Open against an unreachable server: a
	// replica that cannot reach its store should say so at start, not hang.
	DefaultDialTimeout = 5 * time.Second
	// DefaultSweepInterval is how often the janitor drops index entries of
	// expired sessions. Their keys expire on their own; only the index
	// needs the help.
	DefaultSweepInterval = time.Minute
)

// refreshDivisor: an Append restarts the TTL of a session's keys only when
// less than TTL - TTL/refreshDivisor of it is left, so that a busy session
// pays for the PEXPIREATs once per TTL/refreshDivisor instead of on every
// append; its keys expire at most TTL/refreshDivisor earlier than a full
// TTL after its last Append. See appendsLua.
const refreshDivisor = 64

// sweepBatch is how many index entries one janitor step looks at.
const sweepBatch = 256

// Options configure Open. A nil *Options means all defaults.
type Options struct {
	// URL names the server(s); see the package doc. Default DefaultURL.
	URL string
	// Limits bound each session; zero fields take store's defaults.
	Limits store.Limits
	// KeyPrefix starts every key. It must not contain { or }, which would
	// change the hash tags. Default DefaultKeyPrefix.
	KeyPrefix string
	// DialTimeout bounds each connection attempt, unless the URL sets
	// dial_timeout. Default DefaultDialTimeout.
	DialTimeout time.Duration
	// SweepInterval is the janitor's period; negative turns it off.
	// Default DefaultSweepInterval.
	SweepInterval time.Duration
	// Logger receives the janitor's failures. Default slog.Default().
	Logger *slog.Logger
}

// Store is a store.Store on Redis. It is safe for concurrent use; commands
// of concurrent callers share connections through rueidis' automatic
// pipelining.
type Store struct {
	client rueidis.Client
	keys   keys
	limits store.Limits
	log    *slog.Logger

	// Limits as script arguments, formatted once. refreshArg is how
	// often (ms) appends restart the TTL of a busy session, ttl/64: see
	// appendsLua.
	ttlArg, maxEventsArg, maxBytesArg, refreshArg string

	// cluster: batches of appends must keep to one hash slot.
	cluster bool
	appends appender

	closed atomic.Bool
	stop   context.CancelFunc // ends the janitor's context
	wg     sync.WaitGroup     // the janitor
}

// Open connects to Redis and returns a Store. It fails, with an error that
// names the addresses, if the server does not answer a PING within the dial
// timeout or before ctx ends.
func Open(ctx context.Context, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.URL == "" {
		o.URL = DefaultURL
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = DefaultKeyPrefix
	}
	if strings.ContainsAny(o.KeyPrefix, "{}") {
		return nil, fmt.Errorf("redisstore: key prefix %q must not contain { or }", o.KeyPrefix)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	copt, err := clientOption(o.URL)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", err)
	}
	client, err := connect(ctx, copt, o.DialTimeout)
	if err != nil {
		return nil, err
	}
	s := newStore(client, o)
	if o.SweepInterval == 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	if o.SweepInterval > 0 {
		s.startJanitor(o.SweepInterval)
	}
	return s, nil
}

// connect creates the client and checks that the server answers.
func connect(ctx context.Context, copt rueidis.ClientOption, dialTimeout time.Duration) (rueidis.Client, error) {
	if copt.Dialer.Timeout == 0 {
		copt.Dialer.Timeout = dialTimeout
	}
	if copt.Dialer.Timeout <= 0 {
		copt.Dialer.Timeout = DefaultDialTimeout
	}
	client, err := newClient(ctx, copt)
	if err != nil {
		return nil, fmt.Errorf("redisstore: connect to %v: %w", copt.InitAddress, err)
	}
	pctx, cancel := context.WithTimeout(ctx, copt.Dialer.Timeout)
	defer cancel()
	if err := client.Do(pctx, client.B().Ping().Build()).Error(); err != nil {
		client.Close()
		return nil, fmt.Errorf("redisstore: ping %v: %w", copt.InitAddress, err)
	}
	return client, nil
}

// newClient is rueidis.NewClient, which dials without a context, bounded
// by ctx as well as by the dial timeout. If ctx ends first, a goroutine
// waits out the dial (at most the dial timeout per address) and closes
// what it made.
func newClient(ctx context.Context, copt rueidis.ClientOption) (rueidis.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	type result struct {
		client rueidis.Client
		err    error
	}
	done := make(chan result, 1)
	go func() {
		c, err := rueidis.NewClient(copt)
		done <- result{c, err}
	}()
	select {
	case r := <-done:
		return r.client, r.err
	case <-ctx.Done():
		go func() {
			if r := <-done; r.client != nil {
				r.client.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

func newStore(client rueidis.Client, o Options) *Store {
	l := o.Limits.WithDefaults()
	return &Store{
		client:       client,
		keys:         keys{prefix: o.KeyPrefix},
		limits:       l,
		log:          o.Logger,
		ttlArg:       strconv.FormatInt(max(l.TTL.Milliseconds(), 1), 10),
		maxEventsArg: strconv.Itoa(l.MaxEvents),
		maxBytesArg:  strconv.FormatInt(l.MaxBytes, 10),
		refreshArg:   strconv.FormatInt(l.TTL.Milliseconds()/refreshDivisor, 10),
		cluster:      client.Mode() == rueidis.ClientModeCluster,
		stop:         func() {},
	}
}

// Kind implements store.Store.
func (s *Store) Kind() string { return "redis" }

// Limits returns the limits in force, defaults filled in.
func (s *Store) Limits() store.Limits { return s.limits }

// Ping implements store.Store.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	if err := s.client.Do(ctx, s.client.B().Ping().Build()).Error(); err != nil {
		return s.fail(err, "ping")
	}
	return nil
}

// Close implements store.Store: it stops the janitor and closes the
// connections. Later calls return ErrClosed.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return store.ErrClosed
	}
	s.stop()
	s.wg.Wait()
	s.client.Close()
	return nil
}

// Info reports the server's version, its used memory in bytes and its
// number of connected clients, from INFO. On a Cluster it is one node's
// view (whichever node rueidis picks).
func (s *Store) Info(ctx context.Context) (version string, usedMemory, clients int64, err error) {
	if s.closed.Load() {
		return "", 0, 0, store.ErrClosed
	}
	text, err := s.client.Do(ctx, s.client.B().Info().Build()).ToString()
	if err != nil {
		return "", 0, 0, s.fail(err, "info")
	}
	return parseInfo(text)
}

// parseInfo picks three fields out of INFO's "name:value" lines.
func parseInfo(text string) (version string, usedMemory, clients int64, err error) {
	fields := map[string]string{}
	for line := range strings.SplitSeq(text, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			fields[k] = v
		}
	}
	version = fields["redis_version"]
	if v := fields["valkey_version"]; v != "" {
		version = v
	}
	if version == "" {
		return "", 0, 0, errors.New("redisstore: info: no redis_version")
	}
	if usedMemory, err = strconv.ParseInt(fields["used_memory"], 10, 64); err != nil {
		return "", 0, 0, fmt.Errorf("redisstore: info: used_memory: %w", err)
	}
	if clients, err = strconv.ParseInt(fields["connected_clients"], 10, 64); err != nil {
		return "", 0, 0, fmt.Errorf("redisstore: info: connected_clients: %w", err)
	}
	return version, usedMemory, clients, nil
}

// fail wraps a client error with what was being done. After Close, rueidis
// answers ErrClosing, which callers see as store.ErrClosed.
func (s *Store) fail(err error, format string, args ...any) error {
	what := fmt.Sprintf(format, args...)
	if re, ok := rueidis.IsRedisErr(err); ok && strings.HasPrefix(re.Error(), "FENCED ") {
		// fenceLua's refusal: not an outage, nothing was written.
		return fmt.Errorf("redisstore: %s: %w", what, store.ErrFenced)
	}
	if errors.Is(err, rueidis.ErrClosing) && s.closed.Load() {
		return fmt.Errorf("redisstore: %s: %w", what, store.ErrClosed)
	}
	if notApplied(err) {
		return fmt.Errorf("redisstore: %s: %w: %w", what, store.ErrUnavailable, err)
	}
	return fmt.Errorf("redisstore: %s: %w", what, err)
}

// notApplied reports whether err says for certain that the command was not
// run: Redis is loading its data after a restart (LOADING), or no
// connection could be made (the dial failed). Sending it again cannot
// apply it twice. A connection that broke while the command was out is
// not such an error: the command may have run.
func notApplied(err error) bool {
	if re, ok := rueidis.IsRedisErr(err); ok {
		return strings.HasPrefix(re.Error(), "LOADING")
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

var _ store.Store = (*Store)(nil)
