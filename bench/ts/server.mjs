// The TypeScript SDK peer of mooring's benchmark: the sessions-map pattern of
// the SDK's README (one StreamableHTTPServerTransport and one McpServer per
// session, found by Mcp-Session-Id), with the SDK's example in-memory event
// store so that streams are resumable, and an `echo` tool.
//
//   node server.mjs --addr 127.0.0.1:8080
import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { InMemoryEventStore } from '@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js';
import { z } from 'zod';

let addr = '127.0.0.1:8080';
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--addr' || a === '-addr') addr = process.argv[++i];
  else if (a.startsWith('--addr=')) addr = a.slice('--addr='.length);
}
const cut = addr.lastIndexOf(':');
const host = addr.slice(0, cut);
const port = Number(addr.slice(cut + 1));

function newServer() {
  const server = new McpServer({ name: 'bench-ts-sdk', version: '1.0.0' });
  server.registerTool(
    'echo',
    { description: 'returns its text', inputSchema: { text: z.string() } },
    async ({ text }) => ({ content: [{ type: 'text', text }] }),
  );
  return server;
}

const transports = {};
const app = createMcpExpressApp({ host });

app.post('/mcp', async (req, res) => {
  const sessionId = req.headers['mcp-session-id'];
  let transport;
  if (sessionId && transports[sessionId]) {
    transport = transports[sessionId];
  } else if (!sessionId && isInitializeRequest(req.body)) {
    transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      eventStore: new InMemoryEventStore(),
      onsessioninitialized: (sid) => {
        transports[sid] = transport;
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) delete transports[transport.sessionId];
    };
    await newServer().connect(transport);
  } else {
    res.status(400).json({ jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: No valid session ID provided' }, id: null });
    return;
  }
  await transport.handleRequest(req, res, req.body);
});

const sessionRequest = async (req, res) => {
  const sessionId = req.headers['mcp-session-id'];
  const transport = sessionId && transports[sessionId];
  if (!transport) {
    res.status(400).send('Invalid or missing session ID');
    return;
  }
  await transport.handleRequest(req, res);
};
app.get('/mcp', sessionRequest);
app.delete('/mcp', sessionRequest);

app.listen(port, host, (err) => {
  if (err) {
    console.error(err);
    process.exit(1);
  }
  console.error(`ts-sdk bench server on http://${host}:${port}/mcp`);
});
process.on('SIGTERM', () => process.exit(0));
process.on('SIGINT', () => process.exit(0));
