package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// sessionState is the sessionful era's session, guarded by Bridge.mu.
type sessionState struct {
	id      string // Mcp-Session-Id; "" before initialize and after a loss
	version string // the negotiated protocol version
	gen     int    // one more with every session opened

	initParams json.RawMessage // the client's initialize params, for a new session
	level      json.RawMessage // the last logging/setLevel params that succeeded
	subs       map[string]bool // subscribed resource URIs

	gone    bool          // the server lost the session: the next current opens a new one
	tasks   bool          // the server offers tasks for tools/call
	healing chan struct{} // open while a new session is being opened
	healErr error         // why the last attempt to open one failed
	getLoop bool          // the GET stream's goroutine was started
	// initializing is open while the client's initialize is in flight:
	// messages the client sends meanwhile wait for its answer.
	initializing chan struct{}
}

// Why a call in flight fails when its session is lost.
const lostMessage = "mooring connect: the server lost the MCP session (it restarted without keeping sessions, " +
	"or the session expired); the result of this call is lost. A new session was opened; " +
	"call again if repeating it is safe"

// beginInitialize marks the client's initialize as in flight. It runs
// before the next line from the client is read (initialize itself runs on
// a goroutine of its own), so that what the client sends meanwhile waits
// for the answer instead of being refused.
func (b *Bridge) beginInitialize() chan struct{} {
	initializing := make(chan struct{})
	b.mu.Lock()
	if b.sess.initParams == nil {
		b.sess.initializing = initializing
	}
	b.mu.Unlock()
	return initializing
}

// initialize relays the client's initialize and keeps its params and the
// session id for later; it closes initializing (beginInitialize's) when
// done.
func (b *Bridge) initialize(c *call, raw []byte, initializing chan struct{}) {
	defer func() {
		b.mu.Lock()
		if b.sess.initializing == initializing {
			b.sess.initializing = nil
		}
		b.mu.Unlock()
		close(initializing)
	}()
	b.mu.Lock()
	if b.sess.initParams != nil {
		b.mu.Unlock()
		b.fail(c, jsonrpc.CodeInvalidRequest, "mooring connect: the session is already initialized")
		return
	}
	b.mu.Unlock()
	resp, err := b.doWait(c.ctx, raw, hdr{}, true)
	if err != nil {
		b.fail(c, codeConnection, "mooring connect: initialize: "+err.Error())
		return
	}
	if resp.StatusCode != http.StatusOK {
		b.finishError(c, errorFromStatus(resp))
		return
	}
	b.mu.Lock()
	b.sess.id = resp.Header.Get("Mcp-Session-Id")
	b.sess.gen++
	c.gen, c.streaming = b.sess.gen, true
	b.mu.Unlock()
	// observe keeps the params and the version when the server accepts.
	if err := b.relay(c, resp, &stream{}); err != nil || !b.isDone(c) {
		b.fail(c, codeConnection, fmt.Sprintf("mooring connect: initialize: the server's answer broke off (%v)", err))
		return
	}
	b.mu.Lock()
	id, version, ok := b.sess.id, b.sess.version, b.sess.initParams != nil
	b.mu.Unlock()
	if ok {
		b.log.Info("session opened", "session", id, "version", version)
	}
}

// finishError answers c with the JSON-RPC error e.
func (b *Bridge) finishError(c *call, e *jsonrpc.Error) {
	raw, _ := jsonrpc.EncodeMessage(&jsonrpc.Response{ID: c.id, Error: e})
	b.finish(c, raw, &jsonrpc.Response{ID: c.id, Error: e})
}

