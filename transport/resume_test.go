package transport_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// cutter is an http.RoundTripper that breaks the first SSE response to a
// tools/call after it carried `after` events, as a dropped connection would.
type cutter struct {
	after int
	done  atomic.Bool
	gets  atomic.Int32 // GETs that carried Last-Event-ID
}

func (c *cutter) RoundTrip(r *http.Request) (*http.Response, error) {
	var isCall bool
	if r.Method == http.MethodPost && r.Body != nil {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		isCall = bytes.Contains(b, []byte(`"tools/call"`))
	}
	if r.Method == http.MethodGet && r.Header.Get("Last-Event-ID") != "" {
		c.gets.Add(1)
	}
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || !isCall || c.done.Load() || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return resp, err
	}
	c.done.Store(true)
	resp.Body = &cutBody{r: bufio.NewReader(resp.Body), c: resp.Body, left: c.after}
	return resp, nil
}

// cutBody passes whole SSE events through and fails after `left` of them.
type cutBody struct {
	r    *bufio.Reader
	c    io.Closer
	left int
	buf  []byte
}

func (b *cutBody) Read(p []byte) (int, error) {
	for len(b.buf) == 0 {
		if b.left == 0 {
			b.c.Close()
			return 0, io.ErrUnexpectedEOF
		}
		line, err := b.r.ReadBytes('\n')
		b.buf = append(b.buf, line...)
		if err != nil {
			if len(b.buf) == 0 {
				return 0, err
			}
			break
		}
		if len(line) == 1 { // blank line: one event complete
			b.left--
		} else {
			// Keep reading until the event is whole.
			for {
				l, err := b.r.ReadBytes('\n')
				b.buf = append(b.buf, l...)
				if err != nil || len(l) == 1 {
					b.left--
					break
				}
			}
		}
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}

func (b *cutBody) Close() error { return b.c.Close() }

// A stream cut in the middle of a response is resumed with Last-Event-ID:
// every missed message arrives, once, in order, and then the response.
func TestGoSDKClient_ResumeAfterCut(t *testing.T) {
	e := newEnv(t, nil)
	cut := &cutter{after: 3} // priming event + 2 progress notifications
	var mu sync.Mutex
	var got []float64
	c := mcp.NewClient(&mcp.Implementation{Name: "c", Version: "1"}, &mcp.ClientOptions{
		ProgressNotificationHandler: func(ctx context.Context, req *mcp.ProgressNotificationClientRequest) {
			mu.Lock()
			got = append(got, req.Params.Progress)
			mu.Unlock()
		},
	})
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{
		Endpoint: e.url, HTTPClient: &http.Client{Transport: cut}, DisableStandaloneSSE: true,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	params := &mcp.CallToolParams{Name: "count", Arguments: map[string]any{"n": 10, "delay_ms": 20}}
	params.SetProgressToken("p")
	res, err := cs.CallTool(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if got := text(t, res); got != "10" {
		t.Errorf("result: got %q, want 10", got)
	}
	if cut.gets.Load() == 0 {
		t.Fatal("the client never resumed with Last-Event-ID: the cut did not happen")
	}
	waitFor(t, &mu, func() bool { return len(got) >= 10 })
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got) != "[1 2 3 4 5 6 7 8 9 10]" {
		t.Errorf("progress after resume: got %v, want 1..10 exactly once, in order", got)
	}
}
