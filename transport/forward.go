package transport

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mooring-dev/mooring/session"
)

// ForwardedHeader marks a request that one replica passed to the session's
// owner; the owner never passes it on again.
const ForwardedHeader = "Mooring-Forwarded"

// DefaultOwnerWait bounds how long a request waits for a dead owner's lease
// to run out before it is served here.
const DefaultOwnerWait = 15 * time.Second

// hopHeaders are not passed from one replica to the next.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// forwardClient passes requests between replicas. Its header timeout holds
// for SSE answers, whose headers leave the owner within the prime delay,
// and GET streams, which send theirs at once: an owner that accepts but
// does not answer (hung, stopped) is not waited on for ever. A JSON answer
// comes with its headers only when the work is done, so JSON mode has no
// such bound.
var forwardClient, forwardClientJSON = newForwardClient(10 * time.Second), newForwardClient(0)

func newForwardClient(headerTimeout time.Duration) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       time.Minute,
		ResponseHeaderTimeout: headerTimeout,
	}}
}

// withSession runs serve with the live session sid. When another replica
// owns it, the request is passed to that replica instead; when the owner
// does not answer (it died), the request waits until its lease runs out and
// the session can be restored here.
func (h *Handler) withSession(w http.ResponseWriter, r *http.Request, sid string, body []byte, serve func(*session.Session) error) error {
	if !validSessionID(sid) {
		// Not an id mooring could have issued: unknown, without asking the
		// store.
		return fmt.Errorf("%w: malformed id", session.ErrNotFound)
	}
	deadline := time.Now().Add(h.opts.OwnerWait)
	for {
		s, err := h.m.Get(r.Context(), sid)
		var re *session.RemoteError
		if !errors.As(err, &re) {
			if err != nil {
				return err
			}
			if got, want := principal(r), s.Principal(); got != want {
				// Someone else's session, or a token of another user: as
				// unknown as an id that never existed (DESIGN.md,
				// invariant 11). The owner replica checks this itself,
				// on the client's own token, when the request is
				// forwarded to it.
				h.log.Warn("request refused: the session belongs to another principal", "session", sid, "principal", got, "method", r.Method)
				return fmt.Errorf("%w: %s", session.ErrNotFound, sid)
			}
			return serve(s)
		}
		if got := principal(r); got != re.Principal {
			// Refused here, before the owner is asked: and a client that
			// sends ForwardedHeader itself learns nothing either (the
			// owner checks again on the client's own token).
			h.log.Warn("request refused: the session belongs to another principal", "session", sid, "principal", got, "method", r.Method)
			return fmt.Errorf("%w: %s", session.ErrNotFound, sid)
		}
		if r.Header.Get(ForwardedHeader) != "" {
			return statusError(http.StatusServiceUnavailable, "session %s is moving between replicas; retry", sid)
		}
		client := forwardClient
		if h.opts.Mode == JSON && r.Method == http.MethodPost {
			client = forwardClientJSON
		}
		sent, err := forward(w, r, client, body, re.OwnerURL)
		if sent || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return statusError(http.StatusServiceUnavailable, "the replica that owns session %s does not answer; retry", sid)
		}
		h.log.Warn("session owner unreachable; waiting for its lease to run out", "session", sid, "owner", re.OwnerURL)
		select {
		case <-time.After(250 * time.Millisecond):
		case <-r.Context().Done():
			return r.Context().Err()
		}
	}
}

// forward passes r to the owner and copies its answer back, streaming. It
// reports false, with nothing written, when the owner cannot be reached.
func forward(w http.ResponseWriter, r *http.Request, client *http.Client, body []byte, ownerURL string) (bool, error) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, ownerURL, bytes.NewReader(body))
	if err != nil {
		return false, err
	}
	req.Header = r.Header.Clone()
	for _, k := range hopHeaders {
		req.Header.Del(k)
	}
	req.Header.Set(ForwardedHeader, "1")
	resp, err := client.Do(req)
	if err != nil {
		if r.Context().Err() != nil {
			return true, r.Context().Err()
		}
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return false, nil // never reached the owner: safe to wait and retry
		}
		// The owner may have received the request: running it again here
		// could do its work twice.
		return true, &httpError{status: http.StatusBadGateway, code: jsonrpc.CodeInternalError, msg: "the replica that owns this session failed during the request; retry", cause: fmt.Errorf("forwarding to %s: %w", ownerURL, err)}
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	for _, k := range hopHeaders {
		w.Header().Del(k)
	}
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return true, nil // the client left
			}
			_ = rc.Flush() // SSE: pass each event on at once
		}
		if err != nil {
			// EOF, the client leaving, or the owner's stream breaking: the
			// answer was sent as far as it went, and the client resumes.
			return true, nil
		}
	}
}

// principal is who sent r: the principal of its verified token (auth
// middleware), "" without authentication.
func principal(r *http.Request) string {
	if ti := auth.TokenInfoFromContext(r.Context()); ti != nil {
		return ti.UserID
	}
	return ""
}

// validSessionID accepts what the spec allows (visible ASCII) up to a length
// far above mooring's own 32-character ids.
func validSessionID(sid string) bool {
	if len(sid) == 0 || len(sid) > 256 {
		return false
	}
	for i := 0; i < len(sid); i++ {
		if sid[i] < 0x21 || sid[i] > 0x7e {
			return false
		}
	}
	return true
}
