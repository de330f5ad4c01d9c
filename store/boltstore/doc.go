// Package boltstore is the embedded store.Store and mooring's default: one
// bbolt file in the data directory, for one mooring process. Sessions and
// their event logs survive restarts of that process.
//
// # Basics
//
// Open takes the path of the file and creates its parent directories if they
// are missing. The Store holds an exclusive lock on the file until Close, so
// a second mooring pointed at the same data directory (or a second Open in
// one process) fails after Options.Timeout with ErrLocked instead of
// corrupting the file or waiting forever.
//
// Every write is committed with fsync before it returns: an event that
// Append has acknowledged survives a crash of the process or of the machine.
// Writes of concurrent callers, appends of many sessions above all, share
// commits (group commit): one goroutine runs the writes, and the writes that
// arrive while one commit is being synced go together into the next, so one
// fsync serves them all. A lone write is committed at once. bbolt's own
// DB.Batch was the first choice, but it waits a fixed delay before every
// batch and closes a batch before it gets the writer lock; measured against
// this design it doubled a lone writer's latency and cost 32 concurrent
// writers a third of their throughput.
//
// # Layout
//
// Three root buckets:
//
//	info       format → the layout version ("1"), checked by Open.
//	sessions   <session id> → meta: expiry, last seq, events and bytes kept,
//	           whether a record exists (34 bytes). This is the sorted index
//	           that ListSessions pages through and the sweeper scans.
//	data       <session id> → a bucket with that session's
//	             r                        the record
//	             o <seq>                  stream id of event <seq>: the
//	                                      session's order, oldest first
//	             e <stream> 0x00 <seq>    payload of event <seq> of <stream>
//	             p <stream>               highest seq of <stream> that a cap
//	                                      removed (the purge watermark)
//
// Seqs are 8-byte big-endian, so byte order is numeric order. After is one
// cursor seek to e<stream>0x00<after+1> and a walk while the prefix holds;
// stream ids cannot contain 0x00, so one stream's prefix never matches
// another's keys. Trimming reads the first o key. Append updates the seq,
// the counts and the caps in the same transaction as the event, from the
// running totals in the meta: nothing is scanned.
//
// # Expiry
//
// A session's meta holds its expiry time; PutSession, TouchSession and Append
// move it to now+TTL, for the record and the events alike. Reads treat a
// session past its expiry as missing, and a write to one starts it afresh,
// so an expired log never comes back. A sweeper goroutine, started by Open
// and stopped by Close, deletes expired sessions from the file every
// Options.SweepInterval; a sweep that fails is logged and reported by Ping.
//
// # Caveats
//
//   - One process at a time. Several replicas need a shared store (redis).
//   - Expiry follows the machine's wall clock: setting the clock forward
//     expires sessions early, also across a restart.
//   - Payloads are stored as given and MaxBytes counts them as given; this
//     store does not compress.
//   - A purge watermark (a few bytes) stays for each stream that lost events
//     to a cap, until the session ends: a long session with very many short
//     streams grows slowly beyond its caps.
//   - Streams walks the session's order keys, so it costs up to MaxEvents
//     small reads; After and Append do not walk.
//   - The file never shrinks: bbolt reuses freed pages but does not return
//     them to the file system. Compact it offline (bbolt compact) if needed.
//   - Session ids must be 1 to 32768 bytes long (bbolt's key limit).
//   - A call checks its context before it starts. A write that has been
//     handed to a commit is not abandoned when its context ends: it may
//     already be durable, and the caller must not believe otherwise.
package boltstore
