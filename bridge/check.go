package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Check tries the endpoint in both eras and writes what it negotiated to
// w: the session, protocol version, server, capabilities, whether its
// streams can be resumed, whether it offers a GET stream, and what
// server/discover says. It fails when neither era works.
func Check(ctx context.Context, url string, opts *Options, w io.Writer) error {
	b := New(url, opts)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	fmt.Fprintf(w, "endpoint: %s\n", url)
	errOld := checkSessionful(ctx, b, w)
	if errOld != nil {
		fmt.Fprintf(w, "sessionful (2025-11-25): no: %v\n", errOld)
	}
	errNew := checkStateless(ctx, b, w)
	if errNew != nil {
		fmt.Fprintf(w, "stateless (2026-07-28): no: %v\n", errNew)
	}
	if errOld != nil && errNew != nil {
		return errors.New("the endpoint answered neither era")
	}
	return nil
}

func checkSessionful(ctx context.Context, b *Bridge, w io.Writer) error {
	params := map[string]any{
		"protocolVersion": Sessionful,
		"capabilities":    map[string]any{},
		"clientInfo":      map[string]string{"name": "mooring-connect-check", "version": "1"},
	}
	req, _ := newCall(mustID("check/1"), "initialize", params)
	raw, _ := jsonrpc.EncodeMessage(req)
	resp, err := b.do(ctx, raw, hdr{})
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return errors.New(errorFromStatus(resp).Message)
	}
	h := hdr{session: resp.Header.Get("Mcp-Session-Id")}
	res, resumable, err := readAnswer(resp)
	if err != nil {
		return err
	}
	var ir struct {
		ProtocolVersion string                         `json:"protocolVersion"`
		ServerInfo      struct{ Name, Version string } `json:"serverInfo"`
		Capabilities    map[string]json.RawMessage     `json:"capabilities"`
	}
	if err := json.Unmarshal(res.Result, &ir); err != nil {
		return fmt.Errorf("initialize result: %w", err)
	}
	h.version = ir.ProtocolVersion
	fmt.Fprintf(w, "sessionful: yes, protocol version %s, server %s %s\n", ir.ProtocolVersion, ir.ServerInfo.Name, ir.ServerInfo.Version)
	if h.session != "" {
		fmt.Fprintf(w, "  session: %s\n", h.session)
	} else {
		fmt.Fprintln(w, "  session: none (the server issues no Mcp-Session-Id)")
	}
	caps := make([]string, 0, len(ir.Capabilities))
	for k := range ir.Capabilities {
		caps = append(caps, k)
	}
	sort.Strings(caps)
	fmt.Fprintf(w, "  capabilities: %s\n", strings.Join(caps, ", "))
	if offersToolTasks(res.Result) {
		fmt.Fprintln(w, "  tasks: offered for tools/call (task-supporting calls run as tasks unless --tasks=false)")
	}
	switch resumable {
	case true:
		fmt.Fprintln(w, "  response streams: SSE with event ids (a broken stream can be resumed)")
	default:
		fmt.Fprintf(w, "  response streams: %s without event ids (a broken stream cannot be resumed)\n", resp.Header.Get("Content-Type"))
	}
	n, _ := newCall(jsonrpc.ID{}, "notifications/initialized", nil)
	nraw, _ := jsonrpc.EncodeMessage(n)
	if r, err := b.do(ctx, nraw, h); err == nil {
		r.Body.Close()
	}
	gctx, gcancel := context.WithTimeout(ctx, 5*time.Second)
	if r, err := b.do(gctx, nil, h); err != nil {
		fmt.Fprintf(w, "  GET stream: %v\n", err)
	} else {
		r.Body.Close()
		switch r.StatusCode {
		case http.StatusOK:
			fmt.Fprintln(w, "  GET stream: offered")
		case http.StatusMethodNotAllowed:
			fmt.Fprintln(w, "  GET stream: not offered (405)")
		default:
			fmt.Fprintf(w, "  GET stream: %s\n", r.Status)
		}
	}
	gcancel()
	if h.session != "" {
		if status, err := b.deleteSession(ctx, h); err == nil {
			fmt.Fprintf(w, "  DELETE (end the check's session): %s\n", status)
		}
	}
	return nil
}

func checkStateless(ctx context.Context, b *Bridge, w io.Writer) error {
	params := map[string]any{"_meta": map[string]any{
		metaVersionKey:                               Stateless,
		"io.modelcontextprotocol/clientInfo":         map[string]string{"name": "mooring-connect-check", "version": "1"},
		"io.modelcontextprotocol/clientCapabilities": map[string]any{},
	}}
	req, _ := newCall(mustID("check/2"), "server/discover", params)
	raw, _ := jsonrpc.EncodeMessage(req)
	resp, err := b.do(ctx, raw, hdr{version: Stateless, method: "server/discover"})
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return errors.New(errorFromStatus(resp).Message)
	}
	res, _, err := readAnswer(resp)
	if err != nil {
		return err
	}
	var dr struct {
		SupportedVersions []string `json:"supportedVersions"`
	}
	_ = json.Unmarshal(res.Result, &dr)
	fmt.Fprintf(w, "stateless: yes, server/discover lists versions %s\n", strings.Join(dr.SupportedVersions, ", "))
	return nil
}

// readAnswer reads the first response from resp (JSON or SSE) and reports
// whether the stream carried event ids.
func readAnswer(resp *http.Response) (*jsonrpc.Response, bool, error) {
	defer resp.Body.Close()
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	decode := func(raw []byte) (*jsonrpc.Response, error) {
		msg, err := jsonrpc.DecodeMessage(raw)
		if err != nil {
			return nil, err
		}
		r, ok := msg.(*jsonrpc.Response)
		if !ok {
			return nil, nil
		}
		if r.Error != nil {
			return nil, r.Error
		}
		return r, nil
	}
	if ct == "application/json" {
		raw, err := io.ReadAll(resp.Body)
		if err != nil {
			return nil, false, err
		}
		r, err := decode(raw)
		if r == nil && err == nil {
			err = errors.New("no response in the body")
		}
		return r, false, err
	}
	var got *jsonrpc.Response
	var gotErr error
	ids := false
	err := readEvents(resp.Body, func(ev event) bool {
		ids = ids || ev.hasID
		if len(ev.data) == 0 {
			return true
		}
		got, gotErr = decode(ev.data)
		return got == nil && gotErr == nil
	})
	if gotErr != nil {
		return nil, ids, gotErr
	}
	if got == nil {
		if err == nil {
			err = errors.New("the stream ended without an answer")
		}
		return nil, ids, err
	}
	return got, ids, nil
}
