// Package builtin is the MCP server that mooring serves when no other backend
// is configured: every tool, resource, prompt and completion that the MCP
// conformance suite (@modelcontextprotocol/conformance 0.1.16, and the
// 2026-07-28 fixtures of 0.2.0-alpha: see modern.go) calls on a server, plus
// slow_count, a tool for trying stream resumption by hand.
//
// The fixtures follow the suite's scenario descriptions; the suite checks
// shapes (content types, MIME types, argument substitution, notification
// counts) rather than exact texts, and those shapes are what the tests here
// pin down.
package builtin

import (
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// server holds what the handlers share: media generated once per server and
// the revision of test://watched-resource.
type server struct {
	mcp *mcp.Server
	png []byte // a 1x1 red PNG
	wav []byte // a short mono tone

	watchedRev atomic.Int64

	stateKey []byte // signs requestState of the multi round-trip fixtures

	dynMu     sync.Mutex
	dynTool   bool // test_dynamic_tool is listed
	dynPrompt bool // test_dynamic_prompt is listed
}

// New returns the built-in MCP server: everything the MCP conformance suite
// calls, plus slow_count.
func New() *mcp.Server {
	b := &server{png: redPixelPNG(), wav: toneWAV()}
	b.mcp = mcp.NewServer(&mcp.Implementation{
		Name:    "mooring",
		Title:   "mooring built-in test server",
		Version: version(),
	}, &mcp.ServerOptions{
		Instructions:       "Conformance fixtures for the MCP Streamable HTTP transport, and slow_count for trying stream resumption.",
		CompletionHandler:  b.complete,
		SubscribeHandler:   b.subscribe,
		UnsubscribeHandler: b.unsubscribe,
		// State logging rather than rely on go-sdk's default capabilities:
		// the logging fixtures and slow_count need it.
		Capabilities: &mcp.ServerCapabilities{Logging: &mcp.LoggingCapabilities{}},
	})
	b.addTools()
	b.addModernTools()
	b.addTaskTools()
	b.addResources()
	b.addPrompts()
	return b.mcp
}

// version reports the module version when mooring was built from a tagged
// module, and "dev" otherwise.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
	}
	return "dev"
}
