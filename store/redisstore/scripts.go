package redisstore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"

	"github.com/redis/rueidis"
)

// The Lua scripts. Session scripts take KEYS rec, ev, meta, lease of one
// session (one hash tag, so one Cluster slot); index scripts take KEYS ids,
// exp.
// Sequence numbers travel as decimal strings and are compared as such
// (longer is greater, else lexical), because Lua numbers are doubles and
// lose precision past 2^53.

// capLua defines enforce(ev, fields, count, bytes, maxEvents, maxBytes):
// when the log holds more than maxEvents + spare entries (spare is an
// eighth of maxEvents, at least one) or more than maxBytes, it removes the oldest entries until both caps hold, never
// the newest one, and adds to fields (an HSET argument list for the meta
// hash) the bytes kept and the last removed seq of each stream that lost
// events (the purge marks). The caller writes fields with one HSET,
// together with its own. XRANGE copies payloads into Lua, so it reads only
// as many entries as the count cap needs, and a few at a time while the
// byte cap does not hold yet. appendsLua and importLua both start with it.
//
// The spare lets the count go past the cap before anything is removed, so that
// appends at the cap trim once per spare + 1 events instead of once per
// batch: an exact XTRIM of one entry costs Redis more than the XADD (it
// walks the entries already marked deleted in the stream's first node),
// and each trim needs an XRANGE. The entries past the cap that the log
// holds meanwhile are the oldest ones, and readers treat them as removed
// (see excess), so that what After, Streams and Log see is exactly what
// trimming at the cap on every append would leave. The byte cap has no
// spare, so the log never holds more than maxBytes.
const capLua = `
local function enforce(ev, fields, count, bytes, maxEvents, maxBytes)
  if count > maxEvents + math.floor((maxEvents + 7) / 8) or bytes > maxBytes then
    local purged, from = {}, '-'
    while count > 1 and (count > maxEvents or bytes > maxBytes) do
      local n = count - maxEvents
      if n < 1 then n = 8 elseif n > 256 then n = 256 end
      local batch = redis.call('XRANGE', ev, from, '+', 'COUNT', n)
      if #batch == 0 then break end
      for _, e in ipairs(batch) do
        if count <= 1 or (count <= maxEvents and bytes <= maxBytes) then break end
        local f = e[2] -- s, <stream>, d, <data>
        purged[f[2]] = e[1]
        bytes = bytes - #f[4]
        count = count - 1
        from = '(' .. e[1]
      end
    end
    redis.call('XTRIM', ev, 'MAXLEN', count)
    for s, last in pairs(purged) do
      fields[#fields + 1] = 'p:' .. s
      fields[#fields + 1] = string.match(last, '^%d+')
    end
  end
  fields[#fields + 1] = 'bytes'
  fields[#fields + 1] = string.format('%d', bytes) -- cheaper for Redis than a Lua number
end
`

// fenceLua defines fence(lease, tok): the check of a write made under a
// lease token (store.WithFence). tok is the token as a decimal string,
// empty for a write without one. It returns nil if the write may go on: no
// token, or the lease value ("<token> <owner>", see lease.go) still starts
// with it, or there is no lease. Otherwise it returns an error reply:
// FENCED when the lease is held under another token (another replica took
// the session after this one paused past its lease), or the error of the
// GET. A lease that ran out with nobody taking it does not fence: no other
// replica owns the session, and one that takes it later restores it from
// what is stored, this write included (the check and the write are one
// script). It is what a holder meets after a Redis outage or restart, when
// its lease expired while its renewals could not reach Redis. One GET per
// session and script, whatever the number of events.
const fenceLua = `
local function fence(lease, tok)
  if tok == '' then return nil end
  local cur = redis.pcall('GET', lease)
  if type(cur) == 'table' then return cur end
  if cur and string.sub(cur, 1, #tok + 1) ~= tok .. ' ' then
    return {err = 'FENCED the session lease is not held under token ' .. tok}
  end
  return nil
end
`

