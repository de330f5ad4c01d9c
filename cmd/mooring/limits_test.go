package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
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
