package fallback

import (
	"context"
	"fmt"

	"github.com/mooring-dev/mooring/store"
)

// CountSessions implements store.Counter with the primary's count, bounded
// by OpTimeout like every other call: the session manager counts under a
// lock at initialize (--max-stored-sessions), and a count that waited on a
// hung primary would hold every new session. While degraded it fails: the
// cap guards the primary, and memory holds only what the outage made. A
// failed count does not degrade the store; the next store call decides.
func (s *Store) CountSessions(ctx context.Context) (int, error) {
	s.mu.RLock()
	p, degraded, reason := s.primary, s.degraded, s.reason
	s.mu.RUnlock()
	c, ok := p.(store.Counter)
	switch {
	case degraded:
		return 0, fmt.Errorf("%w: degraded, the primary store cannot be counted: %v", store.ErrUnavailable, reason)
	case !ok:
		return 0, fmt.Errorf("%w: the primary store does not count its sessions", store.ErrUnavailable)
	}
	pctx, cancel := context.WithTimeout(ctx, s.opts.OpTimeout)
	defer cancel()
	n, err := c.CountSessions(pctx)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", store.ErrUnavailable, err)
	}
	return n, nil
}

var _ store.Counter = (*Store)(nil)
