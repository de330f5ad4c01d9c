package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// wireMessage is one JSON-RPC message as it arrives.
type wireMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  *string         `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
	Error   *jsonrpc.Error  `json:"error"`
}

// decodeMessage reads one JSON-RPC message. It does the work of
// jsonrpc.DecodeMessage with the standard library, which here costs a
// fraction of the allocations of go-sdk's decoder (a fresh 32 KiB buffer per
// call); that decoder is the largest cost of a request in profiles.
func decodeMessage(data []byte) (jsonrpc.Message, error) {
	var w wireMessage
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, err
	}
	if w.JSONRPC != "2.0" {
		return nil, fmt.Errorf(`"jsonrpc" must be "2.0", not %q`, w.JSONRPC)
	}
	id, err := decodeID(w.ID)
	if err != nil {
		return nil, err
	}
	if w.Method != nil {
		return &jsonrpc.Request{ID: id, Method: *w.Method, Params: w.Params}, nil
	}
	if !id.IsValid() {
		return nil, errors.New("a message without a method must be a response with an id")
	}
	resp := &jsonrpc.Response{ID: id, Result: w.Result}
	if w.Error != nil {
		resp.Error = w.Error
	}
	return resp, nil
}

// decodeID reads a request id: an integer or a string. Absent means a
// notification; null is refused (ids MUST NOT be null).
func decodeID(raw json.RawMessage) (jsonrpc.ID, error) {
	if len(raw) == 0 {
		return jsonrpc.ID{}, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return jsonrpc.ID{}, err
		}
		return jsonrpc.MakeID(s)
	case 'n':
		if bytes.Equal(raw, []byte("null")) {
			return jsonrpc.ID{}, errors.New("id must not be null")
		}
	default:
		if n, err := strconv.ParseInt(string(raw), 10, 64); err == nil {
			return jsonrpc.MakeID(float64(n))
		}
		var f float64
		if err := json.Unmarshal(raw, &f); err == nil && f == float64(int64(f)) {
			return jsonrpc.MakeID(f)
		}
	}
	return jsonrpc.ID{}, fmt.Errorf("id must be an integer or a string, not %s", raw)
}
