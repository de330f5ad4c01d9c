package httplimit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serve runs h behind Handler(opts) on a loopback listener limited to max
// connections plus reserve.
func serve(t *testing.T, h http.Handler, opts Options, max, reserve int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: Handler(h, opts), ReadHeaderTimeout: 5 * time.Second, ConnContext: ConnContext}
	go srv.Serve(NewListener(ln, max, reserve))
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitClosed reads c until the server closes it, and returns what came.
func waitClosed(t *testing.T, c net.Conn, within time.Duration) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	got, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("the server did not close the connection within %s: %v (got %q)", within, err, got)
	}
	return string(got)
}

// A body that stops arriving (stalled, a truncated chunked body, a
// Content-Length larger than what is sent) ends with the read deadline.
func TestHandler_StalledBodiesEnd(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, err.Error(), http.StatusRequestTimeout)
		}
	})
	addr := serve(t, h, Options{BodyTimeout: 300 * time.Millisecond}, 10, 0)
	for name, req := range map[string]string{
		"content-length": "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":",
		"chunked":        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{\"a\":\r\n",
	} {
		c := dial(t, addr)
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		if got := waitClosed(t, c, 10*time.Second); !strings.HasPrefix(got, "HTTP/1.1 408") {
			t.Errorf("%s: answer %q, want a 408", name, got)
		}
	}
}

// Once the body is read, a stream of writes outlives both timeouts: each
// write has its own deadline, and the body's is lifted.
func TestHandler_StreamOutlivesTimeouts(t *testing.T) {
	const writes = 12
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		rc := http.NewResponseController(w)
		for i := range writes {
			if _, err := fmt.Fprintf(w, "data: %d\n\n", i); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
			time.Sleep(250 * time.Millisecond) // 3 s in all: three times each timeout
		}
	})
	addr := serve(t, h, Options{BodyTimeout: time.Second, WriteTimeout: time.Second}, 10, 0)
	resp, err := http.Post("http://"+addr, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	if err != nil || strings.Count(string(got), "data: ") != writes {
		t.Fatalf("stream: %v, got %q, want %d events", err, got, writes)
	}
}

// An answer that the client never reads fails its write after WriteTimeout,
// which frees the handler and the connection.
func TestHandler_UnreadAnswerEnds(t *testing.T) {
	done := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := make([]byte, 1<<20)
		for range 256 { // far more than the socket buffers take
			if _, err := w.Write(chunk); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	})
	addr := serve(t, h, Options{WriteTimeout: 300 * time.Millisecond}, 10, 0)
	c := dial(t, addr)
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("256 MB were written to a client that reads nothing")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the handler still writes to a client that reads nothing")
	}
}

func get(t *testing.T, c net.Conn, path string) string {
	t.Helper()
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		return ""
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err.Error()
	}
	resp.Body.Close()
	return resp.Status
}

// Beyond the cap, the reserve serves probes only, and further connections
// are answered 503 and closed at once; closed connections free their slot.
func TestListener_ShedsBeyondCapKeepsReserveForProbes(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	probe := func(r *http.Request) bool { return r.URL.Path == "/healthz" }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lln := NewListener(ln, 2, 1)
	srv := &http.Server{Handler: Handler(h, Options{Probe: probe}), ConnContext: ConnContext}
	go srv.Serve(lln)
	t.Cleanup(func() { srv.Close() })
	addr := ln.Addr().String()

	a, b := dial(t, addr), dial(t, addr)
	for _, c := range []net.Conn{a, b} {
		if got := get(t, c, "/mcp"); got != "200 OK" {
			t.Fatalf("within the cap: %s", got)
		}
	}
	r := dial(t, addr)
	if got := get(t, r, "/mcp"); !strings.HasPrefix(got, "503") {
		t.Fatalf("reserve connection, not a probe: %s, want 503", got)
	}
	deadline := time.Now().Add(10 * time.Second)
	for lln.Open() > 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the reserve closes the last one
	}
	r = dial(t, addr)
	if got := get(t, r, "/healthz"); got != "200 OK" {
		t.Fatalf("probe on the reserve: %s", got)
	}
	for lln.Open() > 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the probe's connection closes
	}
	dial(t, addr) // takes the reserve again, and holds it
	for lln.Open() < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	shed := dial(t, addr)
	if got := waitClosed(t, shed, 10*time.Second); !strings.HasPrefix(got, "HTTP/1.1 503") {
		t.Fatalf("beyond cap and reserve: %q, want a 503 and close", got)
	}
	if lln.Shed() != 2 { // the reserve's non-probe, and this one
		t.Fatalf("Shed() = %d, want 2", lln.Shed())
	}
	a.Close()
	for lln.Open() > 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := get(t, dial(t, addr), "/mcp"); got != "200 OK" {
		t.Fatalf("after a connection closed: %s", got)
	}
}
