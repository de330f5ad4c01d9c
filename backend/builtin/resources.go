package builtin

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	staticTextURI   = "test://static-text"
	staticBinaryURI = "test://static-binary"
	watchedURI      = "test://watched-resource"

	templateURI    = "test://template/{id}/data"
	templatePrefix = "test://template/"
	templateSuffix = "/data"
)

// watchedUpdateDelay is how long after a subscription to
// test://watched-resource the resource changes. go-sdk records a subscription
// only after SubscribeHandler returns, so the change must come later; it is
// short enough for a test to wait for.
const watchedUpdateDelay = 100 * time.Millisecond

func (b *server) addResources() {
	s := b.mcp
	s.AddResource(&mcp.Resource{
		URI:         staticTextURI,
		Name:        "static-text",
		Description: "A text resource that never changes.",
		MIMEType:    "text/plain",
	}, b.readStaticText)
	s.AddResource(&mcp.Resource{
		URI:         staticBinaryURI,
		Name:        "static-binary",
		Description: "A binary resource (a 1x1 PNG) that never changes.",
		MIMEType:    "image/png",
	}, b.readStaticBinary)
	s.AddResource(&mcp.Resource{
		URI:         watchedURI,
		Name:        "watched-resource",
		Description: "A text resource that changes shortly after each subscription to it, notifying its subscribers.",
		MIMEType:    "text/plain",
	}, b.readWatched)
	s.AddResourceTemplate(&mcp.ResourceTemplate{
		URITemplate: templateURI,
		Name:        "template-data",
		Description: "JSON data for any id, substituted into the URI.",
		MIMEType:    "application/json",
	}, b.readTemplate)
}

func (b *server) readStaticText(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{
		URI:      req.Params.URI,
		MIMEType: "text/plain",
		Text:     "This static text resource is served by mooring's built-in server.",
	}}}, nil
}

func (b *server) readStaticBinary(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{
		URI:      req.Params.URI,
		MIMEType: "image/png",
		Blob:     b.png,
	}}}, nil
}

func (b *server) readWatched(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{
		URI:      req.Params.URI,
		MIMEType: "text/plain",
		Text:     fmt.Sprintf("watched resource, revision %d", b.watchedRev.Load()),
	}}}, nil
}

// templateID returns the id in a URI of the template test://template/{id}/data.
func templateID(uri string) (string, bool) {
	rest, ok := strings.CutPrefix(uri, templatePrefix)
	if !ok {
		return "", false
	}
	id, ok := strings.CutSuffix(rest, templateSuffix)
	if !ok || id == "" || strings.Contains(id, "/") {
		return "", false
	}
	return id, true
}

func (b *server) readTemplate(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	id, ok := templateID(req.Params.URI)
	if !ok {
		return nil, mcp.ResourceNotFoundError(req.Params.URI)
	}
	data, err := json.Marshal(map[string]any{
		"id":       id,
		"template": templateURI,
		"data":     "data for id " + id,
	})
	if err != nil {
		return nil, fmt.Errorf("encoding template data for %q: %w", id, err)
	}
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{
		URI:      req.Params.URI,
		MIMEType: "application/json",
		Text:     string(data),
	}}}, nil
}

// known reports whether uri names one of this server's resources, directly
// or through the template.
func known(uri string) bool {
	switch uri {
	case staticTextURI, staticBinaryURI, watchedURI:
		return true
	}
	_, ok := templateID(uri)
	return ok
}

// subscribe accepts subscriptions to any of this server's resources; go-sdk
// tracks them and answers {}. A subscription to test://watched-resource makes
// it change once, so that a subscriber sees notifications/resources/updated
// (on the GET stream: the notification belongs to no request).
func (b *server) subscribe(_ context.Context, req *mcp.SubscribeRequest) error {
	if !known(req.Params.URI) {
		return mcp.ResourceNotFoundError(req.Params.URI)
	}
	if req.Params.URI == watchedURI {
		time.AfterFunc(watchedUpdateDelay, b.touchWatched)
	}
	return nil
}

func (b *server) unsubscribe(_ context.Context, req *mcp.UnsubscribeRequest) error {
	if !known(req.Params.URI) {
		return mcp.ResourceNotFoundError(req.Params.URI)
	}
	return nil
}

// touchWatched changes test://watched-resource and notifies its subscribers.
func (b *server) touchWatched() {
	b.watchedRev.Add(1)
	// ResourceUpdated only logs failures to notify a session; it has no error
	// worth handling here.
	_ = b.mcp.ResourceUpdated(context.Background(), &mcp.ResourceUpdatedNotificationParams{URI: watchedURI})
}

// candidates returns the completion values for an argument of a reference,
// and whether the reference is one of this server's.
func candidates(ref mcp.CompleteReference, arg string) ([]string, bool) {
	switch {
	case ref.Type == "ref/prompt" && ref.Name == "test_prompt_with_arguments":
		switch arg {
		case "arg1":
			return []string{"hello", "help", "harbor", "test", "testValue1"}, true
		case "arg2":
			return []string{"world", "wharf", "test", "testValue2"}, true
		}
	case ref.Type == "ref/prompt" && ref.Name == "test_prompt_with_embedded_resource":
		if arg == "resourceUri" {
			return []string{staticTextURI, staticBinaryURI, watchedURI, "test://template/1/data"}, true
		}
	case ref.Type == "ref/prompt" && (ref.Name == "test_simple_prompt" || ref.Name == "test_prompt_with_image"):
		// Known, but without arguments to complete.
	case ref.Type == "ref/resource" && ref.URI == templateURI:
		if arg == "id" {
			return []string{"1", "2", "3", "42", "123"}, true
		}
	default:
		return nil, false
	}
	return nil, true
}

// complete suggests values that start with what the user typed, ignoring
// case. A reference this server does not have is an invalid-params error; an
// argument without candidates gets an empty list.
func (b *server) complete(_ context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
	ref := *req.Params.Ref
	all, ok := candidates(ref, req.Params.Argument.Name)
	if !ok {
		return nil, &jsonrpc.Error{
			Code:    jsonrpc.CodeInvalidParams,
			Message: fmt.Sprintf("completion: unknown reference %s %s%s", ref.Type, ref.Name, ref.URI),
		}
	}
	prefix := strings.ToLower(req.Params.Argument.Value)
	values := []string{} // never null on the wire
	for _, v := range all {
		if strings.HasPrefix(strings.ToLower(v), prefix) {
			values = append(values, v)
		}
	}
	// The candidate lists are far below the spec's limit of 100 values, so
	// the result is always complete.
	return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{
		Values: values,
		Total:  len(values),
	}}, nil
}
