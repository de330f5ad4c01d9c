package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/mooring-dev/mooring/store"
)

// ErrLocked is returned by Open when another process (or another Store in
// this one) has the file open.
var ErrLocked = errors.New("boltstore: another mooring holds the data directory")

// Defaults for Options.
const (
	// DefaultTimeout is how long Open waits for the file lock: long enough
	// to ride out the previous process's exit during a restart, short enough
	// that a second mooring on the same directory fails at once.
	DefaultTimeout = time.Second

	minSweepInterval = time.Second
	maxSweepInterval = time.Minute
)

// Options configure a Store. A nil *Options, and zero fields, mean the
// defaults.
type Options struct {
	// Limits bound each session; zero fields take the store defaults.
	Limits store.Limits
	// Timeout is how long Open waits for the lock on the file before it
	// gives up with ErrLocked. Default DefaultTimeout.
	Timeout time.Duration
	// NoSync skips the fsync of each commit. Writes still reach the
	// operating system, so a crash of mooring loses nothing, but a crash of
	// the machine may lose acknowledged events or corrupt the file. For
	// tests and throwaway data.
	NoSync bool
	// SweepInterval is how often expired sessions are deleted from the file.
	// Default Limits.TTL/4, but at least 1s and at most 1min.
	SweepInterval time.Duration
	// Logger receives sweeper failures. Default slog.Default().
	Logger *slog.Logger
}

// withDefaults returns o with zero fields set to their defaults.
func (o Options) withDefaults() Options {
	o.Limits = o.Limits.WithDefaults()
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.SweepInterval <= 0 {
		// Often enough that expired sessions do not pile up, rarely enough
		// that an idle store stays idle.
		o.SweepInterval = min(max(o.Limits.TTL/4, minSweepInterval), maxSweepInterval)
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Store is a store.Store in a bbolt file. Use Open to make one.
type Store struct {
	db     *bolt.DB
	limits store.Limits
	log    *slog.Logger

	// life is read-held by every call for its whole duration and
	// write-held by Close, so that Close waits for calls in flight and
	// later calls see closed.
	life   sync.RWMutex
	closed bool // guarded by life

	commits *committer // runs every write but the sweeper's

	stop  chan struct{} // closed by Close: the sweeper should return
	swept chan struct{} // closed by the sweeper when it has returned

	sweepMu  sync.Mutex
	sweepErr error // guarded by sweepMu: the last sweep's failure, for Ping
}

// Open opens or creates the store file at path.
func Open(path string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	o = o.withDefaults()
	// Session data is private to mooring's user.
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("boltstore: create data directory: %w", err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.Timeout, NoSync: o.NoSync})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is locked (waited %v)", ErrLocked, path, o.Timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	if err := db.Update(initFile); err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}

	s := &Store{
		db:      db,
		commits: newCommitter(db),
		limits:  o.Limits,
		log:     o.Logger,
		stop:    make(chan struct{}),
		swept:   make(chan struct{}),
	}
	go s.sweepLoop(o.SweepInterval)
	return s, nil
}

// initFile creates the root buckets of a new file and checks the format of
// an existing one.
func initFile(tx *bolt.Tx) error {
	info, err := tx.CreateBucketIfNotExists(bucketInfo)
	if err != nil {
		return err
	}
	switch f := info.Get(keyFormat); {
	case f == nil:
		if err := info.Put(keyFormat, formatValue); err != nil {
			return err
		}
	case !bytes.Equal(f, formatValue):
		return fmt.Errorf("file format %q, this mooring reads format %q", f, formatValue)
	}
	for _, name := range [][]byte{bucketSessions, bucketData} {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	return nil
}

// Kind implements store.Store.
func (s *Store) Kind() string { return "bolt" }

// Path returns the path of the store file.
func (s *Store) Path() string { return s.db.Path() }

// Limits returns the limits in force, defaults filled in.
func (s *Store) Limits() store.Limits { return s.limits }

// enter starts a call: it fails once the store is closed or ctx is done.
// A nil error must be paired with s.leave.
func (s *Store) enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.life.RLock()
	if s.closed {
		s.life.RUnlock()
		return errClosed
	}
	return nil
}

var errClosed = fmt.Errorf("boltstore: %w", store.ErrClosed)

func (s *Store) leave() { s.life.RUnlock() }

// write runs fn in a read-write transaction that concurrent writes share
// (group commit, see committer). fn may run more than once, each time in a
// fresh transaction, so it must only touch tx and results it sets from
// scratch. It should return errors only for failures: an error rolls back
// and redoes the whole batch, so expected outcomes such as "not found"
// travel in fn's results instead.
func (s *Store) write(fn func(tx *bolt.Tx) error) error {
	return s.commits.do(fn)
}

// Ping implements store.Store. It also reports a failure of the last sweep:
// a file that cannot be written is a store that does not work.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.leave()
	if err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketSessions) == nil {
			return errors.New("sessions bucket missing")
		}
		return nil
	}); err != nil {
		return fmt.Errorf("boltstore: ping: %w", err)
	}
	s.sweepMu.Lock()
	defer s.sweepMu.Unlock()
	if s.sweepErr != nil {
		return fmt.Errorf("boltstore: ping: last sweep failed: %w", s.sweepErr)
	}
	return nil
}

// Close implements store.Store. It waits for calls in flight, the sweeper
// and the committer, then closes the file and releases its lock. Later
// calls, including Close, return store.ErrClosed.
func (s *Store) Close() error {
	s.life.Lock()
	if s.closed {
		s.life.Unlock()
		return errClosed
	}
	s.closed = true
	s.life.Unlock()

	close(s.stop)
	<-s.swept
	// No call is in flight (life) and none will start (closed): nothing
	// can send to the committer any more.
	close(s.commits.reqs)
	<-s.commits.done
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close: %w", err)
	}
	return nil
}

var _ store.Store = (*Store)(nil)
