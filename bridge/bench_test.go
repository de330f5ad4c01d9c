package bridge

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The cost of the bridge per call: tools/call of a quick tool through
// mooring connect (in this process, over pipes), against go-sdk's own
// Streamable HTTP client calling the same server directly.
//
//	go test -run '^$' -bench . -benchtime 2000x ./bridge

func BenchmarkCall_ThroughBridge(b *testing.B) {
	s := newSDKServer(b)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- New(s.url(), &Options{Logger: slog.New(slog.DiscardHandler)}).Run(context.Background(), inR, outW)
		outW.Close()
	}()
	out := bufio.NewReader(outR)
	send := func(line string) {
		if _, err := io.WriteString(inW, line+"\n"); err != nil {
			b.Fatal(err)
		}
	}
	recv := func() {
		if _, err := out.ReadString('\n'); err != nil {
			b.Fatal(err)
		}
	}
	send(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"b","version":"1"}}}`)
	recv()
	send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	b.ResetTimer()
	for i := range b.N {
		send(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"count","arguments":{"n":1,"interval_ms":0}}}`, i+1))
		recv()
	}
	b.StopTimer()
	inW.Close()
	<-done
}

func BenchmarkCall_Direct(b *testing.B) {
	s := newSDKServer(b)
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "b", Version: "1"}, nil).Connect(context.Background(),
		&mcp.StreamableClientTransport{Endpoint: s.url()}, &mcp.ClientSessionOptions{ProtocolVersion: "2025-11-25"})
	if err != nil {
		b.Fatal(err)
	}
	defer cs.Close()
	b.ResetTimer()
	for range b.N {
		if _, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "count", Arguments: map[string]any{"n": 1, "interval_ms": 0}}); err != nil {
			b.Fatal(err)
		}
	}
}
