package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TaskRow: durable tasks (2025-11-25, inside sessions) against the plain
// call, on one server and client count. Each client has its own session.
//
//   - plain: tools/call echo, as in the request loop;
//   - task: tools/call echo with params.task (answered by CreateTaskResult
//     once the task is committed to the store), then tasks/result (which
//     waits for the outcome, committed before it is reported): the time of
//     the pair, create + complete of a task that takes no time;
//   - get: tasks/get of the client's last completed task.
//
// The three loops run one after another, each for the measured duration.
type TaskRow struct {
	Server        string  `json:"server"`
	Clients       int     `json:"clients"`
	PlainP50      float64 `json:"plain_p50_ms"`
	TaskP50       float64 `json:"task_p50_ms"`
	TaskP99       float64 `json:"task_p99_ms"`
	Ratio         float64 `json:"task_to_plain_p50"`
	CreateP50     float64 `json:"task_create_p50_ms"`
	ResultP50     float64 `json:"task_result_p50_ms"`
	GetP50        float64 `json:"get_p50_ms"`
	GetP99        float64 `json:"get_p99_ms"`
	CreatedPerSec float64 `json:"tasks_per_second"`
	Errors        int     `json:"errors"`
}

// taskEcho creates a task of the echo tool and waits for its result with
// tasks/result; it returns the task id and how long the tools/call took
// (the rest is the tasks/result).
func (c *mcpClient) taskEcho(text string) (string, time.Duration, error) {
	arg, _ := json.Marshal(text)
	t0 := time.Now()
	res, _, err := c.call("tools/call", `{"name":"echo","arguments":{"text":`+string(arg)+`},"task":{"ttl":600000}}`)
	created0 := time.Since(t0)
	if err != nil {
		return "", 0, err
	}
	var created struct {
		Task struct {
			TaskID string `json:"taskId"`
			Status string `json:"status"`
		} `json:"task"`
	}
	if err := json.Unmarshal(res, &created); err != nil || created.Task.TaskID == "" {
		return "", 0, fmt.Errorf("tools/call with task: no CreateTaskResult in %s", res)
	}
	id, _ := json.Marshal(created.Task.TaskID)
	res, _, err = c.call("tasks/result", `{"taskId":`+string(id)+`}`)
	if err != nil {
		return "", 0, err
	}
	if err := checkEcho(res, text); err != nil {
		return "", 0, fmt.Errorf("tasks/result: %w", err)
	}
	return created.Task.TaskID, created0, nil
}

// taskGet reads a completed task with tasks/get.
func (c *mcpClient) taskGet(id string) error {
	q, _ := json.Marshal(id)
	res, _, err := c.call("tasks/get", `{"taskId":`+string(q)+`}`)
	if err != nil {
		return err
	}
	var r struct {
		TaskID string `json:"taskId"`
		Status string `json:"status"`
	}
	if err := json.Unmarshal(res, &r); err != nil || r.TaskID != id || r.Status != "completed" {
		return fmt.Errorf("tasks/get: %s, want task %s completed", res, id)
	}
	return nil
}

func checkEcho(res json.RawMessage, text string) error {
	var r struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
		IsError bool `json:"isError"`
	}
	if err := json.Unmarshal(res, &r); err != nil || r.IsError || len(r.Content) != 1 || r.Content[0].Text != text {
		return fmt.Errorf("result %s does not echo %q", res, text)
	}
	return nil
}

// runTasks measures the task rows for mooring on bolt and on Redis.
func runTasks(e *env, rs *redisServer, c *config) []TaskRow {
	var rows []TaskRow
	for _, st := range []string{"bolt", "redis"} {
		v := variant{Server: "mooring", Mode: "sse", Store: st, Backend: "raw"}
		if c.only != "" && !matchAny(v.Name()+" tasks", c.only) {
			continue
		}
		for _, n := range c.clients {
			if st == "redis" {
				rs.flush()
			}
			p, err := e.start(v, "")
			if err != nil {
				log.Printf("tasks: %v", err)
				continue
			}
			row := measureTasks(p, n, c.warmup, c.duration)
			p.stop()
			row.Server = v.Name()
			log.Printf("tasks %-24s %2d clients: plain p50 %.2f ms, task create+complete p50 %.2f ms (%.2fx; tools/call p50 %.2f) p99 %.2f ms, tasks/get p50 %.2f p99 %.2f ms, %.0f tasks/s, errors %d",
				row.Server, n, row.PlainP50, row.TaskP50, row.Ratio, row.CreateP50, row.TaskP99, row.GetP50, row.GetP99, row.CreatedPerSec, row.Errors)
			rows = append(rows, row)
		}
	}
	return rows
}

