package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// protocolVersion is what the benchmark's clients ask for in initialize.
const protocolVersion = "2025-11-25"

// newTransport returns an HTTP/1.1 keep-alive transport for n clients.
func newTransport(n int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        n + 16,
		MaxIdleConnsPerHost: n + 16,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
}

// mcpClient is one MCP client: one session, requests one at a time.
type mcpClient struct {
	hc      *http.Client
	url     string
	sid     string
	version string
	nextID  int64
	buf     []byte
	lastIDs []string // SSE event ids of the last response, when asked
	keepIDs bool
	bearer  string // Authorization: Bearer value, for a server with auth
}

func newClient(hc *http.Client, url string) *mcpClient {
	return &mcpClient{hc: hc, url: url, nextID: 1, buf: make([]byte, 0, 512)}
}

// message is the part of a JSON-RPC message that the client checks.
type message struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (c *mcpClient) post(body []byte) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if c.sid != "" {
		req.Header.Set("Mcp-Session-Id", c.sid)
	}
	if c.version != "" {
		req.Header.Set("Mcp-Protocol-Version", c.version)
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	return c.hc.Do(req)
}

// call posts a request and returns its response's result, parsed from JSON or
// from the SSE stream (every event parsed; messages other than the response,
// such as progress notifications, are counted in *others).
func (c *mcpClient) call(method string, params string) (json.RawMessage, *http.Response, error) {
	id := c.nextID
	c.nextID++
	b := c.buf[:0]
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = strconv.AppendInt(b, id, 10)
	b = append(b, `,"method":"`...)
	b = append(b, method...)
	b = append(b, `","params":`...)
	b = append(b, params...)
	b = append(b, '}')
	c.buf = b
	resp, err := c.post(b)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, resp, fmt.Errorf("%s: status %d: %s", method, resp.StatusCode, bytes.TrimSpace(msg))
	}
	want := strconv.AppendInt(nil, id, 10)
	var found *message
	check := func(data []byte) error {
		var m message
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("%s: bad JSON %q: %v", method, data, err)
		}
		if m.Method != "" {
			return nil // a notification or request of the server's
		}
		if !bytes.Equal(bytes.TrimSpace(m.ID), want) {
			return fmt.Errorf("%s: response id %s, want %s", method, m.ID, want)
		}
		found = &m
		return nil
	}
	ct := resp.Header.Get("Content-Type")
	switch {
	case strings.HasPrefix(ct, "application/json"):
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, resp, err
		}
		if err := check(data); err != nil {
			return nil, resp, err
		}
	case strings.HasPrefix(ct, "text/event-stream"):
		c.lastIDs = c.lastIDs[:0]
		err := readSSE(resp.Body, func(id string, data []byte) error {
			if c.keepIDs && id != "" {
				c.lastIDs = append(c.lastIDs, id)
			}
			if len(bytes.TrimSpace(data)) == 0 {
				return nil // priming event
			}
			return check(data)
		})
		if err != nil {
			return nil, resp, err
		}
	default:
		return nil, resp, fmt.Errorf("%s: unexpected Content-Type %q", method, ct)
	}
	if found == nil {
		return nil, resp, fmt.Errorf("%s: no response in the reply", method)
	}
	if found.Error != nil {
		return nil, resp, fmt.Errorf("%s: error %d: %s", method, found.Error.Code, found.Error.Message)
	}
	return found.Result, resp, nil
}

// readSSE parses an event stream, calling fn for each event with data.
func readSSE(r io.Reader, fn func(id string, data []byte) error) error {
	br := bufio.NewReaderSize(r, 4096)
	var (
		id      string
		data    []byte
		hasData bool
	)
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A long line: gather it whole.
			long := append([]byte(nil), line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if err != nil && err != io.EOF {
			return err
		}
		if len(line) == 0 && err == io.EOF {
			if hasData {
				return fn(id, data)
			}
			return nil
		}
		line = bytes.TrimRight(line, "\r\n")
		switch {
		case len(line) == 0:
			if hasData {
				if ferr := fn(id, data); ferr != nil {
					return ferr
				}
			}
			id, data, hasData = "", data[:0], false
		case line[0] == ':':
		default:
			field, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimPrefix(value, []byte(" "))
			switch string(field) {
			case "data":
				if hasData {
					data = append(data, '\n')
				}
				data = append(data, value...)
				hasData = true
			case "id":
				id = string(value)
			}
		}
		if err == io.EOF {
			if hasData {
				return fn(id, data)
			}
			return nil
		}
	}
}

// handshake runs initialize and notifications/initialized.
func (c *mcpClient) handshake() error {
	res, resp, err := c.call("initialize", `{"protocolVersion":"`+protocolVersion+`","capabilities":{},"clientInfo":{"name":"mooring-bench","version":"1.0.0"}}`)
	if err != nil {
		return err
	}
	var r struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	if err := json.Unmarshal(res, &r); err != nil || r.ProtocolVersion == "" {
		return fmt.Errorf("initialize: no protocolVersion in %s", res)
	}
	c.sid = resp.Header.Get("Mcp-Session-Id")
	c.version = r.ProtocolVersion
	hr, err := c.post([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, hr.Body)
	hr.Body.Close()
	if hr.StatusCode != http.StatusAccepted && hr.StatusCode != http.StatusOK && hr.StatusCode != http.StatusNoContent {
		return fmt.Errorf("notifications/initialized: status %d", hr.StatusCode)
	}
	return nil
}

// echo calls the echo tool and checks that the text comes back.
func (c *mcpClient) echo(text string) error {
	arg, _ := json.Marshal(text)
	res, _, err := c.call("tools/call", `{"name":"echo","arguments":{"text":`+string(arg)+`}}`)
	if err != nil {
		return err
	}
	var r struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		IsError bool `json:"isError"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		return fmt.Errorf("tools/call: bad result %s: %v", res, err)
	}
	if r.IsError || len(r.Content) != 1 || r.Content[0].Type != "text" || r.Content[0].Text != text {
		return fmt.Errorf("tools/call: result %s does not echo %q", res, text)
	}
	return nil
}

// errLimit keeps the first few distinct errors for the log.
type errLimit struct{ seen map[string]int }

func (e *errLimit) add(err error) {
	if e.seen == nil {
		e.seen = map[string]int{}
	}
	k := err.Error()
	if len(k) > 200 {
		k = k[:200]
	}
	if len(e.seen) < 5 || e.seen[k] > 0 {
		e.seen[k]++
	}
}

func (e *errLimit) String() string {
	var parts []string
	for k, n := range e.seen {
		parts = append(parts, fmt.Sprintf("%dx %s", n, k))
	}
	return strings.Join(parts, "; ")
}
