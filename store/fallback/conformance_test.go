package fallback_test

import (
	"context"
	"errors"
	"testing"

	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/fallback"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/store/storetest"
)

// With its primary answering, the fallback store is the primary: the
// whole suite, sessions and tasks, passes through it.
func TestConformance_HealthyPrimary(t *testing.T) {
	storetest.Run(t, func(t *testing.T, l store.Limits) store.Store {
		fs := fallback.New(context.Background(), fallback.Options{Open: func(context.Context) (store.Store, error) { return memstore.New(&memstore.Options{Limits: l}), nil }, Limits: l})
		t.Cleanup(func() {
			if err := fs.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
				t.Error(err)
			}
		})
		return fs
	}, nil)
}
