// The authorization end-to-end test's Node side (e2e/oauth_test.go).
//
//   node oauth.mjs server
//     runs oauth2-mock-server on 127.0.0.1 (a fresh RS256 key), prints
//     {"issuer": URL} and serves until stdin closes. Client-credentials
//     tokens get aud = the request's resource parameter (RFC 8707) and
//     sub = the client id.
//   node oauth.mjs client MCP_URL ISSUER CLIENT_ID SECRET SCOPE
//     connects the TypeScript SDK's client with its own OAuth support
//     (ClientCredentialsProvider): everything else it discovers from
//     mooring's 401 and metadata. It lists the tools, calls test_simple_text
//     and prints {"tools": [...], "text": ...}.
import { OAuth2Server } from "oauth2-mock-server";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { ClientCredentialsProvider } from "@modelcontextprotocol/sdk/client/auth-extensions.js";

const [mode, ...args] = process.argv.slice(2);

if (mode === "server") {
  const server = new OAuth2Server();
  await server.issuer.keys.generate("RS256");
  server.service.on("beforeTokenSigning", (token, req) => {
    const body = req.body ?? {};
    if (body.resource) token.payload.aud = body.resource;
    const basic = (req.headers.authorization ?? "").replace(/^Basic /, "");
    const id = basic ? Buffer.from(basic, "base64").toString().split(":")[0] : body.client_id;
    if (id) token.payload.sub = decodeURIComponent(id);
  });
  await server.start(0, "127.0.0.1");
  // Loopback by address, not by a name that may resolve elsewhere.
  server.issuer.url = `http://127.0.0.1:${server.address().port}`;
  console.log(JSON.stringify({ issuer: server.issuer.url }));
  process.stdin.resume();
  process.stdin.on("end", async () => {
    await server.stop();
    process.exit(0);
  });
} else if (mode === "client") {
  const [url, issuer, clientId, clientSecret, scope] = args;
  const authProvider = new ClientCredentialsProvider({ clientId, clientSecret, scope, expectedIssuer: issuer });
  const transport = new StreamableHTTPClientTransport(new URL(url), { authProvider });
  const client = new Client({ name: "oauth-e2e", version: "1" });
  await client.connect(transport);
  const tools = await client.listTools();
  const res = await client.callTool({ name: "test_simple_text", arguments: {} });
  console.log(JSON.stringify({ tools: tools.tools.map((t) => t.name), text: res.content?.[0]?.text, session: transport.sessionId ?? "" }));
  await client.close();
} else {
  console.error("usage: oauth.mjs server | client MCP_URL ISSUER CLIENT_ID SECRET SCOPE");
  process.exit(2);
}
