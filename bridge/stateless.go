package bridge

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// statelessCall relays one request of the 2026-07-28 era: its own POST,
// with the headers that era requires. The era has no resumption: a stream
// that breaks before the answer is sent again when the request is safe to
// repeat, and answered with an error otherwise.
func (b *Bridge) statelessCall(c *call, raw []byte) {
	h := hdr{version: metaVersion(c.params), method: c.method}
	if h.version == "" {
		h.version = Stateless
	}
	name := nameOf(c.method, c.params)
	if name != "" {
		h.name = headerValue(name)
	}
	if c.method == "tools/call" {
		b.mu.Lock()
		bindings := b.params[name]
		b.mu.Unlock()
		h.params = paramHeaders(bindings, c.params)
	}
	deadline := time.Now().Add(b.opts.ResumeFor)
	bo := newBackoff(0)
	for {
		resp, err := b.doWait(c.ctx, raw, h, false)
		var why error
		switch {
		case errors.Is(err, errBroken):
			why = err
		case err != nil:
			if c.ctx.Err() == nil {
				b.fail(c, codeConnection, "mooring connect: "+c.method+": "+explain(err))
			}
			return
		case resp.StatusCode/100 != 2 || resp.StatusCode == 202:
			b.finishError(c, errorFromStatus(resp))
			return
		default:
			st := &stream{}
			why = b.relay(c, resp, st)
			if b.isDone(c) {
				return
			}
			if st.events > 0 {
				deadline, bo = time.Now().Add(b.opts.ResumeFor), newBackoff(0)
			}
			if why == nil {
				why = errors.New("the stream ended without an answer")
			}
		}
		if b.again(c, deadline, bo, why) {
			continue
		}
		if c.ctx.Err() == nil {
			b.fail(c, codeConnection, fmt.Sprintf("mooring connect: %s: %v; protocol %s has no stream resumption: %sthe result of this call is lost",
				c.method, why, h.version, notRepeated(b.safeToRepeat(c))))
		}
		return
	}
}

// nameOf is the Mcp-Name header of a request: the tool, prompt or resource
// it names.
func nameOf(method string, params json.RawMessage) string {
	var p struct {
		Name string `json:"name"`
		URI  string `json:"uri"`
	}
	_ = json.Unmarshal(params, &p)
	switch method {
	case "tools/call", "prompts/get":
		return p.Name
	case "resources/read":
		return p.URI
	}
	return ""
}
