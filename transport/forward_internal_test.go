package transport

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// closingOwner is an owner replica reduced to what matters here: it answers
// the first request on a connection, keeps the connection alive, and drops
// it when the next request arrives, unread, as a draining replica that
// closes its idle connections does while a peer reuses one (issue 10, item
// 4: 502 "connection reset by peer", EOF, "server closed idle connection").
// Every later connection is answered normally.
type closingOwner struct {
	ln    net.Listener
	conns chan int // the number of each connection, as it is accepted
}

func startClosingOwner(t *testing.T) *closingOwner {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o := &closingOwner{ln: ln, conns: make(chan int, 16)}
	go func() {
		for n := 1; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			o.conns <- n
			go o.serve(c, n)
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return o
}

func (o *closingOwner) serve(c net.Conn, n int) {
	defer c.Close()
	br := bufio.NewReader(c)
	for i := 0; ; i++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if n == 1 && i == 1 {
			// The second request on the first connection: drop it
			// unread, with a reset.
			c.(*net.TCPConn).SetLinger(0)
			return
		}
		_, _ = io.Copy(io.Discard, req.Body)
		body := "answer " + strings.Repeat("x", n)
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
	}
}

// A request that fails on a reused connection before the owner answered
// anything was never read by the owner: it is sent once more, on a fresh
// connection, instead of failing with 502.
func TestForward_ResendsWhenReusedConnectionDrops(t *testing.T) {
	o := startClosingOwner(t)
	fw := newForwarder(5 * time.Second)
	url := "http://" + o.ln.Addr().String() + "/mcp"
	for i, want := range []string{"answer x", "answer xx"} {
		r := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader("{}"))
		w := httptest.NewRecorder()
		res := fw.forward(w, r, []byte("{}"), url, nil, time.Second)
		if res.err != nil || !res.sent {
			t.Fatalf("request %d: %+v", i+1, res)
		}
		if w.Code != http.StatusOK || w.Body.String() != want {
			t.Fatalf("request %d: %d %q, want 200 %q", i+1, w.Code, w.Body.String(), want)
		}
	}
	if got := len(o.conns); got != 2 {
		t.Errorf("%d connections, want 2 (the kept-alive one, and a fresh one for the resend)", got)
	}
}
