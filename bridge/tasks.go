package bridge

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Running calls as tasks (2025-11-25, SEP-1686). When the server offers
// tasks for tools/call and a tool says it can run as one
// (execution.taskSupport optional or required), a plain call of the client
// is sent as a task (params.task); the server answers at once with the
// task, and the bridge then asks tasks/result, which waits for the outcome
// and returns exactly what the plain call would have. The client sees a
// plain result. What it buys: tasks/result is safe to send again, so the
// outcome survives a stream that cannot be resumed, and with a server that
// keeps tasks durably (mooring) a restart of the server too. A tool whose
// support is "required" becomes usable by a client that knows no tasks.

// taskTTL is the time to live the bridge asks for: long enough for the
// call and an outage around it; the server may shorten it.
func (b *Bridge) taskTTL() time.Duration { return max(time.Hour, 2*b.opts.ResumeFor) }

// offersToolTasks reports whether an initialize result offers tasks for
// tools/call (capabilities.tasks.requests.tools.call).
func offersToolTasks(result json.RawMessage) bool {
	var r struct {
		Capabilities struct {
			Tasks *struct {
				Requests *struct {
					Tools *struct {
						Call json.RawMessage `json:"call"`
					} `json:"tools"`
				} `json:"requests"`
			} `json:"tasks"`
		} `json:"capabilities"`
	}
	if json.Unmarshal(result, &r) != nil {
		return false
	}
	t := r.Capabilities.Tasks
	return t != nil && t.Requests != nil && t.Requests.Tools != nil && t.Requests.Tools.Call != nil
}

// asTask returns raw with params.task added when c is to run as a task.
func (b *Bridge) asTask(c *call, raw []byte) []byte {
	if b.opts.NoTasks || c.method != "tools/call" || c.reply != nil {
		return raw
	}
	var p map[string]json.RawMessage
	if json.Unmarshal(c.params, &p) != nil || p["task"] != nil {
		return raw // the client asked for a task itself: relayed as is
	}
	var name string
	_ = json.Unmarshal(p["name"], &name)
	b.mu.Lock()
	ok := b.sess.tasks && b.tasked[name]
	b.mu.Unlock()
	if !ok {
		return raw
	}
	p["task"], _ = json.Marshal(map[string]int64{"ttl": b.taskTTL().Milliseconds()})
	params, _ := json.Marshal(p)
	raw, _ = jsonrpc.EncodeMessage(&jsonrpc.Request{ID: c.id, Method: c.method, Params: params})
	b.mu.Lock()
	c.taskID = "?" // asked for; the id comes with the answer
	b.mu.Unlock()
	b.log.Debug("running a call as a task", "id", c.id.Raw(), "tool", name)
	return raw
}

// taskCreated takes the server's CreateTaskResult for a call sent as a
// task: it keeps the task id instead of answering the client.
func (b *Bridge) taskCreated(c *call, resp *jsonrpc.Response) bool {
	b.mu.Lock()
	asked := c.taskID == "?" && c.method == "tools/call"
	b.mu.Unlock()
	if !asked || resp.Error != nil {
		return false
	}
	var r struct {
		Task *struct {
			TaskID string `json:"taskId"`
			Status string `json:"status"`
		} `json:"task"`
	}
	if json.Unmarshal(resp.Result, &r) != nil || r.Task == nil || r.Task.TaskID == "" {
		return false // a plain result: the server ran it without a task
	}
	b.mu.Lock()
	c.taskID = r.Task.TaskID
	b.mu.Unlock()
	b.log.Info("the server runs the call as a task", "id", c.id.Raw(), "task", r.Task.TaskID, "status", r.Task.Status)
	return true
}

// taskPending reports whether c's task was created and its result is yet
// to be fetched (again).
func (b *Bridge) taskPending(c *call) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !c.answered && c.taskID != "" && c.taskID != "?" && (c.method == "tools/call" || c.taskErr)
}

// heldTaskError holds back an error answer to tasks/result until the task
// says whether it is the outcome: a server that restarted answers the
// tasks/result that was waiting with an error of its own (mooring: "request
// interrupted … retry it") while the task itself goes on or is done.
func (b *Bridge) heldTaskError(c *call, resp *jsonrpc.Response) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if resp.Error == nil || c.method != "tasks/result" || c.taskFinal || c.answered {
		return false
	}
	c.taskErr = true
	b.log.Info("tasks/result failed; asking the task", "id", c.id.Raw(), "task", c.taskID, "err", resp.Error)
	return true
}

// maxTaskTries bounds how often tasks/result is sent again after errors
// while the task is still running.
const maxTaskTries = 20

// nextTaskFetch returns the tasks/result request for c's task: the first,
// or, after a held-back error, another one once tasks/get has told whether
// the task is over (then the next answer is relayed, whatever it is).
func (b *Bridge) nextTaskFetch(c *call, bo *backoff) []byte {
	b.mu.Lock()
	held, id := c.taskErr, c.taskID
	c.taskErr = false
	if held {
		c.taskTries++
		if c.taskTries >= maxTaskTries {
			c.taskFinal = true
		}
	}
	b.mu.Unlock()
	if held {
		status := b.taskStatus(c, id)
		switch status {
		case "completed", "failed", "cancelled", "":
			// Over (or unknown): the next answer is the outcome.
			b.mu.Lock()
			c.taskFinal = true
			b.mu.Unlock()
		default:
			sleep(c.ctx, bo.next())
		}
		b.log.Info("fetching the task's result again", "id", c.id.Raw(), "task", id, "status", status)
	}
	return b.fetchTask(c)
}

// taskStatus asks tasks/get for the status of task id; "" when that fails.
func (b *Bridge) taskStatus(c *call, id string) string {
	h, _, err := b.current(c.ctx)
	if err != nil {
		return ""
	}
	own, raw := b.own("tasks/get", map[string]string{"taskId": id})
	resp, err := b.doWait(c.ctx, raw, h, true)
	if err != nil {
		b.drop(own)
		return ""
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		b.drop(own)
		return ""
	}
	res, err := b.await(own, resp)
	if err != nil {
		return ""
	}
	var t struct {
		Status string `json:"status"`
		Task   *struct {
			Status string `json:"status"`
		} `json:"task"`
	}
	_ = json.Unmarshal(res.Result, &t)
	if t.Status == "" && t.Task != nil {
		t.Status = t.Task.Status
	}
	return t.Status
}

// fetchTask turns c into the tasks/result request for its task, under a
// fresh wire id, and returns that request.
func (b *Bridge) fetchTask(c *call) []byte {
	b.mu.Lock()
	_, nid := b.rewire(c)
	c.method = "tasks/result"
	c.params, _ = json.Marshal(map[string]string{"taskId": c.taskID})
	params := c.params
	b.mu.Unlock()
	raw, _ := jsonrpc.EncodeMessage(&jsonrpc.Request{ID: nid, Method: "tasks/result", Params: params})
	return raw
}

// cancelTask cancels on the server the task of a call that the client
// cancelled.
func (b *Bridge) cancelTask(c *call, h hdr) {
	b.mu.Lock()
	id := c.taskID
	b.mu.Unlock()
	if id == "" || id == "?" {
		return
	}
	b.wg.Go(func() {
		if err := b.ownCall(b.ctx, h, "tasks/cancel", map[string]string{"taskId": id}); err != nil {
			b.log.Warn("cancelling the task of a cancelled call", "task", id, "err", err)
		}
	})
}
