package tasks

// Abandon stops the Manager as kill -9 would: its runners and sweep stop,
// and it writes nothing more (no outcome, no lease release).
func (m *Manager) Abandon() {
	m.halted.Store(true)
	m.mu.Lock()
	for _, r := range m.running {
		r.cancel(errLost)
	}
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
}
