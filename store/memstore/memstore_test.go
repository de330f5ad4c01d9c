package memstore_test

import (
	"errors"
	"testing"

	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/store/storetest"
)

func newStore(t testing.TB, limits store.Limits) store.Store {
	s := memstore.New(&memstore.Options{Limits: limits})
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Error(err)
		}
	})
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, l store.Limits) store.Store { return newStore(t, l) }, nil)
}

func BenchmarkAppend(b *testing.B) { storetest.BenchAppend(b, newStore(b, store.Limits{})) }

func BenchmarkReplay1000(b *testing.B) { storetest.BenchReplay(b, newStore(b, store.Limits{}), 1000) }
