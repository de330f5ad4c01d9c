package session

import (
	"sync"
	"time"
)

// dropLogEvery is the least time between two log lines about dropped
// replies: a client can send any number of replies to requests that were
// never made, and must not flood the log with them.
const dropLogEvery = 10 * time.Second

// dropLog rate-limits the log line of dropped replies.
type dropLog struct {
	mu    sync.Mutex // guards the fields below
	last  time.Time  // of the last line written
	since int        // replies dropped without a line since then
}

// allow reports whether a line may be written at now, and how many were
// held back since the last one; a line held back is counted.
func (d *dropLog) allow(now time.Time) (more int, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.last.IsZero() && now.Sub(d.last) < dropLogEvery {
		d.since++
		return 0, false
	}
	more = d.since
	d.last, d.since = now, 0
	return more, true
}

// replyDropped notes a client reply that no server request waits for: it
// is counted (OnEvent "reply_dropped") and logged at most every
// dropLogEvery, with the number dropped in between.
func (m *Manager) replyDropped(session string, id any) {
	if m.onEvent != nil {
		m.onEvent("reply_dropped")
	}
	more, ok := m.drops.allow(m.now())
	if !ok {
		m.log.Debug("reply to an unknown server request dropped", "session", session, "id", id)
		return
	}
	m.log.Warn("reply to an unknown server request dropped (one line per 10s at most)", "session", session, "id", id, "more_since_last_line", more)
}
