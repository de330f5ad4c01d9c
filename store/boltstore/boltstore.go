package boltstore

import (
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

// damagedHint ends the error of Open for a damaged file: what to do.
const damagedHint = " (run mooring check for details; restore the file from a backup, or move it away to start with an empty store)"

// ErrLocked is returned by Open when another process (or another Store in
// this one) has the file open.
var ErrLocked = errors.New("boltstore: another mooring holds the data directory")

// Defaults for Options.
const (
	// DefaultTimeout is how long Open waits for the file lock: long enough
	// to ride out the previous process's exit during a restart, short enough
	// that a second mooring on the same directory fails at once.
	DefaultTimeout = time.Second

	// DefaultCheckpointInterval is how long a write may stay in the
	// write-ahead log before a checkpoint commits it to the bbolt file:
	// long enough that one checkpoint serves many batches, short enough
	// that the log, the replay after a crash and the memory held stay
	// small.
	DefaultCheckpointInterval = 100 * time.Millisecond

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
	// NoSync skips the fsyncs of the write-ahead log and of checkpoints.
	// Writes still reach the operating system, so a crash of mooring loses
	// nothing, but a crash of the machine may lose acknowledged events or
	// corrupt the file. For tests and throwaway data.
	NoSync bool
	// CheckpointInterval is how long a write may stay only in the
	// write-ahead log before it is committed to the bbolt file (see the
	// package doc). Durability does not depend on it: a write is in the
	// log, fsynced, before it is acknowledged. Longer means fewer bbolt
	// commits and a longer replay after a crash. Default
	// DefaultCheckpointInterval.
	CheckpointInterval time.Duration
	// SweepInterval is how often expired sessions are deleted from the file.
	// Default Limits.TTL/4, but at least 1s and at most 1min.
	SweepInterval time.Duration
	// SkipCheck skips bbolt's check of every page at Open, which reads the
	// whole file: 0.3 to 0.45 s for a 488 MB file of 20,000 sessions, in
	// the page cache. Without it a damaged page is found when a request
	// reads it, and only that request fails (as if its session were lost).
	SkipCheck bool
	// Logger receives sweeper failures. Default slog.Default().
	Logger *slog.Logger
}

// withDefaults returns o with zero fields set to their defaults.
func (o Options) withDefaults() Options {
	o.Limits = o.Limits.WithDefaults()
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = DefaultCheckpointInterval
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
	path   string
	limits store.Limits
	log    *slog.Logger

	// life is read-held by every call for its whole duration and
	// write-held by Close, so that Close waits for calls in flight and
	// later calls see closed.
	life   sync.RWMutex
	closed bool // guarded by life

	commits *committer // runs every read and write, in one long transaction

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
	if err := precheck(path, o.Timeout); err != nil {
		switch {
		case errors.Is(err, ErrDamaged):
			return nil, fmt.Errorf("%w%s", err, damagedHint)
		case errors.Is(err, ErrLocked):
			return nil, err
		}
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	var db *bolt.DB
	err := safely(func() (err error) {
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: o.Timeout, NoSync: o.NoSync})
		return err
	})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s is locked (waited %v)", ErrLocked, path, o.Timeout)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	if !o.SkipCheck {
		// Before anything is served: a damaged page found later panics
		// inside bbolt, in the middle of some session's request.
		if err := checkPages(db); err != nil {
			db.Close()
			return nil, fmt.Errorf("boltstore: open %s: %w%s", path, err, damagedHint)
		}
	}
	// The log's file is opened after bbolt's, whose lock covers both.
	f, err := os.OpenFile(logPath(path), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	lsn, err := recoverFile(db, f, o.Logger)
	if err != nil {
		f.Close()
		db.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	commits, err := newCommitter(db, &wal{f: f}, lsn, o)
	if err != nil {
		f.Close()
		db.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w", path, err)
	}
	s := &Store{
		db:      db,
		path:    path,
		commits: commits,
		limits:  o.Limits,
		log:     o.Logger,
		stop:    make(chan struct{}),
		swept:   make(chan struct{}),
	}
	go s.sweepLoop(o.SweepInterval)
	return s, nil
}

// LogPath is where the write-ahead log of the store at path lives.
func LogPath(path string) string { return logPath(path) }

func logPath(path string) string { return path + ".wal" }

// Kind implements store.Store.
func (s *Store) Kind() string { return "bolt" }

// Path returns the path of the store file.
func (s *Store) Path() string { return s.path }

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

// write logs and applies an encoded op (see ops.go) and returns its
// outcome once the op is durable.
func (s *Store) write(body []byte) (opResult, error) {
	if len(body) > maxBody {
		return opResult{}, fmt.Errorf("a write of %d bytes, at most %d", len(body), maxBody)
	}
	return s.commits.do(body, nil)
}

// read runs fn in the store's open transaction, which holds every
// acknowledged write. fn runs on the committer's goroutine, so it must be
// quick, and must copy out whatever it keeps.
func (s *Store) read(fn func(tx *bolt.Tx) error) error {
	_, err := s.commits.do(nil, fn)
	return err
}

// Ping implements store.Store. It also reports a failure of the last sweep:
// a file that cannot be written is a store that does not work.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.leave()
	if err := s.read(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketSessions) == nil {
			return errors.New("sessions bucket missing")
		}
		return nil
	}); err != nil {
		return fmt.Errorf("boltstore: ping: %w", err)
	}
	if err := s.commits.lastFailure(); err != nil {
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
// and the committer, checkpoints, then closes the files and releases the
// lock. Later calls, including Close, return store.ErrClosed.
func (s *Store) Close() error { return s.shutdown(false) }

// shutdown closes the store; crash skips the last checkpoint, as a crash
// would (tests).
func (s *Store) shutdown(crash bool) error {
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
	s.commits.crash = crash
	close(s.commits.reqs)
	<-s.commits.done
	err := s.commits.closeErr
	if cerr := s.db.Close(); cerr != nil && err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("boltstore: close: %w", err)
	}
	return nil
}

var _ store.Store = (*Store)(nil)
