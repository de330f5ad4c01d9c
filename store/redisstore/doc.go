// Package redisstore is the Redis store.Store: sessions and event logs that
// several mooring replicas share, on Redis 6.2 or later (standalone,
// Sentinel or Cluster) or Valkey.
//
// # URLs
//
// Options.URL takes the forms of rueidis.ParseURL, plus a comma-separated
// host list:
//
//	redis://127.0.0.1:6379                      standalone (the default)
//	redis://127.0.0.1:6379/2                    database 2 (standalone only)
//	rediss://redis.example.com:6380             TLS (add ?skip_verify=true for self-signed certificates)
//	redis://:password@host:6379                 requirepass
//	redis://user:password@host:6379             an ACL user
//	redis://h1:7000,h2:7000,h3:7000             Cluster: any reachable node(s); the
//	                                            same as redis://h1:7000?addr=h2:7000&addr=h3:7000
//	redis://user:pw@s1:26379,s2:26379/?master_set=mymaster
//	                                            Sentinel: the hosts are sentinels; user:pw
//	                                            authenticate to the master, and
//	                                            sentinel_user/sentinel_password (query) to
//	                                            the sentinels if they need it
//
// An ACL user needs its keys and the commands the store runs, for example
//
//	user mooring on >secret ~mooring:* +@read +@write +@scripting +@connection +time +info
//
// (TIME, inside scripts, dates the session index by the server's clock; INFO
// serves Info.)
//
// valkey:// and valkeys:// are accepted as synonyms. Other query parameters of
// rueidis.ParseURL work too: dial_timeout, write_timeout, protocol=2,
// client_name, max_retries=0. A single address that turns out to be a
// Cluster node is used as a Cluster.
//
// # Keys
//
// Every key starts with Options.KeyPrefix (default "mooring:"). The keys of
// one session share the hash tag {<session id>}, so that they live on one
// Cluster slot and one Lua script can change them together:
//
//	mooring:{<id>}:rec   string   the session record
//	mooring:{<id>}:ev    stream   the event log: entry id <seq>-0, fields s=<stream id>, d=<payload>
//	mooring:{<id>}:meta  hash     seq (last assigned), bytes (payload bytes kept),
//	                              p:<stream> (highest seq of that stream removed by a cap),
//	                              x (the expiry, ms, that Append last gave the keys)
//
// The characters %, { and } of a session id are percent-escaped in keys, so
// that no id can break out of its hash tag; the empty id uses the tag "%".
//
// The event log is one Redis Stream per session. XADD with the explicit id
// <seq>-0 makes the Redis entry id the event's sequence number, so After is
// one XRANGE from <after+1>-0, and trimming the oldest events is one XTRIM.
// A sorted set scored by seq would do the same range reads but keep a
// skiplist node and a dict entry per event, and needs the seq inside each
// member to keep members unique; a hash plus a list would need two reads per
// replay. Stream entries with the same field names pack tightly into
// listpacks. All streams of a session share one log because the caps apply
// to the session as a whole (oldest first, across streams), and because one
// fixed set of keys is what a Cluster-safe script can name up front.
//
// Append is one Lua script: assign seq, XADD, remove the oldest events while
// either cap is exceeded (never the new one), record per-stream purge
// watermarks, and restart the TTL of every key of the session when it is
// due (see Expiry below).
//
// The count cap is trimmed lazily: a log may hold up to an eighth of
// MaxEvents entries past the cap, which every reader (After, Streams, Log)
// leaves out as removed, and the append and import scripts trim once it
// holds more. An exact
// trim of one entry per append costs Redis more than the XADD itself; with
// the slack, appends to full logs measured 42k -> 50-54k events/s
// (BenchmarkAppend, 200000x, two runs each).
//
// Appends are group-committed. A call that finds fewer than four append
// scripts under way sends its events at once, alone; calls that come while
// four are under way queue, and the next script carries all of them (up to
// 128 events or 1 MiB), whatever their sessions. There is no timer, so a
// lone appender waits for nobody. One script does the per-session work
// once per batch: one HMGET of seq, bytes and x, one XLEN, one cap
// enforcement for all of the session's new events (one XRANGE for the
// whole excess), one HSET of seq, bytes and purge marks, and, when the
// TTL is due to restart (see Expiry below), one PEXPIREAT per key. Each
// caller gets consecutive seqs in the order of its events. A session whose keys cannot be written (WRONGTYPE, OOM) fails
// alone: its first read and first write are pcalls, before anything of it
// is written. On a Cluster a batch holds the sessions of one hash slot
// only (the slot is computed as Redis does, CRC16 of the hash tag), so
// there batches are mostly of one session.
//
// Batching saves Redis the fixed cost of a script call per event, and a
// session's own work when several of its events meet in one batch. It
// cannot save the work of each event in the steady state of a full log:
// XADD, and reading (XRANGE, for the stream and size that the purge marks
// and the byte count need) and trimming the oldest entry. Measured in
// Redis 7.0 scripts, those cost about 2, 2 and 1.5 µs per event, so
// appends of many sessions with one event each stay near 80k events/s per
// Redis thread, while XADD alone does several times that.
//
// After is one MULTI/EXEC in one round trip: EXISTS, the stream's purge
// watermark and XRANGE, atomically, so a replay is complete or ErrPurged,
// never a gap. The entries of other streams are dropped by the client: a
// script could filter them, but turning XRANGE's reply into Lua tables and
// back costs Redis' single thread about five times the XRANGE itself
// (measured: 1.35 ms against 0.27 ms for 1000 events), and that thread is
// shared by every replica. The extra bytes are bounded by the caps.
//
// Expiry is Redis' own: PEXPIRE with the store's TTL on all keys of the
// session, restarted by PutSession, TouchSession and Append. No replica
// deletes shared data on a timer. Append restarts it only when less than
// TTL - TTL/64 is left (meta's field x holds the expiry that appends last
// set, never later than the keys' real one): a busy session pays for the
// PEXPIREATs once per TTL/64 rather than on every event, and its keys
// expire at most TTL/64 (under a minute for the default hour) earlier than
// a full TTL after its last Append. PutSession and TouchSession restart it
// always.
//
// # Listing
//
// ListSessions never uses KEYS or SCAN (a SCAN on a Cluster would have to
// visit every master). Two sorted sets index the sessions that have a record:
//
//	mooring:{index}:ids  score 0, member <id>: lexical order gives stable pages
//	mooring:{index}:exp  score = when the record expires (ms, server clock), member <id>
//
// Their common hash tag puts both on one slot. PutSession, TouchSession and
// DeleteSession update them in the same round trip as the record; Append
// does not (it stays a single-slot script), so exp is a lower bound of the
// real expiry. Entries of expired sessions are removed lazily: ListSessions
// checks the records of each page and drops entries whose record is gone,
// and a janitor goroutine (Options.SweepInterval) looks at entries whose exp
// has passed, re-scores the ones an Append kept alive and drops the rest.
// Drops are conditional on exp still being in the past, inside a script, so
// a concurrent PutSession of the same id always wins.
//
// # Tasks
//
// store.TaskStore is implemented too (tasks.go): a hash per task
// (<prefix>{tasks}:t:<id>, fields s a v x d) with PEXPIREAT at its expiry
// (rounded up to the millisecond, so never early), and four sorted sets
// for the id order, the scopes, the active tasks and the janitor. Create,
// update (compare-and-swap on the version field) and delete are one
// script each, on the one hash tag {tasks}: on a Cluster every task lives
// on one slot, which keeps them atomic with their indexes and bounds task
// throughput by one shard. Lists read a page of an index and the records
// it names in one round trip; entries of expired tasks are left out, and
// the janitor drops them.
//
// # Caveats
//
// Redis evicting keys under maxmemory (any policy other than noeviction)
// loses events without a purge watermark; run the store with noeviction.
//
// After a network error (a Redis restart breaks every pooled connection
// once) rueidis resends reads and the idempotent writes (PutSession,
// TouchSession, DeleteSession, the index scripts), but not Append: whether
// a lost Append ran is unknown, and running it twice would log the event
// twice. The caller gets the error, and so does every caller whose events
// were in the same batch. A caller whose ctx ends while its events are
// queued leaves the queue and nothing is written; once its batch is under
// way its events may be written, but the others in the batch are not
// affected and it gets ctx's error, as with any cancelled command.
//
// On a Cluster the session index lives on one slot, so every PutSession,
// TouchSession and DeleteSession also touches that one node; event traffic,
// the bulk of the load, spreads by session.
//
// Events are stored as given: compression, if any, is the caller's (see
// store/compress).
package redisstore
