package auth

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// statePrefix marks a requestState that mooring bound to a principal.
const statePrefix = "mrs1."

// BindRequestState returns a go-sdk receiving middleware that binds the
// requestState of multi round-trip results (2026-07-28: an input_required
// result, which the client sends back with its answers) to the principal
// of the token that the result went to: the state handed out is prefixed
// with an HMAC of the principal and the server's state, and a state that
// comes back is checked and unwrapped before the server sees it. Someone
// else's state, or a state that was altered, is refused as invalid params,
// as a server refuses a state that fails its own check. Without a token
// (no authentication) states pass unchanged.
//
// key signs the bindings; every replica must have the same one, or a state
// handed out by one is refused by another. nil makes a random key: states
// then do not outlive the process (nor do those of mooring's built-in
// server, which signs its own with a random key).
func BindRequestState(key []byte) mcp.Middleware {
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	b := &stateBinder{key: key}
	return b.middleware
}

type stateBinder struct{ key []byte }

func (b *stateBinder) middleware(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		ex := req.GetExtra()
		if ex == nil || ex.TokenInfo == nil || ex.TokenInfo.UserID == "" {
			return next(ctx, method, req)
		}
		principal := ex.TokenInfo.UserID
		if p := paramState(req.GetParams()); p != nil && *p != "" {
			inner, ok := b.open(principal, *p)
			if !ok {
				return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "requestState failed its integrity check"}
			}
			*p = inner
		}
		res, err := next(ctx, method, req)
		if s := resultState(res); s != nil && *s != "" {
			*s = b.seal(principal, *s)
		}
		return res, err
	}
}

func (b *stateBinder) mac(principal, state string) string {
	m := hmac.New(sha256.New, b.key)
	m.Write([]byte(principal))
	m.Write([]byte{0})
	m.Write([]byte(state))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (b *stateBinder) seal(principal, state string) string {
	return statePrefix + b.mac(principal, state) + "." + state
}

func (b *stateBinder) open(principal, sealed string) (string, bool) {
	rest, ok := strings.CutPrefix(sealed, statePrefix)
	if !ok {
		return "", false
	}
	sum, state, ok := strings.Cut(rest, ".")
	if !ok || !hmac.Equal([]byte(sum), []byte(b.mac(principal, state))) {
		return "", false
	}
	return state, true
}

// paramState points at the requestState of the request kinds that carry
// one back (tools/call, prompts/get, resources/read), or is nil.
func paramState(p mcp.Params) *string {
	switch p := p.(type) {
	case *mcp.CallToolParamsRaw:
		return &p.RequestState
	case *mcp.CallToolParams:
		return &p.RequestState
	case *mcp.GetPromptParams:
		return &p.RequestState
	case *mcp.ReadResourceParams:
		return &p.RequestState
	}
	return nil
}

// resultState points at the requestState of a result that hands one out,
// or is nil.
func resultState(r mcp.Result) *string {
	switch r := r.(type) {
	case *mcp.CallToolResult:
		return &r.RequestState
	case *mcp.GetPromptResult:
		return &r.RequestState
	case *mcp.ReadResourceResult:
		return &r.RequestState
	}
	return nil
}
