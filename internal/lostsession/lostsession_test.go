package lostsession

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestAs404(t *testing.T) {
	long := strings.Repeat("x", 3*peek) + " session"
	for _, tc := range []struct {
		name   string
		status int
		body   string
		want   int
	}{
		{"the TypeScript SDK's answer", 400, `{"jsonrpc":"2.0","error":{"code":-32000,"message":"Bad Request: No valid session ID provided"},"id":null}`, 404},
		{"a 400 about something else", 400, `{"error":"bad params"}`, 400},
		{"session mentioned past what is read", 400, long, 400},
		{"another status", 500, "session", 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.status, Status: http.StatusText(tc.status), Body: io.NopCloser(strings.NewReader(tc.body))}
			As404(resp)
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
			got, err := io.ReadAll(resp.Body)
			if err != nil || string(got) != tc.body {
				t.Errorf("body after As404: %d bytes (err %v), want the %d sent", len(got), err, len(tc.body))
			}
			if err := resp.Body.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}
