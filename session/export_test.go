package session

import "time"

// Compact runs the janitor's compaction of one session, as if it had been
// unused since before t.
func (s *Session) Compact(t time.Time) { s.compact(t) }

// Tables counts the session's maps that hold a table.
func (s *Session) Tables() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, made := range []bool{s.calls != nil, s.streams != nil, s.outbound != nil, s.progress != nil, s.internal != nil} {
		if made {
			n++
		}
	}
	return n
}

// Live reports whether session id is live in this manager.
func (m *Manager) Live(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.sessions[id]
	return e != nil && e.s != nil
}
