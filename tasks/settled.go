package tasks

import (
	"sync"
	"time"
)

// Bounds of the settled cache: a task's outcome is kept for the waiter
// that asks for it right after the end (tasks/result of a quick task), not
// as a second store.
const (
	settledKeep     = 10 * time.Second
	settledMaxTasks = 1024
	settledMaxBytes = 8 << 20
)

// settledCache holds the terminal tasks that this Manager committed, for a
// short while. A terminal task never changes again (every write of the
// Manager refuses one, and the store's compare-and-swap stops a writer
// that read it before), so until its expiry the copy here is what a
// store read would return: Get and Wait answer from it without the read.
// Only its expiry ends it (nothing deletes a task before: the Manager has
// no Delete), and get checks that.
type settledCache struct {
	mu    sync.Mutex
	tasks map[string]settledEntry
	order []settledKey // oldest first
	bytes int
}

type settledEntry struct {
	t     *Task
	until time.Time
	size  int
}

type settledKey struct {
	id    string
	added time.Time
}

// put keeps t (terminal, as committed), dropping the oldest entries past
// the bounds.
func (c *settledCache) put(t *Task, now time.Time) {
	size := len(t.Params) + len(t.Result) + len(t.State) + len(t.InputRequests) + len(t.StatusMessage) + 256
	if size > settledMaxBytes/4 {
		return // a huge result is read from the store when asked for
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tasks == nil {
		c.tasks = make(map[string]settledEntry)
	}
	c.dropLocked(t.ID)
	c.tasks[t.ID] = settledEntry{t: t.clone(), until: now.Add(settledKeep), size: size}
	c.order = append(c.order, settledKey{id: t.ID, added: now})
	c.bytes += size
	for len(c.order) > 0 && (len(c.tasks) > settledMaxTasks || c.bytes > settledMaxBytes || now.Sub(c.order[0].added) > settledKeep) {
		k := c.order[0]
		c.order[0] = settledKey{}
		c.order = c.order[1:]
		if e, ok := c.tasks[k.id]; ok && e.until.Equal(k.added.Add(settledKeep)) {
			c.dropLocked(k.id)
		}
	}
	if len(c.order) == 0 {
		c.order = nil // let the backing array go
	}
}

// get returns a copy of the settled task id, if kept and not expired by
// either clock (the store expires by the wall clock).
func (c *settledCache) get(id string, now time.Time) (*Task, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.tasks[id]
	if !ok {
		return nil, false
	}
	if now.After(e.until) || !now.Before(e.t.Expires()) || !time.Now().Before(e.t.Expires()) {
		c.dropLocked(id)
		return nil, false
	}
	return e.t.clone(), true
}

func (c *settledCache) dropLocked(id string) {
	if e, ok := c.tasks[id]; ok {
		c.bytes -= e.size
		delete(c.tasks, id)
	}
}
