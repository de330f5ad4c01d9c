package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// tokenCache remembers verification outcomes by the token's hash (it holds
// no token), each until a deadline that the verifier chooses: never past
// the token's exp. A nil info is a cached refusal. It holds at most limit
// entries: when full, the expired ones go, and if that is not enough, all.
type tokenCache struct {
	limit int

	mu sync.Mutex // guards m
	m  map[[32]byte]cached
}

type cached struct {
	info  *TokenInfo
	until time.Time
}

func newTokenCache(limit int) *tokenCache {
	return &tokenCache{limit: limit, m: make(map[[32]byte]cached)}
}

func (c *tokenCache) get(token string, now time.Time) (info *TokenInfo, ok bool) {
	key := sha256.Sum256([]byte(token))
	c.mu.Lock()
	e, ok := c.m[key]
	c.mu.Unlock()
	if !ok || !now.Before(e.until) {
		return nil, false
	}
	return e.info, true
}

func (c *tokenCache) put(token string, info *TokenInfo, until, now time.Time) {
	if !now.Before(until) {
		return
	}
	key := sha256.Sum256([]byte(token))
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= c.limit {
		for k, v := range c.m {
			if !now.Before(v.until) {
				delete(c.m, k)
			}
		}
		if len(c.m) >= c.limit {
			clear(c.m)
		}
	}
	c.m[key] = cached{info: info, until: until}
}
