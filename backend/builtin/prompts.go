package builtin

import (
	"context"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func (b *server) addPrompts() {
	s := b.mcp
	s.AddPrompt(&mcp.Prompt{
		Name:        "test_simple_prompt",
		Description: "A prompt with no arguments and one text message.",
	}, b.simplePrompt)
	s.AddPrompt(&mcp.Prompt{
		Name:        "test_prompt_with_arguments",
		Description: "A prompt whose text includes its two arguments.",
		Arguments: []*mcp.PromptArgument{
			{Name: "arg1", Description: "first value to include", Required: true},
			{Name: "arg2", Description: "second value to include", Required: true},
		},
	}, b.promptWithArguments)
	s.AddPrompt(&mcp.Prompt{
		Name:        "test_prompt_with_embedded_resource",
		Description: "A prompt that embeds a text resource under the given URI.",
		Arguments: []*mcp.PromptArgument{
			{Name: "resourceUri", Description: "URI to give the embedded resource", Required: true},
		},
	}, b.promptWithResource)
	s.AddPrompt(&mcp.Prompt{
		Name:        "test_prompt_with_image",
		Description: "A prompt with an image message (a 1x1 PNG) and a text message.",
	}, b.promptWithImage)
}

// requiredArgs returns the named prompt arguments, or an invalid-params error
// naming the first one missing.
func requiredArgs(req *mcp.GetPromptRequest, names ...string) ([]string, error) {
	vals := make([]string, len(names))
	for i, n := range names {
		v, ok := req.Params.Arguments[n]
		if !ok {
			return nil, &jsonrpc.Error{
				Code:    jsonrpc.CodeInvalidParams,
				Message: fmt.Sprintf("prompt %s: missing required argument %q", req.Params.Name, n),
			}
		}
		vals[i] = v
	}
	return vals, nil
}

func userMessage(c mcp.Content) *mcp.PromptMessage {
	return &mcp.PromptMessage{Role: "user", Content: c}
}

func (b *server) simplePrompt(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	return &mcp.GetPromptResult{
		Description: "A simple prompt",
		Messages: []*mcp.PromptMessage{
			userMessage(&mcp.TextContent{Text: "This is a simple prompt with no arguments."}),
		},
	}, nil
}

func (b *server) promptWithArguments(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	args, err := requiredArgs(req, "arg1", "arg2")
	if err != nil {
		return nil, err
	}
	return &mcp.GetPromptResult{
		Description: "A prompt with arguments",
		Messages: []*mcp.PromptMessage{
			userMessage(&mcp.TextContent{Text: fmt.Sprintf("The arguments were arg1=%q and arg2=%q.", args[0], args[1])}),
		},
	}, nil
}

func (b *server) promptWithResource(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	args, err := requiredArgs(req, "resourceUri")
	if err != nil {
		return nil, err
	}
	return &mcp.GetPromptResult{
		Description: "A prompt with an embedded resource",
		Messages: []*mcp.PromptMessage{
			userMessage(&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{
				URI:      args[0],
				MIMEType: "text/plain",
				Text:     "Text of a resource embedded in a prompt.",
			}}),
			userMessage(&mcp.TextContent{Text: "Please summarise the resource above."}),
		},
	}, nil
}

func (b *server) promptWithImage(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	return &mcp.GetPromptResult{
		Description: "A prompt with an image",
		Messages: []*mcp.PromptMessage{
			userMessage(&mcp.ImageContent{Data: b.png, MIMEType: "image/png"}),
			userMessage(&mcp.TextContent{Text: "Please describe the image above."}),
		},
	}, nil
}
