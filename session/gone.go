package session

import (
	"context"
	"errors"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mooring-dev/mooring/backend"
)

// A backend connection can end without mooring closing it: a stdio program
// exits, an upstream server restarts and forgets its session. The session
// itself is not lost (its record is in the store), so this process drops it
// from memory and the next request restores it into a fresh connection, as
// after a restart of mooring. In-process backends never end on their own and
// take none of these paths.

// watchBackend drops the session when its backend connection ends on its
// own (backend.Watched); one goroutine per such connection.
func (s *Session) watchBackend() {
	w, ok := s.conn.(backend.Watched)
	if !ok {
		return
	}
	go func() {
		<-w.Done()
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if !closed {
			s.m.log.Warn("backend connection ended; the session's next request restores it", "session", s.id)
			s.m.forget(s)
		}
	}()
}

type againKey struct{}

// restored reports whether a send that failed with err is to be tried once
// more on the session restored in a fresh backend connection, and returns
// that session. A session that was never saved cannot be restored; a second
// failure is reported.
func (s *Session) restored(ctx context.Context, err error) (*Session, context.Context, bool) {
	if !errors.Is(err, backend.ErrGone) {
		return nil, ctx, false
	}
	s.m.forget(s)
	s.mu.Lock()
	saved := s.saved
	s.mu.Unlock()
	if !saved || ctx.Value(againKey{}) != nil {
		return nil, ctx, false
	}
	ns, gerr := s.m.Get(ctx, s.id)
	if gerr != nil {
		s.m.log.Error("restoring a session whose backend was gone", "session", s.id, "err", gerr)
		return nil, ctx, false
	}
	return ns, context.WithValue(ctx, againKey{}, true), true
}

// callAgain sends a request whose backend was gone to the restored session;
// the subscription that it returns belongs to that session.
func (s *Session) callAgain(ctx context.Context, req *jsonrpc.Request, opts CallOptions, err error) (*Sub, error) {
	ns, ctx, ok := s.restored(ctx, err)
	if !ok {
		return nil, err
	}
	return ns.Call(ctx, req, opts)
}

// notifyAgain does the same for a notification. notifications/initialized
// is not sent again: the restore replayed it.
func (s *Session) notifyAgain(ctx context.Context, req *jsonrpc.Request, err error) error {
	ns, ctx, ok := s.restored(ctx, err)
	if !ok {
		return err
	}
	if req.Method == "notifications/initialized" {
		return nil
	}
	return ns.Notify(ctx, req)
}