// current returns the live session, opening a new one when the last was
// lost; it waits while another goroutine opens it.
func (b *Bridge) current(ctx context.Context) (h hdr, gen int, err error) {
	for {
		b.mu.Lock()
		s := &b.sess
		switch {
		case s.initParams != nil && !s.gone:
			// A server may run without session ids: then id stays "".
			h, gen = hdr{session: s.id, version: s.version}, s.gen
			b.mu.Unlock()
			return h, gen, nil
		case s.initParams == nil && s.initializing != nil:
			// A client that sends initialized (or a call) before
			// initialize is answered: it goes after the answer.
			ch := s.initializing
			b.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return hdr{}, 0, ctx.Err()
			}
			continue
		case s.initParams == nil:
			b.mu.Unlock()
			return hdr{}, 0, errors.New("mooring connect: the client has not sent initialize yet")
		case s.healing != nil:
			// Wait for the attempt under way, and share its failure
			// rather than start another (each may wait WaitFor).
			ch := s.healing
			b.mu.Unlock()
			select {
			case <-ch:
			case <-ctx.Done():
				return hdr{}, 0, ctx.Err()
			}
			b.mu.Lock()
			err := s.healErr
			b.mu.Unlock()
			if err != nil {
				return hdr{}, 0, err
			}
			continue
		}
		s.healing = make(chan struct{})
		ch := s.healing
		b.mu.Unlock()
		err := b.reopen()
		if err != nil {
			err = fmt.Errorf("mooring connect: opening a new session: %w", err)
		}
		b.mu.Lock()
		s.healing, s.healErr = nil, err
		close(ch)
		b.mu.Unlock()
		if err != nil {
			return hdr{}, 0, err
		}
	}
}

// lost records that the session of generation gen is gone (404): the calls
// the server had taken in it fail, and the client is told. The next
// current opens a new session.
func (b *Bridge) lost(gen int, where string) {
	b.mu.Lock()
	if b.sess.gen != gen || b.sess.gone {
		b.mu.Unlock()
		return
	}
	old := b.sess.id
	b.sess.id, b.sess.gone = "", true
	var failed []*call
	for _, c := range b.calls {
		if c.gen == gen && c.streaming && c.reply == nil {
			failed = append(failed, c)
		}
	}
	b.mu.Unlock()
	b.log.Warn("the server lost the session; opening a new one", "session", old, "noticed", where, "calls_lost", len(failed))
	for _, c := range failed {
		b.fail(c, codeConnection, lostMessage)
	}
	b.notifyClient("warning", fmt.Sprintf("mooring connect: the server no longer knows the MCP session %s "+
		"(it restarted without keeping sessions, or the session expired). %d call(s) in flight failed: their results are lost. "+
		"Opening a new session with the original initialize parameters; state the server kept for the old session is gone.", old, len(failed)))
}

// reopen opens a new session with the client's original initialize params
// and replays the log level and the resource subscriptions.
func (b *Bridge) reopen() error {
	ctx := b.ctx
	b.mu.Lock()
	params, level := b.sess.initParams, b.sess.level
	subs := make([]string, 0, len(b.sess.subs))
	for u := range b.sess.subs {
		subs = append(subs, u)
	}
	b.mu.Unlock()
	sort.Strings(subs)

	c, raw := b.own("initialize", params)
	resp, err := b.doWait(ctx, raw, hdr{}, true)
	if err != nil {
		b.drop(c)
		return err
	}
	if resp.StatusCode != http.StatusOK {
		b.drop(c)
		return fmt.Errorf("initialize: %s", errorFromStatus(resp).Message)
	}
	h := hdr{session: resp.Header.Get("Mcp-Session-Id")}
	res, err := b.await(c, resp)
	if err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	var ir struct {
		ProtocolVersion string `json:"protocolVersion"`
		Capabilities    map[string]struct {
			ListChanged bool `json:"listChanged"`
		} `json:"capabilities"`
	}
	_ = json.Unmarshal(res.Result, &ir)
	h.version = ir.ProtocolVersion
	n, _ := newCall(jsonrpc.ID{}, "notifications/initialized", nil)
	nraw, _ := jsonrpc.EncodeMessage(n)
	if err := b.post(ctx, nraw, h); err != nil {
		return fmt.Errorf("notifications/initialized: %w", err)
	}
	// A replay the new server refuses does not stop the session: the
	// client is told what did not come back.
	var replayed, failed []string
	if level != nil {
		if err := b.ownCall(ctx, h, "logging/setLevel", level); err != nil {
			failed = append(failed, err.Error())
		} else {
			replayed = append(replayed, "the log level")
		}
	}
	n2 := 0
	for _, u := range subs {
		if err := b.ownCall(ctx, h, "resources/subscribe", map[string]string{"uri": u}); err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", u, err))
		} else {
			n2++
		}
	}
	if n2 > 0 {
		replayed = append(replayed, fmt.Sprintf("%d resource subscription(s)", n2))
	}
	b.mu.Lock()
	prev := b.sess.version
	b.sess.id, b.sess.version = h.session, h.version
	b.sess.gen++
	b.sess.gone = false
	b.mu.Unlock()
	b.log.Info("opened a new session", "session", h.session, "version", h.version, "replayed", replayed, "not_replayed", failed)
	text := "mooring connect: opened a new MCP session " + h.session + " with the original initialize parameters"
	if len(replayed) > 0 {
		text += "; replayed " + strings.Join(replayed, " and ")
	}
	if prev != "" && prev != h.version {
		text += fmt.Sprintf("; note: the server now speaks protocol version %s (was %s)", h.version, prev)
	}
	severity := "notice"
	if len(failed) > 0 {
		text += "; could not replay " + strings.Join(failed, "; ")
		severity = "warning"
	}
	b.notifyClient(severity, text+".")
	// What the server offers may have changed with its restart.
	for _, k := range []string{"tools", "prompts", "resources"} {
		if ir.Capabilities[k].ListChanged {
			n, _ := newCall(jsonrpc.ID{}, "notifications/"+k+"/list_changed", nil)
			raw, _ := jsonrpc.EncodeMessage(n)
			b.write(raw)
		}
	}
	return nil
}

