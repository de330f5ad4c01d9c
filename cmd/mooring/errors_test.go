package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// A 500 does not tell the client internal addresses or dial errors (here:
// of an upstream server that is down); the log has them.
func TestServe_InternalErrorsStayInTheLog(t *testing.T) {
	down := freeAddr(t) // nothing listens there
	s := startServer(t, "--store", "memory", "--upstream", "http://"+down+"/mcp")
	req, _ := http.NewRequest("POST", s.url()+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode < 500 {
		t.Fatalf("initialize with the upstream down: %d %s, want a 5xx", resp.StatusCode, body)
	}
	if strings.Contains(string(body), down) || strings.Contains(string(body), "dial") {
		t.Errorf("the answer tells the client an internal address or dial error: %s", body)
	}
	if !strings.Contains(s.log.String(), down) {
		t.Errorf("the log does not have the error:\n%s", s.log.String())
	}
}
