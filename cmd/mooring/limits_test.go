package main

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mooring-dev/mooring/internal/syncbuf"
)

// Keep-alive connections that stay idle are closed after --idle-timeout,
// and a header block above --max-header-bytes gets 431.
func TestServe_IdleConnectionsAndBigHeaders(t *testing.T) {
	s := startServer(t, "--store", "memory", "--idle-timeout", "300ms", "--max-header-bytes", "8192")
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", s.addr)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
	if n, err := br.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("an idle keep-alive connection: read %d, %v; want EOF (closed by the server)", n, err)
	}

	req, _ := http.NewRequest("GET", s.url()+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 20000))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("20 kB of headers with --max-header-bytes 8192: %d, want 431", resp.StatusCode)
	}
}

// failingOnce is a listener whose first Accept fails as accept4 does when
// the process is out of descriptors.
type failingOnce struct {
	net.Listener
	failed bool
}

type tempErr struct{}

func (tempErr) Error() string   { return "accept4: too many open files" }
func (tempErr) Timeout() bool   { return false }
func (tempErr) Temporary() bool { return true }

func (l *failingOnce) Accept() (net.Conn, error) {
	if !l.failed {
		l.failed = true
		return nil, tempErr{}
	}
	return l.Listener.Accept()
}

// net/http's own errors (here a failed accept) go to mooring's log, in its
// format, not to stderr through the standard logger.
func TestHTTPServer_ErrorsGoToTheLog(t *testing.T) {
	var logs syncbuf.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &config{ReadTimeout: time.Second, WriteTimeout: time.Second, IdleTimeout: time.Second, MaxHeaderBytes: 8192}
	srv, lln := httpServer(c, http.NotFoundHandler(), &failingOnce{Listener: ln}, 10, log)
	go srv.Serve(lln)
	defer srv.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "too many open files") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), `"level":"WARN","msg":"http: Accept error: accept4: too many open files`) {
		t.Fatalf("the accept error is not in mooring's log: %q", logs.String())
	}
}

// --max-connections' default is 4096, lowered where the open-file limit is
// small so that the connections and the probes' reserve take at most 3/4
// of it; a cap set above the limit is kept, with a warning.
func TestMaxConns(t *testing.T) {
	for _, tc := range []struct{ set, files, want int }{
		{0, 0, defaultMaxConns}, // limit unknown
		{0, 1 << 20, defaultMaxConns},
		{0, 1024, 1024*3/4 - reserveConns},
		{0, 8, 1},
		{100, 1024, 100},
		{5000, 1024, 5000},
	} {
		var logs syncbuf.Buffer
		got := maxConns(&config{MaxConns: tc.set}, tc.files, slog.New(slog.NewTextHandler(&logs, nil)))
		if got != tc.want {
			t.Errorf("--max-connections %d, open-file limit %d: %d, want %d", tc.set, tc.files, got, tc.want)
		}
		if warned := strings.Contains(logs.String(), "above the open-file limit"); warned != (tc.set+reserveConns > tc.files && tc.set > 0 && tc.files > 0) {
			t.Errorf("--max-connections %d, open-file limit %d: warned %v:\n%s", tc.set, tc.files, warned, logs.String())
		}
	}
}
