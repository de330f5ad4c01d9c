// Command plain is the benchmark's ceiling: a net/http handler that decodes
// each JSON-RPC request and answers it with a fixed-shape result (initialize
// gets a session id header, notifications 202, tools/call its text back), with
// none of MCP's machinery.
package main

import (
	"encoding/json"
	"flag"
	"net/http"

	"github.com/mooring-dev/mooring/bench/internal/serve"
)

type request struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		Arguments struct {
			Text string `json:"text"`
		} `json:"arguments"`
	} `json:"params"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address")
	flag.Parse()
	initResult := json.RawMessage(`{"protocolVersion":"2025-11-25","capabilities":{"tools":{}},"serverInfo":{"name":"plain","version":"1.0.0"}}`)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		var req request
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if len(req.ID) == 0 {
			w.WriteHeader(http.StatusAccepted)
			return
		}
		var result any
		switch req.Method {
		case "initialize":
			w.Header().Set("Mcp-Session-Id", "plain-session")
			result = initResult
		default:
			result = map[string]any{"content": []map[string]string{{"type": "text", "text": req.Params.Arguments.Text}}}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": req.ID, "result": result})
	})
	serve.Run(serve.Listen(*addr), h, "plain bench server")
}
