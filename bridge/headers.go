package bridge

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// Request metadata headers of 2026-07-28: Mcp-Name, and Mcp-Param-{Name}
// for the tool arguments that a tool's inputSchema marks with x-mcp-header.

// paramBinding is one x-mcp-header annotation: the argument at path goes
// into the header Mcp-Param-{header}.
type paramBinding struct {
	path   []string
	header string
}

// paramBindings collects the x-mcp-header annotations of an inputSchema,
// following properties only (the spec allows no other way to reach one).
func paramBindings(schema json.RawMessage) []paramBinding {
	type prop struct {
		Header     json.RawMessage            `json:"x-mcp-header"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	var out []paramBinding
	var walk func(raw json.RawMessage, path []string)
	walk = func(raw json.RawMessage, path []string) {
		var p prop
		if json.Unmarshal(raw, &p) != nil {
			return
		}
		var name string
		if len(path) > 0 && json.Unmarshal(p.Header, &name) == nil && name != "" {
			out = append(out, paramBinding{path: path, header: name})
		}
		for k, v := range p.Properties {
			walk(v, append(append([]string(nil), path...), k))
		}
	}
	walk(schema, nil)
	return out
}

// paramHeaders returns the Mcp-Param headers of a tools/call with params,
// for the tool's bindings: the header is left out when the argument is
// absent, null or not a primitive.
func paramHeaders(bindings []paramBinding, params json.RawMessage) map[string]string {
	if len(bindings) == 0 {
		return nil
	}
	var p struct {
		Arguments json.RawMessage `json:"arguments"`
	}
	if json.Unmarshal(params, &p) != nil {
		return nil
	}
	out := make(map[string]string)
	for _, b := range bindings {
		v := p.Arguments
		for _, k := range b.path {
			var obj map[string]json.RawMessage
			if json.Unmarshal(v, &obj) != nil {
				v = nil
				break
			}
			v = obj[k]
		}
		if s, ok := primitive(v); ok {
			out["Mcp-Param-"+b.header] = headerValue(s)
		}
	}
	return out
}

// primitive is the header text of a string, boolean or safe integer.
func primitive(raw json.RawMessage) (string, bool) {
	var v any
	if len(raw) == 0 || json.Unmarshal(raw, &v) != nil {
		return "", false
	}
	switch v := v.(type) {
	case string:
		return v, true
	case bool:
		return strconv.FormatBool(v), true
	case float64:
		const safe = 1<<53 - 1
		if v == math.Trunc(v) && math.Abs(v) <= safe {
			return strconv.FormatInt(int64(v), 10), true
		}
	}
	return "", false
}

const (
	b64Prefix = "=?base64?"
	b64Suffix = "?="
)

// headerValue encodes s for a header: as is when it is plain visible
// ASCII (spaces and tabs inside), else (and when it looks like the
// sentinel itself) as =?base64?…?= of its UTF-8.
func headerValue(s string) string {
	plain := s == "" || (s[0] != ' ' && s[0] != '\t' && s[len(s)-1] != ' ' && s[len(s)-1] != '\t')
	for i := 0; plain && i < len(s); i++ {
		c := s[i]
		plain = c == '\t' || (c >= 0x20 && c <= 0x7e)
	}
	if plain && !(strings.HasPrefix(s, b64Prefix) && strings.HasSuffix(s, b64Suffix)) {
		return s
	}
	return b64Prefix + base64.StdEncoding.EncodeToString([]byte(s)) + b64Suffix
}
