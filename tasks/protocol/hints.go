package protocol

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	sdkauth "github.com/modelcontextprotocol/go-sdk/auth"
)

// hintsFor is how long the server's idempotency hints are trusted before
// tools/list is read again.
const hintsFor = time.Minute

// hints caches which tools an in-process server annotates idempotentHint:
// a task of theirs may run again after its process died.
type hints struct {
	mu   sync.Mutex // guards the fields below
	at   time.Time
	idem map[string]bool
}

// idempotent reports whether the server annotates tool idempotentHint,
// reading its tools/list (with the request's _meta and the caller's token)
// when the cache is old. A failure to read says no.
func (x *Extension) idempotent(ctx context.Context, ti *sdkauth.TokenInfo, meta map[string]any, tool string) bool {
	x.hints.mu.Lock()
	if x.hints.idem != nil && time.Since(x.hints.at) < hintsFor {
		v := x.hints.idem[tool]
		x.hints.mu.Unlock()
		return v
	}
	x.hints.mu.Unlock()
	idem := map[string]bool{}
	cursor := ""
	for range maxListPages {
		p := map[string]any{"_meta": meta}
		if cursor != "" {
			p["cursor"] = cursor
		}
		params, _ := json.Marshal(p)
		o := x.rpc(ctx, ti, "tools/list", params)
		if o.err != nil {
			x.log.Warn("tasks: tools/list for idempotency hints", "err", o.err)
			return false
		}
		var page struct {
			NextCursor string `json:"nextCursor"`
			Tools      []struct {
				Name        string `json:"name"`
				Annotations struct {
					IdempotentHint bool `json:"idempotentHint"`
				} `json:"annotations"`
			} `json:"tools"`
		}
		if json.Unmarshal(o.result, &page) != nil {
			return false
		}
		for _, t := range page.Tools {
			idem[t.Name] = t.Annotations.IdempotentHint
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	x.hints.mu.Lock()
	x.hints.idem, x.hints.at = idem, time.Now()
	x.hints.mu.Unlock()
	return idem[tool]
}
