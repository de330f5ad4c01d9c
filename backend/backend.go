// Package backend opens connections to the MCP server that stands behind
// mooring: an in-process go-sdk mcp.Server (the built-in one or a user's)
// here; a stdio program in backend/command; an upstream Streamable HTTP
// server in backend/upstream.
//
// A connection carries JSON-RPC messages both ways. Messages from the server
// reach mooring through a Handler whose context may carry the route of the
// message: the stream of the client request it relates to. go-sdk servers
// mounted with InProcess report it exactly; other backends leave it empty
// and the session falls back to progress tokens and the GET stream.
package backend

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ErrClosed is returned by Send on a closed connection.
var ErrClosed = errors.New("backend: connection closed")

// ErrGone is wrapped by the errors of a connection that the server ended on
// its own: a program that exited, an upstream that forgot the session. The
// session is not lost: a fresh connection, given the session's state again,
// serves it.
var ErrGone = errors.New("backend: the server ended the connection")

// Watched is implemented by connections that the server can end on its own.
// Done is closed once the connection is over, whoever ended it; a session
// that did not close it itself then knows that its backend is gone.
type Watched interface {
	Done() <-chan struct{}
}

// Remote is implemented by connections to a server that keeps a session of
// its own (an upstream HTTP server): RemoteSession is its id, "" until the
// server assigned one. The session record keeps it, so that a process that
// restores the session after a crash can end the one it left behind.
type Remote interface {
	RemoteSession() string
}

// RemoteEnder is implemented by openers whose servers keep sessions of
// their own: EndRemote ends one that no connection holds any more (left
// behind by a process that died), so that it does not pile up on a server
// that never expires sessions. version is the protocol version that the
// session negotiated. A session that the server no longer knows is not an
// error.
type RemoteEnder interface {
	EndRemote(ctx context.Context, id, version string) error
}

// RouteHeader is the header that mooring sets in mcp.RequestExtra.Header of
// every request it delivers: the stream that messages caused by the request
// belong to.
const RouteHeader = "Mooring-Stream"

// Handler receives every message that the server sends. It is called
// concurrently, from the server's goroutines; ctx is the server's context for
// the message (see Route).
type Handler func(ctx context.Context, msg jsonrpc.Message) error

// Opener opens one backend connection per session.
type Opener interface {
	Open(ctx context.Context, sessionID string, h Handler) (Conn, error)
}

// Conn is mooring's end of a connection to the server.
type Conn interface {
	// Send delivers one message to the server.
	Send(ctx context.Context, msg jsonrpc.Message) error
	// Close ends the connection; it is idempotent.
	Close() error
}

type routeKey struct{}

// Route returns the stream that the message sent with ctx relates to, if the
// backend could tell.
func Route(ctx context.Context) string {
	s, _ := ctx.Value(routeKey{}).(string)
	return s
}

// InProcess serves sessions from a go-sdk server in this process. Each session
// gets its own mcp.ServerSession, as go-sdk's own HTTP handler would give it.
type InProcess struct {
	server *mcp.Server
}

// NewInProcess mounts server behind mooring. It adds a receiving middleware
// to server that tells mooring which request a notification or a
// server-to-client request belongs to, so that it goes on that request's
// stream.
func NewInProcess(server *mcp.Server) *InProcess {
	server.AddReceivingMiddleware(routeMiddleware)
	return &InProcess{server: server}
}

func routeMiddleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if ex := req.GetExtra(); ex != nil && ex.Header != nil {
			if r := ex.Header.Get(RouteHeader); r != "" {
				ctx = context.WithValue(ctx, routeKey{}, r)
			}
		}
		return next(ctx, method, req)
	}
}

// Open implements Opener.
func (p *InProcess) Open(ctx context.Context, sessionID string, h Handler) (Conn, error) {
	c := &pipe{
		sessionID: sessionID,
		handler:   h,
		in:        make(chan jsonrpc.Message, 8),
		done:      make(chan struct{}),
	}
	// The session outlives ctx (the HTTP request that opened it).
	ss, err := p.server.Connect(context.WithoutCancel(ctx), c, nil)
	if err != nil {
		return nil, fmt.Errorf("backend: connect in-process server: %w", err)
	}
	c.ss = ss
	return c, nil
}

// pipe is both ends of an in-process connection: mcp.Transport and
// mcp.Connection for the server, Conn for mooring. Messages pass as values,
// never encoded.
type pipe struct {
	sessionID string
	handler   Handler
	in        chan jsonrpc.Message
	done      chan struct{}
	once      sync.Once
	ss        *mcp.ServerSession
}

// Connect implements mcp.Transport.
func (c *pipe) Connect(context.Context) (mcp.Connection, error) { return serverEnd{c}, nil }

// Send implements Conn.
func (c *pipe) Send(ctx context.Context, msg jsonrpc.Message) error {
	select {
	case c.in <- msg:
		return nil
	case <-c.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close implements Conn.
func (c *pipe) Close() error {
	c.once.Do(func() { close(c.done) })
	if c.ss != nil {
		// Ends the server's session; its Read sees done and returns.
		_ = c.ss.Close()
	}
	return nil
}

// serverEnd is the mcp.Connection that the server reads from and writes to.
type serverEnd struct{ c *pipe }

func (s serverEnd) Read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case msg := <-s.c.in:
		return msg, nil
	case <-s.c.done:
		return nil, mcp.ErrConnectionClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s serverEnd) Write(ctx context.Context, msg jsonrpc.Message) error {
	select {
	case <-s.c.done:
		return mcp.ErrConnectionClosed
	default:
	}
	return s.c.handler(ctx, msg)
}

func (s serverEnd) Close() error {
	s.c.once.Do(func() { close(s.c.done) })
	return nil
}

func (s serverEnd) SessionID() string { return s.c.sessionID }
