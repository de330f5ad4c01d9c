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
// Every write is durable before it returns: an event that Append has
// acknowledged survives a crash of the process or of the machine. It gets
// there through a write-ahead log, <path>.wal beside the bbolt file:
//
//   - One goroutine, the committer, runs every write as a logical operation
//     (an op: put, touch, delete, append, import, or the sweeper's deletion
//     of expired sessions), with the clock reading and limits it used, in a
//     bbolt write transaction that stays open across many writes.
//   - Writes of concurrent callers, appends of many sessions above all,
//     share log writes (group commit): the writes that arrive while one
//     batch is being synced go together into the next, applied to the
//     transaction and then written to the log with one write and one fsync.
//     Only then are their callers answered. A lone write goes at once,
//     with no delay to wait for company.
//   - A checkpoint commits the transaction to the bbolt file, with bbolt's
//     own fsync, when its oldest write is Options.CheckpointInterval old
//     (100 ms by default), when the log passes 16 MiB, and at Close. It
//     records the LSN (log sequence number) of the last op it holds; the
//     log then starts again.
//   - Open replays the ops that the log holds past that LSN, in order and
//     with their recorded clock readings, so a replay decides as the first
//     run did; it stops at the first record that is torn or corrupt (a
//     write that a crash cut short, never acknowledged).
//
// So a write costs an append to the log and an fsync, shared by its batch;
// the bbolt commit, which rewrites several 4 KB pages for every session a
// transaction touches and syncs twice, is paid once per checkpoint instead
// of once per batch. Measured with 32 writers on 64 sessions, this made
// appends about four times as fast as committing every batch to bbolt.
//
// Reads run on the committer too, inside the open transaction (bbolt allows
// no other reader to see it), and copy out what they return. A batch's
// reads run before its writes are applied, so a read never sees a write
// that is not in the log yet: an event id that a client was sent can never
// be lost and given to another event. Reads do not force a checkpoint.
//
// If applying an op fails (bbolt has no savepoints), the transaction is
// rolled back and rebuilt from the ops logged since the last checkpoint,
// which are kept in memory, and only the failing op gets the error. If the
// log cannot be written or synced, the batch's effects leave the
// transaction the same way, its callers get the error, and nothing is
// logged again until a checkpoint has put everything acknowledged into the
// bbolt file and restarted the log. A failed checkpoint keeps the log (and
// is retried after an interval). Ping reports a failed log write until one
// succeeds, and a failed checkpoint until one succeeds.
//
// bbolt's own DB.Batch was the first choice for group commit, but it waits
// a fixed delay before every batch and closes a batch before it gets the
// writer lock; measured against committing every batch it doubled a lone
// writer's latency and cost 32 concurrent writers a third of their
// throughput.
//
// # Layout
//
// Three root buckets:
//
//	info       format  → "1": the file holds every acknowledged write;
//	                     "2": a log beside it may hold more (see below)
//	           wal-lsn → the LSN of the last logged op the file holds
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
// Tasks (store.TaskStore) have three root buckets of their own, tasks,
// task-scopes and task-active; see tasks.go. A file written by a mooring
// that predates them gets them at Open.
//
// Open sets the format to "2" before it acknowledges any write, and Close
// sets it back to "1" in its last checkpoint, after which the log is empty.
// The buckets are those of format 1, so a mooring that predates the log
// reads a file that was closed; it refuses one that a crash left with
// writes in the log, which it would not replay (and would then contradict,
// giving their seqs to other events). Opening such a file once with this
// mooring replays the log and, at Close, makes it format 1 again.
//
// The log is a sequence of records: length (4 bytes), CRC-32C of LSN and
// op (4 bytes), LSN (8 bytes, one more than the previous record's), the
// encoded op (ops.go). After a checkpoint the log starts again at offset 0,
// overwriting the previous records in place rather than truncating: an
// fsync after an overwrite needs no file-system metadata, which made it
// about twice as fast on the machine measured. Leftovers of older records
// past the end cannot pass for new ones: their LSNs do not follow on, or
// their length or checksum fails.
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
//     them to the file system. Compact gives them back, offline (mooring
//     compact).
//   - Open refuses a damaged file (ErrDamaged): a 0-byte file, one shorter
//     than its meta page says (truncated), or one whose pages fail bbolt's
//     check, run on the whole file unless Options.SkipCheck. A damaged page
//     met later (bbolt panics on one) fails only the request that met it,
//     with an error that wraps store.ErrNotFound, and is logged. CheckFile
//     checks a closed file offline (mooring check).
//   - Session ids must be 1 to 32768 bytes long (bbolt's key limit).
//   - A call checks its context before it starts. A write that has been
//     handed to the committer is not abandoned when its context ends: it
//     may already be durable, and the caller must not believe otherwise.
//     A write that failed with an I/O error of the log may still be found
//     after a restart, as with any storage whose fsync failed.
//   - Reads and writes share one goroutine: a long read (Log or Streams of
//     a session near its caps, the sweeper's scan of up to 10000 sessions)
//     delays the writes queued behind it.
//   - The transaction holds the ops since the last checkpoint in memory
//     (bounded by the 16 MiB log), and a crash costs a replay of them at
//     the next Open.
package boltstore
