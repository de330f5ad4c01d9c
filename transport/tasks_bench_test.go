package transport_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/backend"
	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store/memstore"
	"github.com/mooring-dev/mooring/tasks"
	"github.com/mooring-dev/mooring/tasks/protocol"
	"github.com/mooring-dev/mooring/transport"
)

// BenchmarkToolCall_Tasks is BenchmarkToolCall/sse with the durable tasks'
// interceptor in front of the backend, as mooring serve always has it:
// what it costs a plain tools/call. Compare with BenchmarkToolCall/sse.
func BenchmarkToolCall_Tasks(b *testing.B) {
	st := memstore.New(nil)
	tm := tasks.NewManager(st, &tasks.Options{PollInterval: 50 * time.Millisecond})
	sf, err := protocol.NewSessionful(tm, &protocol.SessionfulOptions{Policy: &protocol.Policy{}})
	if err != nil {
		b.Fatal(err)
	}
	mgr := session.New(st, backend.NewInProcess(testServer()), &session.Options{Logger: quietSessions.Logger, Interceptor: sf})
	sf.Attach(mgr)
	defer func() { mgr.Close(); sf.Close(); tm.Close(); st.Close() }()
	runToolCalls(b, transport.New(mgr, &transport.Options{Mode: transport.SSE}), &http.Transport{MaxIdleConnsPerHost: 64})
}