// appendsLua appends the events of one batch, for one or more sessions
// (on a Cluster, sessions of one slot). KEYS: rec, ev, meta, lease of each
// session. ARGV: ttl ms, max events, max bytes, refresh ms (see below),
// then for each session, in the order of KEYS, its fence token (empty for
// none), its number of events n and n pairs of stream, data. It returns
// one reply per session: the seq of its first event (its others follow
// one by one), or an error (FENCED if the session's lease is no longer
// held under its token; see fenceLua).
//
// What need not be done per event is done once per session: one HMGET
// reads the last seq and the bytes kept, one HSET writes them back with the
// purge marks, the caps are enforced once after all of the session's
// events (one XRANGE for the whole excess, and for a full log at most
// once per spare + 1 events, see capLua), and the TTL restarts at most once.
//
// The TTL restarts only when it is due: meta's field x holds the expiry
// (ms, server clock) that the script last gave the session's keys, and
// the script gives them a new one (PEXPIREAT, and x with it) only when x
// is less than now + ttl - refresh, that is at most once per refresh ms
// of a busy session (three PEXPIREATs per event were a third of an
// append's cost). x is never later than any key's real expiry: only
// this script writes it, with the PEXPIREATs, and everything else that
// sets a TTL (PutSession, TouchSession, Import) sets a later one. So a
// session's keys expire no earlier than ttl - refresh after its last
// append; refresh is ttl/64 (see refreshArg). The expiry is restarted
// whatever x says when meta has no x (a new session, or one written before
// x existed) and when the log held nothing before this batch (so that a
// log created by XADD never lacks a TTL).
//
// A session whose keys cannot be written (WRONGTYPE, a stale seq below the
// log's newest entry, OOM) fails alone, before anything of it is written:
// its first read and first write are pcalls, and once those have
// succeeded nothing later can fail on keys of the right types. Should it
// anyway, the script stops with the error and the batch fails as a whole,
// with the sessions before it appended, as a failed AppendBatch leaves its
// leading events.
const appendsLua = capLua + fenceLua + `
local maxEvents, maxBytes = tonumber(ARGV[2]), tonumber(ARGV[3])
-- PEXPIREAT with a time computed once costs Redis less than PEXPIRE,
-- which it rewrites into a PEXPIREAT for every key.
local t = redis.call('TIME')
local expireAt = t[1] * 1000 + math.floor(t[2] / 1000) + tonumber(ARGV[1])
local expireArg = string.format('%d', expireAt)
-- A key whose expiry (x) is before due gets a new one.
local due = expireAt - tonumber(ARGV[4])

-- incr returns the decimal string s plus one.
local function incr(s)
  local i = #s
  while i > 0 and string.byte(s, i) == 57 do i = i - 1 end -- trailing 9s
  if i == 0 then return '1' .. string.rep('0', #s) end
  return string.sub(s, 1, i - 1) .. string.char(string.byte(s, i) + 1) .. string.rep('0', #s - i)
end

local function appendTo(rec, ev, meta, from, to)
  local m = redis.pcall('HMGET', meta, 'seq', 'bytes', 'x')
  if m.err then return m end
  local seq, bytes = incr(m[1] or '0'), tonumber(m[2]) or 0
  local first = seq
  local r = redis.pcall('XADD', ev, seq .. '-0', 's', ARGV[from], 'd', ARGV[from + 1])
  if type(r) == 'table' and r.err then return r end
  bytes = bytes + #ARGV[from + 1]
  for i = from + 2, to, 2 do
    seq = incr(seq)
    redis.call('XADD', ev, seq .. '-0', 's', ARGV[i], 'd', ARGV[i + 1])
    bytes = bytes + #ARGV[i + 1]
  end
  local fields = {'seq', seq}
  local count = redis.call('XLEN', ev)
  -- count <= the events just added: the log was new (see above).
  local x = tonumber(m[3])
  local restart = not x or x < due or count <= (to - from + 1) / 2
  enforce(ev, fields, count, bytes, maxEvents, maxBytes)
  if restart then
    fields[#fields + 1] = 'x'
    fields[#fields + 1] = expireArg
  end
  redis.call('HSET', meta, unpack(fields))
  if restart then
    redis.call('PEXPIREAT', rec, expireArg)
    redis.call('PEXPIREAT', ev, expireArg)
    redis.call('PEXPIREAT', meta, expireArg)
  end
  return first
end

local out, a = {}, 5
for k = 1, #KEYS, 4 do
  local n = tonumber(ARGV[a + 1])
  local r = fence(KEYS[k + 3], ARGV[a])
  if r == nil then
    r = appendTo(KEYS[k], KEYS[k + 1], KEYS[k + 2], a + 2, a + 1 + 2 * n)
  end
  out[#out + 1] = r
  a = a + 2 + 2 * n
end
return out
`

// putLua writes the record and restarts the TTL of the session's keys.
// ARGV: data, ttl ms, fence token (empty for none).
const putLua = fenceLua + `
local f = fence(KEYS[4], ARGV[3])
if f then return f end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
return 1
`