// await reads c's answer from resp (no resumption: the bridge's own calls
// are short and are simply made again).
func (b *Bridge) await(c *call, resp *http.Response) (*jsonrpc.Response, error) {
	err := b.relay(c, resp, &stream{})
	select {
	case r := <-c.reply:
		if r.Error != nil {
			return nil, r.Error
		}
		return r, nil
	default:
		b.drop(c)
		if err == nil {
			err = errors.New("the stream ended without an answer")
		}
		return nil, err
	}
}

// ownCall makes one request of the bridge's own in session h.
func (b *Bridge) ownCall(ctx context.Context, h hdr, method string, params any) error {
	c, raw := b.own(method, params)
	resp, err := b.doWait(ctx, raw, h, true)
	if err != nil {
		b.drop(c)
		return fmt.Errorf("%s: %w", method, err)
	}
	if resp.StatusCode != http.StatusOK {
		b.drop(c)
		return fmt.Errorf("%s: %s", method, errorFromStatus(resp).Message)
	}
	if _, err := b.await(c, resp); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	return nil
}

// post sends a notification or a reply and expects 202 (or any 2xx).
func (b *Bridge) post(ctx context.Context, raw []byte, h hdr) error {
	resp, err := b.doWait(ctx, raw, h, true)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return &statusError{resp.StatusCode, errorFromStatus(resp).Message}
	}
	return nil
}

type statusError struct {
	code int
	msg  string
}

func (e *statusError) Error() string { return e.msg }

// sessionNotify relays a notification of the client in its session.
func (b *Bridge) sessionNotify(raw []byte, n *jsonrpc.Request) {
	b.sendInSession(raw, n.Method)
	if n.Method == "notifications/initialized" {
		b.mu.Lock()
		start := !b.sess.getLoop && b.sess.initParams != nil
		b.sess.getLoop = true
		b.mu.Unlock()
		if start {
			b.wg.Go(b.getStream)
		}
	}
}

// sessionReply relays the client's reply to a server-to-client request.
func (b *Bridge) sessionReply(raw []byte, r *jsonrpc.Response) {
	b.sendInSession(raw, "a reply")
}

func (b *Bridge) sendInSession(raw []byte, what string) {
	h, gen, err := b.current(b.ctx)
	if err != nil {
		b.log.Warn("dropping a message of the client", "message", what, "err", err)
		return
	}
	err = b.post(b.ctx, raw, h)
	var se *statusError
	if errors.As(err, &se) && se.code == http.StatusNotFound && h.session != "" {
		b.lost(gen, what)
		return
	}
	if err != nil {
		b.log.Warn("the server did not take a message of the client", "message", what, "err", err)
	}
}

