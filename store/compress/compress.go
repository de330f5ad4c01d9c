// Package compress wraps a store.Store so that event payloads above a size
// threshold are kept zstd-compressed. Every payload carries a one-byte
// format tag, so a store written with compression on stays readable with it
// off: reading always decodes, only writing depends on the setting.
package compress

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"

	"github.com/mooring-dev/mooring/store"
)

// Payload format tags.
const (
	tagRaw  = 0x00
	tagZstd = 0x01
)

// DefaultThreshold is the payload size from which compression pays: below
// it, zstd's frame overhead eats the gain.
const DefaultThreshold = 512

// Options configure a Store.
type Options struct {
	// Enabled compresses payloads of Threshold bytes or more.
	Enabled bool
	// Threshold defaults to DefaultThreshold.
	Threshold int
}

// Stats are running totals of event payload bytes.
type Stats struct {
	BytesIn     int64 // as appended
	BytesStored int64 // as written to the store, tag included
}

// Store is a store.Store whose event payloads are tagged and maybe
// compressed.
type Store struct {
	store.Store
	enabled   bool
	threshold int
	enc       *zstd.Encoder
	dec       *zstd.Decoder
	in, out   atomic.Int64
}

// Wrap returns s with payload encoding.
func Wrap(s store.Store, opts *Options) *Store {
	c := &Store{Store: s, threshold: DefaultThreshold}
	if opts != nil {
		c.enabled = opts.Enabled
		if opts.Threshold > 0 {
			c.threshold = opts.Threshold
		}
	}
	// Both are safe for concurrent EncodeAll/DecodeAll; errors only come
	// from invalid options.
	c.enc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	c.dec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(64<<20))
	return c
}

// Unwrap returns the underlying store.
func (c *Store) Unwrap() store.Store { return c.Store }

// Stats returns the byte totals since Wrap.
func (c *Store) Stats() Stats { return Stats{BytesIn: c.in.Load(), BytesStored: c.out.Load()} }

// Append implements store.Store.
func (c *Store) Append(ctx context.Context, session, stream string, data []byte) (store.EventID, error) {
	return c.Store.Append(ctx, session, stream, c.encode(data))
}

// AppendBatch implements store.Store.
func (c *Store) AppendBatch(ctx context.Context, session, stream string, data [][]byte) ([]store.EventID, error) {
	enc := make([][]byte, len(data))
	for i, d := range data {
		enc[i] = c.encode(d)
	}
	return c.Store.AppendBatch(ctx, session, stream, enc)
}

// encode tags a payload, compressed when that pays.
func (c *Store) encode(data []byte) []byte {
	var enc []byte
	if c.enabled && len(data) >= c.threshold {
		enc = c.enc.EncodeAll(data, append(make([]byte, 0, len(data)/2+8), tagZstd))
		if len(enc) >= len(data)+1 {
			enc = nil // incompressible: keep it raw
		}
	}
	if enc == nil {
		enc = append(append(make([]byte, 0, len(data)+1), tagRaw), data...)
	}
	c.in.Add(int64(len(data)))
	c.out.Add(int64(len(enc)))
	return enc
}

// After implements store.Store.
func (c *Store) After(ctx context.Context, session string, after store.EventID) ([]store.Event, error) {
	events, err := c.Store.After(ctx, session, after)
	return c.decodeAll(session, events, err)
}

// Log implements store.Store.
func (c *Store) Log(ctx context.Context, session string) ([]store.Event, error) {
	events, err := c.Store.Log(ctx, session)
	return c.decodeAll(session, events, err)
}

// decodeAll decodes, in place, the payloads of what the wrapped store read
// (events, err) from one session.
func (c *Store) decodeAll(session string, events []store.Event, err error) ([]store.Event, error) {
	if err != nil {
		return nil, err
	}
	for i := range events {
		if events[i].Data, err = c.decode(events[i].Data); err != nil {
			return nil, fmt.Errorf("compress: session %q event %s: %w", session, events[i].ID, err)
		}
	}
	return events, nil
}

func (c *Store) decode(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, fmt.Errorf("empty payload")
	}
	switch b[0] {
	case tagRaw:
		return b[1:], nil
	case tagZstd:
		return c.dec.DecodeAll(b[1:], nil)
	}
	return nil, fmt.Errorf("unknown payload tag %#x", b[0])
}

// Close implements store.Store.
func (c *Store) Close() error {
	err := c.Store.Close()
	c.enc.Close()
	c.dec.Close()
	return err
}
