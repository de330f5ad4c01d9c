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

// replyDropped notes a client reply that no server request waits for: it
// is counted (OnEvent "reply_dropped") and logged at most every
// dropLogEvery, with the number dropped in between.
func (m *Manager) replyDropped(session string, id any) {
	if m.onEvent != nil {
		m.onEvent("reply_dropped")
	}
	now := m.now()
	m.drops.mu.Lock()
	if !m.drops.last.IsZero() && now.Sub(m.drops.last) < dropLogEvery {
		m.drops.since++
		m.drops.mu.Unlock()
		m.log.Debug("reply to an unknown server request dropped", "session", session, "id", id)
		return
	}
	more := m.drops.since
	m.drops.last, m.drops.since = now, 0
	m.drops.mu.Unlock()
	m.log.Warn("reply to an unknown server request dropped (one line per 10s at most)", "session", session, "id", id, "more_since_last_line", more)
}