// sessionCall relays one request of the client in its session, resuming
// its stream when it breaks.
func (b *Bridge) sessionCall(c *call, raw []byte) {
	bo := newBackoff(0)
	deadline := time.Now().Add(b.opts.ResumeFor)
	raw = b.asTask(c, raw)
	for lostTries := 0; ; {
		h, gen, err := b.current(c.ctx)
		if err != nil {
			b.fail(c, codeConnection, err.Error())
			return
		}
		b.mu.Lock()
		c.gen, c.streaming = gen, false
		b.mu.Unlock()
		resp, err := b.doWait(c.ctx, raw, h, false)
		if errors.Is(err, errBroken) && b.again(c, deadline, bo, err) {
			raw = b.rekey(c, raw, h)
			continue
		}
		if err != nil {
			if c.ctx.Err() == nil {
				b.fail(c, codeConnection, "mooring connect: "+c.method+": "+explain(err))
			}
			return
		}
		if resp.StatusCode == http.StatusNotFound && h.session != "" && lostTries < 3 {
			// The server did not take the request: it is safe to send
			// it again in the new session.
			resp.Body.Close()
			lostTries++
			b.lost(gen, c.method)
			continue
		}
		if resp.StatusCode/100 != 2 || resp.StatusCode == http.StatusAccepted {
			b.finishError(c, errorFromStatus(resp))
			return
		}
		b.mu.Lock()
		c.streaming = true
		b.mu.Unlock()
		st := &stream{}
		err = b.relay(c, resp, st)
		if !b.isDone(c) && !b.taskPending(c) && st.lastID != "" {
			b.resume(c, h, st, err)
		}
		if b.isDone(c) {
			return
		}
		if b.taskPending(c) {
			// The server runs it as a task: its result is fetched with
			// tasks/result, which is safe to send again after any break.
			raw = b.nextTaskFetch(c, bo)
			deadline = time.Now().Add(b.opts.ResumeFor)
			continue
		}
		// Nothing to resume from (the server keeps no event ids): only a
		// request that is safe to repeat is sent again.
		if err == nil {
			err = errors.New("the stream ended without an answer")
		}
		if st.events > 0 {
			deadline, bo = time.Now().Add(b.opts.ResumeFor), newBackoff(0)
		}
		if b.again(c, deadline, bo, err) {
			raw = b.rekey(c, raw, h)
			continue
		}
		if c.ctx.Err() == nil {
			b.fail(c, codeConnection, "mooring connect: "+c.method+": the server's response stream broke before the answer ("+
				err.Error()+") and gave no event id to resume from; "+notRepeated(b.safeToRepeat(c))+"the result of this call is lost")
		}
		return
	}
}

// again reports whether c may be sent again after why, once it has waited
// for the backoff: c must be safe to repeat and deadline not passed.
func (b *Bridge) again(c *call, deadline time.Time, bo *backoff, why error) bool {
	if !b.safeToRepeat(c) || time.Now().After(deadline) {
		return false
	}
	b.log.Info("sending a request again", "id", c.id.Raw(), "method", c.method, "why", why)
	return sleep(c.ctx, bo.next())
}

func notRepeated(safe bool) string {
	if safe {
		return "repeating it kept failing, so "
	}
	return "it is not marked read-only or idempotent, so it was not repeated, and "
}

// explain words err for the client.
func explain(err error) string {
	switch {
	case errors.Is(err, errUnreachable):
		return err.Error() + "; the request was not sent"
	case errors.Is(err, errBroken):
		return err.Error() + "; the request may or may not have run; it is not marked read-only or idempotent, so it was not repeated"
	}
	return err.Error()
}