// measureTasks runs the three loops with n clients on p.
func measureTasks(p *proc, n int, warmup, dur time.Duration) TaskRow {
	tr := newTransport(n)
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	clients := make([]*mcpClient, 0, n)
	row := TaskRow{Clients: n}
	var elog errLimit
	for range n {
		cl := newClient(hc, p.url())
		if err := cl.handshake(); err != nil {
			row.Errors++
			elog.add(err)
			continue
		}
		clients = append(clients, cl)
	}
	lastTask := make([]string, len(clients))
	// loop runs op on every client for warmup, then dur, and returns the
	// latencies of the measured part, sorted.
	loop := func(op func(i, k int) error) []time.Duration {
		var (
			mu  sync.Mutex
			lat []time.Duration
			wg  sync.WaitGroup
		)
		start := time.Now()
		measureFrom, stop := start.Add(warmup), start.Add(warmup+dur)
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var my []time.Duration
				for k := 0; ; k++ {
					t0 := time.Now()
					if !t0.Before(stop) {
						break
					}
					err := op(i, k)
					d := time.Since(t0)
					if !t0.Before(measureFrom) {
						mu.Lock()
						if err != nil {
							row.Errors++
							elog.add(err)
						} else {
							my = append(my, d)
						}
						mu.Unlock()
					}
					if err != nil {
						time.Sleep(time.Millisecond)
					}
				}
				mu.Lock()
				lat = append(lat, my...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		slices.Sort(lat)
		return lat
	}
	plain := loop(func(i, k int) error { return clients[i].echo("plain " + strconv.Itoa(i) + " #" + strconv.Itoa(k)) })
	var (
		createMu sync.Mutex
		creates  []time.Duration // of the measured pairs and the warmup's
	)
	task := loop(func(i, k int) error {
		id, d, err := clients[i].taskEcho("task " + strconv.Itoa(i) + " #" + strconv.Itoa(k))
		if err == nil {
			lastTask[i] = id
			createMu.Lock()
			creates = append(creates, d)
			createMu.Unlock()
		}
		return err
	})
	slices.Sort(creates)
	get := loop(func(i, k int) error {
		if lastTask[i] == "" {
			return fmt.Errorf("client %d made no task", i)
		}
		return clients[i].taskGet(lastTask[i])
	})
	row.PlainP50 = round3(ms(pct(plain, 50)))
	row.TaskP50, row.TaskP99 = round3(ms(pct(task, 50))), round3(ms(pct(task, 99)))
	row.CreateP50 = round3(ms(pct(creates, 50)))
	row.ResultP50 = round3(row.TaskP50 - row.CreateP50)
	row.GetP50, row.GetP99 = round3(ms(pct(get, 50))), round3(ms(pct(get, 99)))
	if row.PlainP50 > 0 {
		row.Ratio = round3(row.TaskP50 / row.PlainP50)
	}
	row.CreatedPerSec = float64(int(float64(len(task)) / dur.Seconds()))
	if row.Errors > 0 {
		log.Printf("  task errors: %s", elog.String())
	}
	return row
}

func tasksMarkdown(b *strings.Builder, rows []TaskRow) {
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(b, "## Durable tasks\n\nmooring with the raw backend, 2025-11-25 sessions (one per client). `plain`: tools/call echo. `task create+complete`: tools/call echo with `params.task` (the CreateTaskResult comes once the task is committed to the store) then `tasks/result` (the outcome, committed to the store before it is reported): two requests and two store writes beside the session's own appends. `tasks/get`: of the client's last completed task. Tasks/s: task pairs completed per second over all clients. The loops run one after another.\n\n")
	fmt.Fprintf(b, "| server | clients | plain p50 ms | task create+complete p50 ms | × plain p50 | task p99 ms | tasks/get p50 ms | tasks/get p99 ms | tasks/s | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(b, "| %s | %d | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.0f | %d |\n", r.Server, r.Clients, r.PlainP50, r.TaskP50, r.Ratio, r.TaskP99, r.GetP50, r.GetP99, r.CreatedPerSec, r.Errors)
	}
	b.WriteString("\n")
}
