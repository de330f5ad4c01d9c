package builtin

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestReconnectionClosesStream(t *testing.T) {
	var closedAt time.Time
	var retry time.Duration
	calls := 0
	req := &mcp.CallToolRequest{
		Params: &mcp.CallToolParamsRaw{Name: "test_reconnection"},
		Extra: &mcp.RequestExtra{CloseSSEStream: func(a mcp.CloseSSEStreamArgs) {
			calls++
			closedAt = time.Now()
			retry = a.RetryAfter
		}},
	}
	res, err := (&server{}).reconnection(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 1 || retry <= 0 {
		t.Fatalf("CloseSSEStream called %d times with retry %v, want once with a retry", calls, retry)
	}
	if d := time.Since(closedAt); d < reconnectWait {
		t.Errorf("result %v after closing the stream, want at least %v for the client to reconnect", d, reconnectWait)
	}
	if res.IsError || resultText(res) == "" {
		t.Errorf("result = %+v", res)
	}

	// A cancelled request stops waiting.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (&server{}).reconnection(ctx, req); err == nil {
		t.Error("cancelled: no error")
	}
}

func TestSlowCount(t *testing.T) {
	var logs recorder[*mcp.LoggingMessageParams]
	var progress recorder[*mcp.ProgressNotificationParams]
	cs := connect(t, &mcp.ClientOptions{
		LoggingMessageHandler: func(_ context.Context, req *mcp.LoggingMessageRequest) { logs.add(req.Params) },
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			progress.add(req.Params)
		},
	})
	ctx := context.Background()
	if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "info"}); err != nil {
		t.Fatal(err)
	}

	params := &mcp.CallToolParams{Name: "slow_count", Arguments: map[string]any{"count": 4, "interval_ms": 20}}
	params.SetProgressToken(7)
	start := time.Now()
	res, err := cs.CallTool(ctx, params)
	if err != nil {
		t.Fatal(err)
	}
	if res.IsError || !strings.Contains(resultText(res), "counted to 4") {
		t.Fatalf("result = %q, want counted to 4", resultText(res))
	}
	if d := time.Since(start); d < 3*20*time.Millisecond {
		t.Errorf("4 steps 20 ms apart took %v", d)
	}
	eventually(t, "4 progress notifications and 4 log messages", func() bool {
		return len(progress.get()) >= 4 && len(logs.get()) >= 4
	})
	for i, p := range progress.get() {
		// JSON numbers come back as float64.
		if p.ProgressToken != 7.0 || p.Progress != float64(i+1) || p.Total != 4 {
			t.Errorf("progress %d = %+v, want token 7, %d of 4", i, p, i+1)
		}
	}
	for _, l := range logs.get() {
		if l.Level != "info" {
			t.Errorf("log level = %s, want info", l.Level)
		}
	}
	if n, m := len(progress.get()), len(logs.get()); n != 4 || m != 4 {
		t.Errorf("%d progress notifications and %d log messages, want 4 each", n, m)
	}

	// Defaults: count 5 when absent; interval 500 ms when absent.
	if res := callTool(t, cs, "slow_count", map[string]any{"interval_ms": 0}); !strings.Contains(resultText(res), "counted to 5") {
		t.Errorf("default count: %q", resultText(res))
	}
	start = time.Now()
	callTool(t, cs, "slow_count", map[string]any{"count": 2})
	if d := time.Since(start); d < slowIntervalDefault*time.Millisecond {
		t.Errorf("2 steps at the default interval took %v", d)
	}
	// Those calls had no progress token: no progress, but still log messages.
	eventually(t, "11 log messages", func() bool { return len(logs.get()) >= 11 })
	if n := len(progress.get()); n != 4 {
		t.Errorf("%d progress notifications from calls without a progress token", n-4)
	}
}

func TestSlowCountRejects(t *testing.T) {
	cs := connect(t, nil)
	for _, tc := range []struct {
		args map[string]any
		want string // in the error text
	}{
		// The other argument is set so that a missing check fails fast
		// instead of counting for a long time.
		{map[string]any{"count": slowCountMax + 1, "interval_ms": 0}, "count"},
		{map[string]any{"count": 0, "interval_ms": 0}, "count"},
		{map[string]any{"count": -3, "interval_ms": 0}, "count"},
		{map[string]any{"count": 1, "interval_ms": slowIntervalMax + 1}, "interval_ms"},
		{map[string]any{"count": 1, "interval_ms": -1}, "interval_ms"},
		{map[string]any{"count": "many", "interval_ms": 0}, "count"},
	} {
		res := callTool(t, cs, "slow_count", tc.args)
		if !res.IsError || !strings.Contains(resultText(res), tc.want) {
			t.Errorf("%v: result = %q (isError %v), want a tool error about %s", tc.args, resultText(res), res.IsError, tc.want)
		}
	}
}

func TestSlowCountStopsOnCancel(t *testing.T) {
	var progress recorder[*mcp.ProgressNotificationParams]
	cs := connect(t, &mcp.ClientOptions{
		ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
			progress.add(req.Params)
		},
	})
	ctx, cancel := context.WithCancel(context.Background())
	params := &mcp.CallToolParams{Name: "slow_count", Arguments: map[string]any{"count": 1000, "interval_ms": 10}}
	params.SetProgressToken("c")
	done := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(ctx, params)
		done <- err
	}()
	eventually(t, "the count to start", func() bool { return len(progress.get()) >= 2 })
	cancel()
	if err := <-done; err == nil {
		t.Fatal("cancelled call returned no error")
	}
	// go-sdk sends notifications/cancelled; once it reaches the handler the
	// count stands still, where it would otherwise grow every 10 ms.
	eventually(t, "the count to stop", func() bool {
		n := len(progress.get())
		time.Sleep(50 * time.Millisecond)
		return len(progress.get()) == n
	})
	if n := len(progress.get()); n >= 1000 {
		t.Errorf("counted all the way (%d steps) despite the cancellation", n)
	}
}