// resume gets the rest of c's broken stream with GET and Last-Event-ID,
// until c is answered, its session is lost, or ResumeFor passes without
// the server answering.
func (b *Bridge) resume(c *call, h hdr, st *stream, why error) {
	b.log.Info("the response stream broke; resuming it", "id", c.id.Raw(), "method", c.method, "last_event_id", st.lastID, "err", why)
	deadline := time.Now().Add(b.opts.ResumeFor)
	bo := newBackoff(st.retry)
	for {
		if !sleep(c.ctx, bo.next()) {
			return
		}
		b.mu.Lock()
		gen, done := b.sess.gen, c.answered
		b.mu.Unlock()
		if done {
			return
		}
		if gen != c.gen {
			b.fail(c, codeConnection, lostMessage)
			return
		}
		if time.Now().After(deadline) {
			b.fail(c, codeConnection, fmt.Sprintf("mooring connect: the server could not be reached for %s "+
				"to resume the response stream; the result of this call is lost", b.opts.ResumeFor))
			return
		}
		h.lastEventID = st.lastID
		resp, err := b.do(c.ctx, nil, h)
		if err != nil {
			b.log.Debug("resuming failed; trying again", "id", c.id.Raw(), "err", err)
			continue
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			err := b.relay(c, resp, st)
			if b.isDone(c) || b.taskPending(c) {
				return
			}
			if st.events > 0 {
				deadline = time.Now().Add(b.opts.ResumeFor)
				bo = newBackoff(st.retry)
			}
			b.log.Debug("the resumed stream ended before the answer", "id", c.id.Raw(), "err", err)
		case resp.StatusCode == http.StatusNotFound && h.session != "":
			resp.Body.Close()
			b.lost(c.gen, "resuming "+c.method)
			b.fail(c, codeConnection, lostMessage) // a no-op when lost answered it
			return
		default:
			e := errorFromStatus(resp)
			b.fail(c, codeConnection, "mooring connect: the server refused to resume the response stream: "+e.Message+
				"; the result of this call is lost")
			return
		}
	}
}

// getStream holds the session's GET stream open for the server's requests
// and notifications, resuming it after every break, and opens a new
// session when the server lost the old one, so that an idle client learns
// of it too.
func (b *Bridge) getStream() {
	ctx := b.ctx
	st, lastGen := &stream{}, -1
	bo := newBackoff(0)
	for ctx.Err() == nil {
		h, gen, err := b.current(ctx)
		if err != nil {
			b.log.Debug("no session for the GET stream yet", "err", err)
			sleep(ctx, bo.next())
			continue
		}
		if gen != lastGen {
			st, lastGen = &stream{}, gen
		}
		h.lastEventID = st.lastID
		resp, err := b.do(ctx, nil, h)
		if err != nil {
			sleep(ctx, bo.next())
			continue
		}
		switch {
		case resp.StatusCode == http.StatusOK:
			err := b.relay(nil, resp, st)
			b.log.Debug("the GET stream ended", "err", err, "events", st.events)
			if st.events > 0 {
				bo = newBackoff(st.retry)
			}
		case resp.StatusCode == http.StatusNotFound && h.session != "":
			resp.Body.Close()
			b.lost(gen, "the GET stream")
			continue
		case resp.StatusCode == http.StatusMethodNotAllowed:
			resp.Body.Close()
			b.log.Info("the server offers no GET stream")
			return
		default:
			b.log.Debug("the GET stream was refused", "status", resp.Status)
			resp.Body.Close()
		}
		sleep(ctx, bo.next())
	}
}

// endSession ends the remote session (DELETE) when the client is gone.
func (b *Bridge) endSession() {
	b.mu.Lock()
	h := hdr{session: b.sess.id, version: b.sess.version}
	b.mu.Unlock()
	if h.session == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	status, err := b.deleteSession(ctx, h)
	if err != nil {
		b.log.Debug("ending the session", "err", err)
		return
	}
	b.log.Info("ended the session", "session", h.session, "status", status)
}

// deleteSession ends session h on the server (DELETE) and returns the
// answer's status.
func (b *Bridge) deleteSession(ctx context.Context, h hdr) (string, error) {
	req, err := b.newRequest(ctx, nil, h)
	if err != nil {
		return "", err
	}
	req.Method = http.MethodDelete
	req.Header.Del("Accept")
	resp, err := b.hc.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	return resp.Status, nil
}
