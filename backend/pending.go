package backend

import (
	"context"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// CodeGone is the JSON-RPC error code of a request whose server went away
// before answering. It is the code that a restore uses for interrupted
// requests, so a client sees one kind of "retry it" error.
const CodeGone = -32000

// Pending tracks the requests sent on a connection that the server has not
// answered yet. A connection whose server dies answers them itself (Fail):
// otherwise their streams would wait for ever. The zero value is ready.
type Pending struct {
	mu    sync.Mutex
	calls map[jsonrpc.ID]string // id -> method
}

// Sent notes msg if it is a request that expects a response.
func (p *Pending) Sent(msg jsonrpc.Message) {
	req, ok := msg.(*jsonrpc.Request)
	if !ok || !req.IsCall() {
		return
	}
	p.mu.Lock()
	if p.calls == nil {
		p.calls = make(map[jsonrpc.ID]string)
	}
	p.calls[req.ID] = req.Method
	p.mu.Unlock()
}

// Answered forgets the request that msg answers, if msg is a response, and
// returns its method ("" if msg is no response to a pending request).
func (p *Pending) Answered(msg jsonrpc.Message) string {
	resp, ok := msg.(*jsonrpc.Response)
	if !ok {
		return ""
	}
	return p.forget(resp.ID)
}

// Unsent forgets msg, noted by Sent, when writing it failed: the server
// never got it, and a later Fail must not answer it.
func (p *Pending) Unsent(msg jsonrpc.Message) {
	if req, ok := msg.(*jsonrpc.Request); ok && req.IsCall() {
		p.forget(req.ID)
	}
}

// forget forgets request id and returns its method.
func (p *Pending) forget(id jsonrpc.ID) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.calls[id]
	delete(p.calls, id)
	return m
}

// Fail answers every pending request with a CodeGone error that says why,
// through h, and forgets them.
func (p *Pending) Fail(ctx context.Context, h Handler, why string) {
	p.mu.Lock()
	calls := p.calls
	p.calls = nil
	p.mu.Unlock()
	for id := range calls {
		_ = h(ctx, &jsonrpc.Response{ID: id, Error: &jsonrpc.Error{Code: CodeGone, Message: why}})
	}
}
