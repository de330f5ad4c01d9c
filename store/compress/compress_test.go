package compress_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/mooring-dev/mooring/store"
	"github.com/mooring-dev/mooring/store/compress"
	"github.com/mooring-dev/mooring/store/memstore"
)

func TestCompress_RoundTripAndSwitchOff(t *testing.T) {
	ctx := context.Background()
	mem := memstore.New(nil)
	on := compress.Wrap(mem, &compress.Options{Enabled: true, Threshold: 64})
	big := bytes.Repeat([]byte(`{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"aaaa"}}`), 50)
	small := []byte(`{"x":1}`)
	for _, p := range [][]byte{big, small, {}} {
		if _, err := on.Append(ctx, "s", "st", p); err != nil {
			t.Fatal(err)
		}
	}
	st := on.Stats()
	if st.BytesStored >= st.BytesIn/4 {
		t.Errorf("stored %d bytes of %d: compression did not happen", st.BytesStored, st.BytesIn)
	}
	// Read back, by After and by Log, with compression on, and through a
	// wrapper with it off.
	for _, r := range []*compress.Store{on, compress.Wrap(mem, nil)} {
		evs, err := r.After(ctx, "s", store.EventID{Stream: "st"})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 3 || !bytes.Equal(evs[0].Data, big) || !bytes.Equal(evs[1].Data, small) || len(evs[2].Data) != 0 {
			t.Fatalf("After: round trip mismatch: %d events", len(evs))
		}
		log, err := r.Log(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		if len(log) != 3 || !bytes.Equal(log[0].Data, big) || !bytes.Equal(log[1].Data, small) || len(log[2].Data) != 0 {
			t.Fatalf("Log: round trip mismatch: %d events", len(log))
		}
	}
}
