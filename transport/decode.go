package transport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// wireMessage is one JSON-RPC message as it arrives.
type wireMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  json.RawMessage `json:"method"`
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
		return nil, &httpError{status: http.StatusBadRequest, code: jsonrpc.CodeInvalidRequest, msg: err.Error()}
	}
	if len(w.Method) > 0 {
		// Present, even as null: a request or notification, never a reply.
		var method string
		if w.Method[0] != '"' || json.Unmarshal(w.Method, &method) != nil {
			return nil, &httpError{status: http.StatusBadRequest, code: jsonrpc.CodeInvalidRequest, id: id, msg: fmt.Sprintf(`"method" must be a string, not %s`, w.Method)}
		}
		if method == "" {
			// Encoded again (to a stdio server, in the log), an empty
			// method vanishes and leaves a message that is neither a
			// request nor a response (found by FuzzDecodeMessage).
			return nil, &httpError{status: http.StatusBadRequest, code: jsonrpc.CodeInvalidRequest, id: id, msg: `"method" must not be empty`}
		}
		if len(w.Params) > 0 && w.Params[0] != '{' && !bytes.Equal(w.Params, []byte("null")) {
			// MCP's params are always an object; the server behind
			// mooring would fail to decode anything else with code 0.
			return nil, &httpError{status: http.StatusBadRequest, code: jsonrpc.CodeInvalidParams, id: id, msg: fmt.Sprintf(`"params" of %s must be an object`, method)}
		}
		return &jsonrpc.Request{ID: id, Method: method, Params: w.Params}, nil
	}
	if !id.IsValid() {
		return nil, &httpError{status: http.StatusBadRequest, code: jsonrpc.CodeInvalidRequest, msg: "a message without a method must be a response with an id"}
	}
	if (len(w.Result) > 0) == (w.Error != nil) {
		return nil, &httpError{status: http.StatusBadRequest, code: jsonrpc.CodeInvalidRequest, id: id, msg: `a response must have either "result" or "error"`}
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
		if replaced(raw, s) {
			// encoding/json turns invalid UTF-8 into U+FFFD: the reply
			// would carry another id than the one sent.
			return jsonrpc.ID{}, errors.New("a string id must be valid UTF-8")
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

// replaced reports whether decoding the JSON string raw into s replaced
// invalid input (bytes that are not UTF-8, lone surrogate escapes) with
// U+FFFD: s then holds more of them than raw spells out.
func replaced(raw []byte, s string) bool {
	n := strings.Count(s, "\uFFFD")
	if n == 0 {
		return false
	}
	spelled := bytes.Count(raw, []byte("\uFFFD")) + bytes.Count(bytes.ToLower(raw), []byte(`\ufffd`))
	return n > spelled
}
