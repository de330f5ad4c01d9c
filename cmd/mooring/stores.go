package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/boltstore"
	"github.com/mooring-dev/mooring/store/fallback"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/store/redisstore"
)

// openedStore is the store that serve runs on, with what health needs to
// know of it.
type openedStore struct {
	store.Store                   // the configured store, fallback included
	fallback    *fallback.Store   // nil unless --store redis with --store-fallback memory
	redis       *redisstore.Store // the Redis store when it runs without fallback
	// bounded is the fallback store of either mode (--store redis): it
	// bounds every call to Redis in time, leases included.
	bounded *fallback.Store
}

// redisInfo reads Redis' INFO through whichever Redis store is in use.
func (o *openedStore) redisInfo(ctx context.Context) (string, int64, int64, error) {
	r := o.redis
	if o.fallback != nil {
		r, _ = o.fallback.Primary().(*redisstore.Store)
	}
	if r == nil {
		return "", 0, 0, fmt.Errorf("not connected to Redis")
	}
	return r.Info(ctx)
}

// openStore opens the configured store.
func openStore(ctx context.Context, c *config, log *slog.Logger, onFallback func(bool, error)) (*openedStore, error) {
	limits := store.Limits{TTL: time.Duration(c.SessionTTL) * time.Second, MaxEvents: c.MaxEvents, MaxBytes: c.MaxBytes}
	var (
		st      store.Store
		fb      *fallback.Store
		rds     *redisstore.Store
		bounded *fallback.Store
	)
	switch c.Store {
	case "memory":
		st = memstore.New(&memstore.Options{Limits: limits})
	case "bolt":
		path := filepath.Join(c.DataDir, "mooring.db")
		if err := compactAtStart(path, c.CompactAtStart, compactMinFree, log); err != nil {
			return nil, err
		}
		b, err := boltstore.Open(path, &boltstore.Options{Limits: limits, Logger: log, SkipCheck: !c.StoreCheck})
		if err != nil {
			return nil, err
		}
		st = b
	case "redis":
		ropts := &redisstore.Options{URL: c.RedisURL, Limits: limits, Logger: log}
		if c.StoreFallback == "fail" {
			r, err := redisstore.Open(ctx, ropts)
			if err != nil {
				return nil, fmt.Errorf("redis store (--store-fallback fail): %w", err)
			}
			// No memory fallback, but the same bound on each call: an
			// outage answers 503 in seconds instead of hanging requests.
			bounded = fallback.New(ctx, fallback.Options{
				Open:       func(context.Context) (store.Store, error) { return r, nil },
				NoFallback: true, Logger: log,
			})
			st, rds = bounded, r
		} else {
			open := func(ctx context.Context) (store.Store, error) { return redisstore.Open(ctx, ropts) }
			fb = fallback.New(ctx, fallback.Options{Open: open, Limits: limits, Logger: log, OnChange: onFallback})
			st, bounded = fb, fb
		}
	default:
		return nil, fmt.Errorf("--store %q: want bolt, redis or memory", c.Store)
	}
	return &openedStore{Store: st, fallback: fb, redis: rds, bounded: bounded}, nil
}

// AcquireLease implements store.Leaser over the Redis store's leases,
// through the fallback store in both modes, so that each call is bounded
// in time like every other store call; while the fallback serves from
// memory there is nobody to coordinate with, and the error makes the
// session manager serve locally.
func (o *openedStore) AcquireLease(ctx context.Context, session, owner string, ttl time.Duration) (store.Lease, bool, error) {
	return o.bounded.AcquireLease(ctx, session, owner, ttl)
}

// ReleaseLease implements store.Leaser.
func (o *openedStore) ReleaseLease(ctx context.Context, session, owner string) error {
	return o.bounded.ReleaseLease(ctx, session, owner)
}

// TakeLease implements store.Leaser, as AcquireLease.
func (o *openedStore) TakeLease(ctx context.Context, session, from, owner string, ttl time.Duration) (store.Lease, bool, error) {
	return o.bounded.TakeLease(ctx, session, from, owner, ttl)
}

// MarkDraining implements store.Leaser, as AcquireLease.
func (o *openedStore) MarkDraining(ctx context.Context, owner string, ttl time.Duration) error {
	return o.bounded.MarkDraining(ctx, owner, ttl)
}

// Draining implements store.Leaser, as AcquireLease.
func (o *openedStore) Draining(ctx context.Context, owner string) (bool, error) {
	return o.bounded.Draining(ctx, owner)
}
