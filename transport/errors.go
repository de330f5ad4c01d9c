package transport

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mooring-dev/mooring/session"
	"github.com/mooring-dev/mooring/store"
)

// httpError is an error with the HTTP status and JSON-RPC code to answer it
// with.
type httpError struct {
	status int
	code   int64
	msg    string
	id     jsonrpc.ID      // the request's id, when known
	data   json.RawMessage // error data, if any
}

func (e *httpError) Error() string { return e.msg }

func badRequest(code int64, format string, args ...any) error {
	return &httpError{status: http.StatusBadRequest, code: code, msg: fmt.Sprintf(format, args...)}
}

func statusError(status int, format string, args ...any) error {
	return &httpError{status: status, code: jsonrpc.CodeInvalidRequest, msg: fmt.Sprintf(format, args...)}
}

// classify is the one place where errors become HTTP statuses and JSON-RPC
// error codes.
func classify(err error) (status int, code int64, msg string) {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he.status, he.code, he.msg
	case errors.Is(err, session.ErrNotFound):
		return http.StatusNotFound, jsonrpc.CodeInvalidRequest, "Session not found: it never existed, was ended, or expired; start a new session with initialize"
	case errors.Is(err, session.ErrDuplicateID):
		return http.StatusBadRequest, jsonrpc.CodeInvalidRequest, err.Error()
	case errors.Is(err, store.ErrBadEventID):
		return http.StatusBadRequest, jsonrpc.CodeInvalidRequest, "Last-Event-ID does not name an event of this session"
	case errors.Is(err, store.ErrPurged):
		return http.StatusGone, session.CodeInterrupted, "events after this Last-Event-ID were removed (per-session event cap or TTL); they cannot be replayed"
	case errors.Is(err, store.ErrFenced):
		return http.StatusServiceUnavailable, jsonrpc.CodeInternalError, "the session moved to another server; retry: the next request reaches it there"
	case errors.Is(err, store.ErrUnavailable):
		return http.StatusServiceUnavailable, jsonrpc.CodeInternalError, "the session store is unavailable (outage); retry shortly: the session is not lost"
	case errors.Is(err, session.ErrDraining):
		return http.StatusServiceUnavailable, jsonrpc.CodeInternalError, "this server is shutting down; retry: another replica serves the session"
	case errors.Is(err, session.ErrBusy):
		return http.StatusServiceUnavailable, jsonrpc.CodeInternalError, err.Error() // says which cap, no internals
	case errors.Is(err, session.ErrRecordTooLarge):
		return http.StatusRequestEntityTooLarge, jsonrpc.CodeInvalidParams, err.Error()
	case errors.Is(err, session.ErrClosed), errors.Is(err, store.ErrClosed):
		return http.StatusServiceUnavailable, jsonrpc.CodeInternalError, "server is shutting down"
	default:
		// The error may name internal addresses (a dial error of the
		// upstream server, of Redis): the log has it, the client is told
		// less.
		return http.StatusInternalServerError, jsonrpc.CodeInternalError, "internal error; the server's log has the details"
	}
}

// writeError answers with a JSON-RPC error object (the request's id when the
// error carries it, else null) and the status that fits err.
func writeError(w http.ResponseWriter, err error) int {
	status, code, msg := classify(err)
	if status == http.StatusMethodNotAllowed && w.Header().Get("Allow") == "" {
		w.Header().Set("Allow", "GET, POST, DELETE")
	}
	if errors.Is(err, session.ErrBusy) {
		w.Header().Set("Retry-After", strconv.Itoa(int(session.BusyRetryAfter.Seconds())))
	}
	id := []byte("null")
	var data json.RawMessage
	if he := (*httpError)(nil); errors.As(err, &he) {
		if he.id.IsValid() {
			id, _ = json.Marshal(he.id.Raw())
		}
		data = he.data
	}
	body := append([]byte(`{"jsonrpc":"2.0","id":`), id...)
	body = append(body, `,"error":{"code":`...)
	body = append(body, strconv.FormatInt(code, 10)...)
	body = append(body, `,"message":`...)
	quoted, _ := json.Marshal(msg)
	body = append(body, quoted...)
	if len(data) > 0 {
		body = append(body, `,"data":`...)
		body = append(body, data...)
	}
	body = append(body, "}}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return status
}
