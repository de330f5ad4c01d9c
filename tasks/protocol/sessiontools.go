package protocol

import (
	"context"
	"encoding/json"
	"time"

	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/tasks"
)

// writeTimeout bounds one notification's store write.
const writeTimeout = 10 * time.Second

// sepTask is a task in the shape of 2025-11-25 (SEP-1686): ttl and
// pollInterval in milliseconds.
type sepTask struct {
	TaskID        string       `json:"taskId"`
	Status        tasks.Status `json:"status"`
	StatusMessage string       `json:"statusMessage,omitempty"`
	CreatedAt     string       `json:"createdAt"`
	LastUpdatedAt string       `json:"lastUpdatedAt"`
	TTL           int64        `json:"ttl"`
	PollInterval  int64        `json:"pollInterval,omitempty"`
}

func sepTaskOf(t *tasks.Task) sepTask {
	return sepTask{
		TaskID: t.ID, Status: t.Status, StatusMessage: t.StatusMessage,
		CreatedAt: stamp(t.CreatedAt), LastUpdatedAt: stamp(t.UpdatedAt),
		TTL: t.TTL.Milliseconds(), PollInterval: max(1, t.PollInterval.Milliseconds()),
	}
}

// msDuration is a client's ttl in milliseconds as a duration.
func msDuration(ms float64) time.Duration {
	const most = float64(100 * 365 * 24 * time.Hour / time.Millisecond)
	return time.Duration(min(ms, most)) * time.Millisecond
}

// tool returns what the backend declared of a tool, if its tools/list was
// seen.
func (sf *Sessionful) tool(name string) (toolInfo, bool) {
	sf.mu.Lock()
	defer sf.mu.Unlock()
	ti, ok := sf.tools[name]
	return ti, ok
}

// maxListPages bounds the tools/list pages learn reads.
const maxListPages = 20

// learn reads the backend's tools/list (after a restart, a client may call
// a tool without listing first) and returns what it says of name.
func (sf *Sessionful) learn(ctx context.Context, s *session.Session, name string) toolInfo {
	cursor := ""
	for range maxListPages {
		params, _ := json.Marshal(map[string]any{"cursor": cursor})
		if cursor == "" {
			params = json.RawMessage(`{}`)
		}
		resp, err := s.CallBackend(ctx, "tools/list", params, nil)
		if err != nil || resp.Error != nil {
			sf.log.Warn("tasks: tools/list for the task support of a tool", "tool", name, "err", err)
			break
		}
		var page struct {
			NextCursor string `json:"nextCursor"`
		}
		_ = json.Unmarshal(resp.Result, &page)
		sf.record(resp.Result)
		if page.NextCursor == "" {
			break
		}
		cursor = page.NextCursor
	}
	ti, _ := sf.tool(name)
	return ti
}

// record notes what a tools/list result declares of its tools.
func (sf *Sessionful) record(result json.RawMessage) {
	var res struct {
		Tools []struct {
			Name      string `json:"name"`
			Execution struct {
				TaskSupport string `json:"taskSupport"`
			} `json:"execution"`
			Annotations struct {
				IdempotentHint bool `json:"idempotentHint"`
			} `json:"annotations"`
		} `json:"tools"`
	}
	if json.Unmarshal(result, &res) != nil {
		return
	}
	sf.mu.Lock()
	defer sf.mu.Unlock()
	for _, t := range res.Tools {
		sf.tools[t.Name] = toolInfo{support: t.Execution.TaskSupport, idempotent: t.Annotations.IdempotentHint}
	}
}

// Result adds tasks to what a 2025-11-25 session learns of the backend:
// capabilities.tasks in the initialize result, execution.taskSupport on
// the tools that support tasks in tools/list.
func (sf *Sessionful) Result(s *session.Session, method string, _, result json.RawMessage) json.RawMessage {
	switch method {
	case "initialize":
		var res map[string]json.RawMessage
		var v struct {
			ProtocolVersion string `json:"protocolVersion"`
		}
		if json.Unmarshal(result, &res) != nil || json.Unmarshal(result, &v) != nil || v.ProtocolVersion < firstTasksVersion {
			return result
		}
		var caps map[string]json.RawMessage
		if raw, ok := res["capabilities"]; ok && json.Unmarshal(raw, &caps) != nil {
			return result
		}
		if caps == nil {
			caps = map[string]json.RawMessage{}
		}
		caps["tasks"] = json.RawMessage(`{"list":{},"cancel":{},"requests":{"tools":{"call":{}}}}`)
		res["capabilities"], _ = json.Marshal(caps)
		if out, err := json.Marshal(res); err == nil {
			return out
		}
	case "tools/list":
		sf.record(result)
		if s.ProtocolVersion() < firstTasksVersion {
			return result
		}
		var res map[string]json.RawMessage
		var tools []map[string]json.RawMessage
		if json.Unmarshal(result, &res) != nil || json.Unmarshal(res["tools"], &tools) != nil {
			return result
		}
		changed := false
		for _, t := range tools {
			var name string
			_ = json.Unmarshal(t["name"], &name)
			var exec map[string]json.RawMessage
			_ = json.Unmarshal(t["execution"], &exec)
			if _, declared := exec["taskSupport"]; declared {
				continue
			}
			support := sf.o.Policy.Support(name, "")
			if support == Forbidden {
				continue
			}
			if exec == nil {
				exec = map[string]json.RawMessage{}
			}
			exec["taskSupport"], _ = json.Marshal(support)
			t["execution"], _ = json.Marshal(exec)
			changed = true
		}
		if !changed {
			return result
		}
		res["tools"], _ = json.Marshal(tools)
		if out, err := json.Marshal(res); err == nil {
			return out
		}
	}
	return result
}
