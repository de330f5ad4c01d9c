package transport

import (
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// decodeMessage agrees with go-sdk's decoder on what it accepts and reads.
func TestDecodeMessage_MatchesGoSDK(t *testing.T) {
	for _, in := range []string{
		`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"a":1}}`,
		`{"jsonrpc":"2.0","id":"abc","method":"tools/call"}`,
		`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
		`{"jsonrpc":"2.0","id":7,"result":{"x":[1,2]}}`,
		`{"jsonrpc":"2.0","id":"m-1","error":{"code":-32601,"message":"nope"}}`,
		`{"jsonrpc":"2.0","id":12345678901,"method":"ping"}`,
	} {
		got, err := decodeMessage([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		want, err := jsonrpc.DecodeMessage([]byte(in))
		if err != nil {
			t.Fatalf("go-sdk on %s: %v", in, err)
		}
		g, _ := jsonrpc.EncodeMessage(got)
		w, _ := jsonrpc.EncodeMessage(want)
		if string(g) != string(w) {
			t.Errorf("%s:\n got %s\nwant %s", in, g, w)
		}
	}
	for _, bad := range []string{
		`{"jsonrpc":"1.0","id":1,"method":"x"}`,
		`{"jsonrpc":"2.0","id":null,"method":"x"}`,
		`{"jsonrpc":"2.0","id":1.5,"method":"x"}`,
		`{"jsonrpc":"2.0","id":{},"method":"x"}`,
		`{"jsonrpc":"2.0","result":{}}`,
		`{"jsonrpc":"2.0","id":1,"method":null}`,
		`{"jsonrpc":"2.0","id":1}`,
		"{\"jsonrpc\":\"2.0\",\"id\":\"\xff\",\"method\":\"x\"}",
		`{"jsonrpc":"2.0","id":1,"method":"x","params":"x"}`,
		`{"jsonrpc":`,
	} {
		if _, err := decodeMessage([]byte(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}
