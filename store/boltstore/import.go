package boltstore

import (
	"context"
	"fmt"

	"github.com/mooring-dev/mooring/store"
)

// Import implements store.Importer: it writes events with the ids another
// store assigned (the memory fallback, as sessions move back after an
// outage). Events whose seq is at or below the session's last seq are left
// out, so importing the same events twice changes nothing; the session's
// seq rises to the highest one imported, so that later Appends continue
// above it. Caps and the TTL apply as for Append, and the whole import of
// the session is one logged write: all of it or nothing.
func (s *Store) Import(ctx context.Context, session string, events []store.Event) error {
	if err := checkSessionID(session); err != nil {
		return fmt.Errorf("boltstore: import: %w", err)
	}
	// Checked before the write: a failure inside a shared batch would make
	// the committer rebuild its transaction.
	events, err := store.ImportOrder(events)
	if err != nil {
		return fmt.Errorf("boltstore: import into %q: %w", session, err)
	}
	if len(events) == 0 {
		return nil
	}
	if err := s.enter(ctx); err != nil {
		return err
	}
	defer s.leave()
	_, err = s.write(encodeImport(s.limits, session, events))
	if err != nil {
		return fmt.Errorf("boltstore: import %d events into %q: %w", len(events), session, err)
	}
	return nil
}

var _ store.Importer = (*Store)(nil)