// touchLua restarts the TTL of the session's keys if the record exists.
// ARGV: ttl ms, fence token (empty for none). It returns 1 if it did, 0 if
// there is no record.
const touchLua = fenceLua + `
local f = fence(KEYS[4], ARGV[2])
if f then return f end
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('PEXPIRE', KEYS[2], ARGV[1])
redis.call('PEXPIRE', KEYS[3], ARGV[1])
return 1
`

// indexLua records when a session expires, by the clock of the node that
// holds the index, so that pruneLua compares like with like. ARGV: id, ttl
// ms, mode. Mode "put" adds the id to both sets; "touch" only re-scores an
// id that is already indexed, so touching an unknown id adds nothing.
const indexLua = `
local t = redis.call('TIME')
local exp = string.format('%d', t[1] * 1000 + math.floor(t[2] / 1000) + tonumber(ARGV[2]))
if ARGV[3] == 'touch' then
  redis.call('ZADD', KEYS[2], 'XX', exp, ARGV[1])
else
  redis.call('ZADD', KEYS[1], 0, ARGV[1])
  redis.call('ZADD', KEYS[2], exp, ARGV[1])
end
return 1
`

// pruneLua settles index entries whose records looked expired or alive to
// the caller. ARGV: pairs of id and the record's remaining ms (0 = gone).
// An entry whose exp is still in the future was written after the caller
// looked (a concurrent PutSession or TouchSession) and is left alone. It
// returns the number of entries removed.
const pruneLua = `
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local removed = 0
for i = 1, #ARGV, 2 do
  local id, left = ARGV[i], tonumber(ARGV[i + 1])
  local score = redis.call('ZSCORE', KEYS[2], id)
  if not score or tonumber(score) <= now then
    if left > 0 then
      redis.call('ZADD', KEYS[2], string.format('%d', now + left), id)
    else
      redis.call('ZREM', KEYS[1], id)
      redis.call('ZREM', KEYS[2], id)
      removed = removed + 1
    end
  end
end
return removed
`

// script is a Lua script run by EVALSHA with a fallback to EVAL when the
// server does not know it yet (after a restart or SCRIPT FLUSH).
type script struct {
	lua       *rueidis.Lua
	src, sha  string
	retryable bool
}

// newScript prepares a script. A retryable one is sent again by rueidis
// after a network error (a Redis restart breaks every pooled connection
// once), which is safe only if running it twice does what running it once
// does.
func newScript(src string, retryable bool) *script {
	sum := sha1.Sum([]byte(src))
	s := &script{src: src, sha: hex.EncodeToString(sum[:]), retryable: retryable}
	if retryable {
		s.lua = rueidis.NewLuaScriptRetryable(src)
	} else {
		s.lua = rueidis.NewLuaScript(src)
	}
	return s
}

var (
	// Not retryable: if the reply was lost, a second run would append the
	// events again under new seqs. The callers see the error instead.
	appendsScript = newScript(appendsLua, false)

	// These set state rather than change it, so a second run is harmless.
	putScript   = newScript(putLua, true)
	touchScript = newScript(touchLua, true)
	indexScript = newScript(indexLua, true)
	pruneScript = newScript(pruneLua, true)
)

// exec runs the script alone.
func (s *script) exec(ctx context.Context, c rueidis.Client, keys, args []string) rueidis.RedisResult {
	return s.lua.Exec(ctx, c, keys, args)
}

// call is one script invocation for execMulti.
type call struct {
	script *script
	keys   []string
	args   []string
}

// execMulti runs several scripts in one round trip (per node, on a
// Cluster), then repeats with EVAL those the server did not know.
// rueidis' Lua.ExecMulti would SCRIPT LOAD on every node each time.
func execMulti(ctx context.Context, c rueidis.Client, calls ...call) []rueidis.RedisResult {
	cmds := make(rueidis.Commands, len(calls))
	for i, cl := range calls {
		cmds[i] = cl.script.retry(c.B().Evalsha().Sha1(cl.script.sha).Numkeys(int64(len(cl.keys))).Key(cl.keys...).Arg(cl.args...).Build())
	}
	res := c.DoMulti(ctx, cmds...)
	for i, r := range res {
		if re, ok := rueidis.IsRedisErr(r.Error()); ok && re.IsNoScript() {
			cl := calls[i]
			res[i] = c.Do(ctx, cl.script.retry(c.B().Eval().Script(cl.script.src).Numkeys(int64(len(cl.keys))).Key(cl.keys...).Arg(cl.args...).Build()))
		}
	}
	return res
}

func (s *script) retry(cmd rueidis.Completed) rueidis.Completed {
	if s.retryable {
		return cmd.ToRetryable()
	}
	return cmd
}
