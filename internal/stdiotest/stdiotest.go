// Package stdiotest is a test client for a program that speaks MCP's stdio
// transport, JSON-RPC messages one a line, such as mooring connect: it
// writes the test's messages to the program's input, reads and records
// every message the program writes, and lets the test wait for one that
// matches.
//
// A Client's reader goroutine is owned by the Client and ends when the
// program's output ends (EOF or an error); Done is closed then. A line that
// is not JSON is a test error. All methods are safe for concurrent use.
package stdiotest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"
)

// Msg is one JSON-RPC message that the program wrote.
type Msg struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Client drives one program over its input and output.
type Client struct {
	t    testing.TB
	who  string // names the program in failures
	in   io.Writer
	done chan struct{}

	mu   sync.Mutex    // guards got and more
	got  []Msg         // every message so far
	more chan struct{} // closed, and replaced, when a message is added
}

// New starts reading out, the program's output; in is its input. who names
// the program in failures ("the bridge", "mooring connect").
func New(t testing.TB, who string, in io.Writer, out io.Reader) *Client {
	c := &Client{t: t, who: who, in: in, done: make(chan struct{}), more: make(chan struct{})}
	go c.read(out)
	return c
}

func (c *Client) read(out io.Reader) {
	defer close(c.done)
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m Msg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			c.t.Errorf("%s wrote a line that is not JSON-RPC: %q", c.who, sc.Text())
			continue
		}
		c.mu.Lock()
		c.got = append(c.got, m)
		close(c.more) // wakes every Wait
		c.more = make(chan struct{})
		c.mu.Unlock()
	}
}

// Done is closed when the program's output has ended and every message in
// it is recorded.
func (c *Client) Done() <-chan struct{} { return c.done }

// Send writes v, with "jsonrpc": "2.0" added, as one line.
func (c *Client) Send(v map[string]any) {
	c.t.Helper()
	v["jsonrpc"] = "2.0"
	line, _ := json.Marshal(v)
	if _, err := c.in.Write(append(line, '\n')); err != nil {
		c.t.Fatalf("writing to %s: %v", c.who, err)
	}
}

// Initialize opens a 2025-11-25 session as a client does: initialize as
// request 1, its answer within d (an error answer fails the test), then
// notifications/initialized.
func (c *Client) Initialize(d time.Duration) {
	c.t.Helper()
	c.Send(map[string]any{"id": 1, "method": "initialize", "params": map[string]any{
		"protocolVersion": "2025-11-25", "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "stdiotest", "version": "1"},
	}})
	if m := c.Answer(1, d); m.Error != nil {
		c.t.Fatalf("initialize: %s", m.Error.Message)
	}
	c.Send(map[string]any{"method": "notifications/initialized"})
}

// Messages returns a copy of every message so far, in the order written.
func (c *Client) Messages() []Msg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Msg(nil), c.got...)
}

// Wait returns the first message that matches, waiting up to d; the test
// fails if none does by then, or once the program's output has ended
// without one. match runs without the Client's lock held, so it may call
// the Client's other methods.
func (c *Client) Wait(d time.Duration, what string, match func(Msg) bool) Msg {
	c.t.Helper()
	deadline := time.After(d)
	for ended := false; ; {
		c.mu.Lock()
		got, more := append([]Msg(nil), c.got...), c.more
		c.mu.Unlock()
		for _, m := range got {
			if match(m) {
				return m
			}
		}
		if ended {
			c.t.Fatalf("no %s: the output of %s ended", what, c.who)
		}
		select {
		case <-more:
		case <-c.done:
			ended = true // one more look: the last messages are in
		case <-deadline:
			c.t.Fatalf("no %s within %s", what, d)
		}
	}
}

// Answer waits up to d for the response to request id.
func (c *Client) Answer(id int, d time.Duration) Msg {
	c.t.Helper()
	return c.Wait(d, fmt.Sprintf("answer to request %d", id), func(m Msg) bool { return IsAnswerTo(m, id) })
}

// IsAnswerTo reports whether m is the response to request id.
func IsAnswerTo(m Msg, id int) bool { return string(m.ID) == fmt.Sprint(id) && m.Method == "" }

// Count returns how many messages so far match.
func (c *Client) Count(match func(Msg) bool) int {
	n := 0
	for _, m := range c.Messages() {
		if match(m) {
			n++
		}
	}
	return n
}

// IsProgress reports whether m is a progress notification.
func IsProgress(m Msg) bool { return m.Method == "notifications/progress" }

// Progress returns the progress values of every progress notification so
// far, in order.
func (c *Client) Progress() []float64 {
	var out []float64
	for _, m := range c.Messages() {
		if IsProgress(m) {
			var p struct {
				Progress float64 `json:"progress"`
			}
			_ = json.Unmarshal(m.Params, &p)
			out = append(out, p.Progress)
		}
	}
	return out
}

// CheckProgress fails the test unless the progress values so far are 1,
// 2, …, n: none lost, repeated or out of order.
func (c *Client) CheckProgress(n int) {
	c.t.Helper()
	got := c.Progress()
	for i, v := range got {
		if v != float64(i+1) {
			c.t.Fatalf("progress %v: gap or duplicate at %d", got, i)
		}
	}
	if len(got) != n {
		c.t.Fatalf("progress %v: want %d values", got, n)
	}
}

// ResultText returns the text of the first content block of m's
// tools/call result; the test fails if m is an error, a result with
// isError set, or has no content.
func ResultText(t testing.TB, m Msg) string {
	t.Helper()
	if m.Error != nil {
		t.Fatalf("error %d: %s", m.Error.Code, m.Error.Message)
	}
	var r struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
		IsError bool `json:"isError"`
	}
	if err := json.Unmarshal(m.Result, &r); err != nil || len(r.Content) == 0 || r.IsError {
		t.Fatalf("result %s", m.Result)
	}
	return r.Content[0].Text
}
