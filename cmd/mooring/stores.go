package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/boltstore"
	"github.com/mooring-dev/mooring/store/compress"
	"github.com/mooring-dev/mooring/store/fallback"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/store/redisstore"
)

// openedStore is the store that serve runs on, with what health needs to
// know of it.
type openedStore struct {
	*compress.Store
	fallback *fallback.Store // nil unless --store redis with --store-fallback memory
}

// openStore opens the configured store and wraps it with payload
// compression.
func openStore(ctx context.Context, c *config, log *slog.Logger) (*openedStore, error) {
	limits := store.Limits{TTL: time.Duration(c.SessionTTL) * time.Second, MaxEvents: c.MaxEvents, MaxBytes: c.MaxBytes}
	var (
		st store.Store
		fb *fallback.Store
	)
	switch c.Store {
	case "memory":
		st = memstore.New(&memstore.Options{Limits: limits})
	case "bolt":
		b, err := boltstore.Open(filepath.Join(c.DataDir, "mooring.db"), &boltstore.Options{Limits: limits})
		if err != nil {
			return nil, err
		}
		st = b
	case "redis":
		open := func(ctx context.Context) (store.Store, error) {
			return redisstore.Open(ctx, &redisstore.Options{URL: c.RedisURL, Limits: limits})
		}
		if c.StoreFallback == "fail" {
			r, err := open(ctx)
			if err != nil {
				return nil, fmt.Errorf("redis store (--store-fallback fail): %w", err)
			}
			st = r
		} else {
			fb = fallback.New(ctx, fallback.Options{Open: open, Limits: limits, Logger: log})
			st = fb
		}
	default:
		return nil, fmt.Errorf("--store %q: want bolt, redis or memory", c.Store)
	}
	return &openedStore{
		Store:    compress.Wrap(st, &compress.Options{Enabled: c.Compression}),
		fallback: fb,
	}, nil
}
