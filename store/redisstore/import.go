package redisstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/mooring-dev/mooring/store"
)

// importLua writes events with the ids another store gave them (the memory
// fallback, as sessions move back after an outage), in one script over the
// session's keys: one hash tag, so one Cluster slot, and all or nothing
// with respect to other clients.
//
// KEYS: rec, ev, meta. ARGV: ttl ms, max events, max bytes, then one
// triple per event in seq order: seq (decimal), stream, data. Events at or
// below the session's last seq are left out, so a second run changes
// nothing; the last seq rises to the highest one imported, so that
// appendsLua continues above it. Seqs are compared as decimal
// strings (longer is greater, else lexical): Lua numbers are doubles and
// lose precision past 2^53. The caps are enforced (capLua) and the TTL
// restarted as appendsLua does. It returns the number of events written.
//
// Nothing after the first write can fail on valid input (XADD's id is
// above both the last seq and the newest entry), which matters because
// Redis does not undo a script's writes when it fails half way.
const importLua = capLua + `
local rec, ev, meta = KEYS[1], KEYS[2], KEYS[3]
local maxEvents, maxBytes = tonumber(ARGV[2]), tonumber(ARGV[3])

local function greater(a, b)
  if #a ~= #b then return #a > #b end
  return a > b
end

local last = redis.call('HGET', meta, 'seq') or '0'
local newest = redis.call('XREVRANGE', ev, '+', '-', 'COUNT', 1)
if #newest > 0 then
  local top = string.match(newest[1][1], '^%d+')
  if greater(top, last) then last = top end
end

local added, size = 0, 0
for i = 4, #ARGV, 3 do
  local seq, stream, data = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if greater(seq, last) then
    redis.call('XADD', ev, seq .. '-0', 's', stream, 'd', data)
    last = seq
    added = added + 1
    size = size + #data
  end
end

if added > 0 then
  local bytes = tonumber(redis.call('HGET', meta, 'bytes')) or 0
  local fields = {'seq', last}
  enforce(ev, fields, redis.call('XLEN', ev), bytes + size, maxEvents, maxBytes)
  redis.call('HSET', meta, unpack(fields))
end

redis.call('PEXPIRE', rec, ARGV[1])
redis.call('PEXPIRE', ev, ARGV[1])
redis.call('PEXPIRE', meta, ARGV[1])
return added
`

// Retryable: a second run skips what the first one wrote, so rueidis may
// resend it after a network error.
var importScript = newScript(importLua, true)

// Import implements store.Importer with one script over the session's
// keys; see importLua. The whole import is one command, so a session's
// events arrive all together or not at all.
func (s *Store) Import(ctx context.Context, session string, events []store.Event) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	events, err := store.ImportOrder(events)
	if err != nil {
		return fmt.Errorf("redisstore: import into session %q: %w", session, err)
	}
	if len(events) == 0 {
		return nil
	}
	args := make([]string, 0, 3+3*len(events))
	args = append(args, s.ttlArg, s.maxEventsArg, s.maxBytesArg)
	for _, ev := range events {
		// string(ev.Data) copies, as in Append.
		args = append(args, strconv.FormatUint(ev.ID.Seq, 10), ev.ID.Stream, string(ev.Data))
	}
	if err := importScript.exec(ctx, s.client, s.keys.session(session), args).Error(); err != nil {
		return s.fail(err, "import %d events into session %q", len(events), session)
	}
	return nil
}

var _ store.Importer = (*Store)(nil)
