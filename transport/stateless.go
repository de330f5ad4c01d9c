package transport

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"slices"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mooring-dev/mooring/session"
)

// StatelessVersions are the protocol revisions that have no sessions
// (SEP-2567, SEP-2575): every request carries its version, client info and
// capabilities in _meta and is answered on its own POST.
var StatelessVersions = []string{"2026-07-28"}

// metaProtocolVersion is the _meta key of a stateless-era request's version.
const metaProtocolVersion = "io.modelcontextprotocol/protocolVersion"

// codeUnsupportedProtocolVersion is the JSON-RPC code of the 2026-07-28
// UnsupportedProtocolVersionError.
const codeUnsupportedProtocolVersion = -32022

// StatelessOptions configure NewStateless.
type StatelessOptions struct {
	// LocalTools are listed and answered as in sessions (see
	// session.LocalTool); their Handle gets a nil *session.Session.
	LocalTools []session.LocalTool
	// JSONResponse answers with application/json instead of an SSE stream
	// (notifications of a request, such as progress, are then dropped).
	JSONResponse bool
	Logger       *slog.Logger
}

// NewStateless returns the handler of the stateless era (2026-07-28) for
// srv, to be set as Options.Stateless. It is go-sdk's own Streamable HTTP
// handler in stateless mode around the same *mcp.Server that serves the
// sessions: go-sdk implements that revision (server/discover, the _meta and
// header checks, multi round-trip results, subscriptions/listen), and a
// stateless request has nothing for mooring to make durable. mooring keeps
// what is its own: the Origin and Host checks, the Accept, Content-Type and
// body-size checks, the error format and the local tools.
//
// It adds a receiving middleware to srv that lists and answers the local
// tools for the requests that this handler serves, and for no others.
func NewStateless(srv *mcp.Server, opts *StatelessOptions) http.Handler {
	var o StatelessOptions
	if opts != nil {
		o = *opts
	}
	s := &stateless{local: o.LocalTools}
	s.h = mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{
		Stateless:    true,
		JSONResponse: o.JSONResponse,
		Logger:       o.Logger,
		// The transport checked Host and Origin (with its allow lists) and
		// bounded the body already.
		DisableLocalhostProtection: true,
		MaxRequestBodyBytes:        -1,
		// Closing the response stream cancels the request (2026-07-28
		// cancellation), and shutdown ends subscriptions/listen streams.
		PropagateRequestCancellation: true,
	})
	if len(s.local) > 0 {
		srv.AddReceivingMiddleware(s.localTools)
	}
	return s
}

type stateless struct {
	h     *mcp.StreamableHTTPHandler
	local []session.LocalTool
}

// statelessKey marks the context of a request that a stateless handler
// serves; its value is that handler. go-sdk passes the HTTP request's
// context values on to the method handlers.
type statelessKey struct{}

func (s *stateless) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), statelessKey{}, s)))
}

// localTools adds the local tools to tools/list (first page) and answers
// their calls, for requests of this handler only.
func (s *stateless) localTools(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		if ctx.Value(statelessKey{}) != s {
			return next(ctx, method, req)
		}
		switch r := req.(type) {
		case *mcp.CallToolRequest:
			for i := range s.local {
				if lt := &s.local[i]; r.Params != nil && lt.Tool.Name == r.Params.Name {
					return lt.Handle(ctx, nil, r.Params.Arguments)
				}
			}
		case *mcp.ListToolsRequest:
			res, err := next(ctx, method, req)
			if lr, ok := res.(*mcp.ListToolsResult); ok && err == nil && (r.Params == nil || r.Params.Cursor == "") {
				for i := range s.local {
					lr.Tools = append(lr.Tools, s.local[i].Tool)
				}
			}
			return res, err
		}
		return next(ctx, method, req)
	}
}

// statelessEra reports whether a POST belongs to the stateless era: its
// MCP-Protocol-Version is a stateless revision, it is server/discover, or
// its _meta names a protocol version other than the header's (which the
// stateless handler answers with the spec's HeaderMismatch error).
func statelessEra(version string, msg jsonrpc.Message, body []byte) bool {
	if version != "" && slices.Contains(StatelessVersions, version) {
		return true
	}
	req, ok := msg.(*jsonrpc.Request)
	if !ok {
		return false
	}
	if req.Method == "server/discover" {
		return true
	}
	// Sessionful requests rarely carry the key at all: decode only then.
	if !bytes.Contains(body, []byte(metaProtocolVersion)) {
		return false
	}
	var p struct {
		Meta map[string]any `json:"_meta"`
	}
	if json.Unmarshal(req.Params, &p) != nil {
		return false
	}
	mv, _ := p.Meta[metaProtocolVersion].(string)
	return mv != "" && mv != version
}

// supportedVersions lists every revision that h serves, newest first, as
// UnsupportedProtocolVersionError reports them.
func (h *Handler) supportedVersions() []string {
	var out []string
	if h.opts.Stateless != nil {
		out = append(out, StatelessVersions...)
	}
	for i := len(Versions) - 1; i >= 0; i-- {
		out = append(out, Versions[i])
	}
	return out
}

// unsupportedVersion is the 2026-07-28 UnsupportedProtocolVersionError, with
// 400: what the spec asks for of a version that the server does not serve,
// and a recognized modern error, so that a dual-era client retries with a
// listed version instead of giving up.
func (h *Handler) unsupportedVersion(id jsonrpc.ID, requested string) error {
	data, _ := json.Marshal(struct {
		Supported []string `json:"supported"`
		Requested string   `json:"requested"`
	}{h.supportedVersions(), requested})
	return &httpError{
		status: http.StatusBadRequest,
		code:   codeUnsupportedProtocolVersion,
		msg:    "Unsupported protocol version " + requested,
		id:     id,
		data:   data,
	}
}

// serveStateless hands a checked POST of the stateless era to the stateless
// handler, with its body restored. Shutdown (Options.Done) cancels it, so
// that open subscriptions/listen streams end.
func (h *Handler) serveStateless(w http.ResponseWriter, r *http.Request, body []byte) {
	ctx := r.Context()
	if h.opts.Done != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-h.opts.Done:
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	r2 := r.WithContext(ctx)
	if r.Header.Get("Authorization") != "" || r.Header.Get("Cookie") != "" {
		// go-sdk hands the header to the server's handlers: the client's
		// credentials stay here (no token passthrough); the verified
		// token reaches them as RequestExtra.TokenInfo.
		r2.Header = r.Header.Clone()
		r2.Header.Del("Authorization")
		r2.Header.Del("Cookie")
	}
	r2.Body = io.NopCloser(bytes.NewReader(body))
	r2.ContentLength = int64(len(body))
	h.opts.Stateless.ServeHTTP(w, r2)
}
