package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/mooring-dev/mooring/store"
)

// The lease lives beside the session's other keys, under its hash tag: its
// value is "<token> <owner>". The token counter outlives single leases so
// that every new holder gets a larger token; it expires with the session.
//
// takeLua gives the lease to ARGV[2] under a new token if ARGV[1] holds it
// or nobody does, and renews it if ARGV[2] holds it already. It answers
// {acquired (1/0), token, holder}. With ARGV[1] = ARGV[2] it acquires.
const takeLua = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local sp = string.find(cur, ' ', 1, true)
  local tok, owner = string.sub(cur, 1, sp - 1), string.sub(cur, sp + 1)
  if owner == ARGV[2] then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    return {1, tok, owner}
  end
  if owner ~= ARGV[1] then
    return {0, tok, owner}
  end
end
local tok = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[4])
redis.call('SET', KEYS[1], tok .. ' ' .. ARGV[2], 'PX', ARGV[3])
return {1, tostring(tok), ARGV[2]}
`

// releaseLua deletes the lease if ARGV[1] holds it.
const releaseLua = `
local cur = redis.call('GET', KEYS[1])
if cur then
  local sp = string.find(cur, ' ', 1, true)
  if string.sub(cur, sp + 1) == ARGV[1] then
    redis.call('DEL', KEYS[1])
  end
end
return 0
`

var (
	releaseScript = newScript(releaseLua, true)
	// A second run finds the lease its own and renews it: safe to resend.
	takeScript = newScript(takeLua, true)
)

func (k keys) lease(id string) []string {
	base := k.prefix + "{" + hashTag(id) + "}:"
	return []string{base + "lease", base + "leasetok"}
}

// AcquireLease implements store.Leaser: a take from itself, which only a
// free lease or its own gives.
func (s *Store) AcquireLease(ctx context.Context, session, owner string, ttl time.Duration) (store.Lease, bool, error) {
	return s.TakeLease(ctx, session, owner, owner, ttl)
}

// TakeLease implements store.Leaser.
func (s *Store) TakeLease(ctx context.Context, session, from, owner string, ttl time.Duration) (store.Lease, bool, error) {
	if s.closed.Load() {
		return store.Lease{}, false, store.ErrClosed
	}
	args := []string{from, owner, strconv.FormatInt(ttl.Milliseconds(), 10), strconv.FormatInt(s.limits.TTL.Milliseconds(), 10)}
	vals, err := takeScript.exec(ctx, s.client, s.keys.lease(session), args).ToArray()
	if err != nil {
		return store.Lease{}, false, s.fail(err, "lease of session %q", session)
	}
	if len(vals) != 3 {
		return store.Lease{}, false, fmt.Errorf("redisstore: lease of session %q: %d values", session, len(vals))
	}
	ok, _ := vals[0].AsInt64()
	tokText, _ := vals[1].ToString()
	holder, _ := vals[2].ToString()
	tok, _ := strconv.ParseUint(tokText, 10, 64)
	return store.Lease{Owner: holder, Token: tok}, ok == 1, nil
}

// ReleaseLease implements store.Leaser.
func (s *Store) ReleaseLease(ctx context.Context, session, owner string) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	if err := releaseScript.exec(ctx, s.client, s.keys.lease(session), []string{owner}).Error(); err != nil {
		return s.fail(err, "release lease of session %q", session)
	}
	return nil
}

// drainingKey marks a replica (by its owner name) as draining.
func (k keys) draining(owner string) string { return k.prefix + "draining:" + owner }

// MarkDraining implements store.Leaser.
func (s *Store) MarkDraining(ctx context.Context, owner string, ttl time.Duration) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	cmd := s.client.B().Del().Key(s.keys.draining(owner)).Build()
	if ttl > 0 {
		cmd = s.client.B().Set().Key(s.keys.draining(owner)).Value("1").PxMilliseconds(max(ttl.Milliseconds(), 1)).Build()
	}
	if err := s.client.Do(ctx, cmd).Error(); err != nil {
		return s.fail(err, "draining mark of %q", owner)
	}
	return nil
}

// Draining implements store.Leaser.
func (s *Store) Draining(ctx context.Context, owner string) (bool, error) {
	if s.closed.Load() {
		return false, store.ErrClosed
	}
	n, err := s.client.Do(ctx, s.client.B().Exists().Key(s.keys.draining(owner)).Build()).AsInt64()
	if err != nil {
		return false, s.fail(err, "draining mark of %q", owner)
	}
	return n > 0, nil
}

// fenceArg is the lease token a write is made under (store.WithFence) as
// the session scripts take it: "" for a write without one.
func fenceArg(ctx context.Context) string {
	if tok, ok := store.FenceFrom(ctx); ok {
		return strconv.FormatUint(tok, 10)
	}
	return ""
}

var _ store.Leaser = (*Store)(nil)
