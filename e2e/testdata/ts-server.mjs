// A TypeScript SDK server as the SDK's own examples build one: sessions and
// their event store live in process memory, so a restart loses every session,
// and an unknown session id gets 400 "No valid session ID provided".
// It offers tasks (the SDK's experimental in-memory task store) and
// slow_task, a tool that runs only as a task (taskSupport "required").
// Usage: node ts-server.mjs PORT [no-events]  (prints "listening" when it
// accepts; no-events: no event store, so streams cannot be resumed)
import http from "node:http";
import { randomUUID } from "node:crypto";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { InMemoryEventStore } from "@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js";
import { InMemoryTaskStore } from "@modelcontextprotocol/sdk/experimental/tasks/stores/in-memory.js";
import { isInitializeRequest } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

const taskStore = new InMemoryTaskStore();
const noEvents = process.argv[3] === "no-events";

function newServer() {
  const s = new McpServer(
    { name: "ts-reference", version: "1" },
    { capabilities: { tasks: { requests: { tools: { call: {} } } } }, taskStore },
  );
  s.experimental.tasks.registerToolTask(
    "slow_task",
    {
      description: "Counts to count, one step every interval_ms, as a task.",
      inputSchema: { count: z.number(), interval_ms: z.number() },
    },
    {
      async createTask({ count, interval_ms }, { taskStore, taskRequestedTtl }) {
        const task = await taskStore.createTask({ ttl: taskRequestedTtl });
        (async () => {
          await new Promise((r) => setTimeout(r, count * interval_ms));
          await taskStore.storeTaskResult(task.taskId, "completed", {
            content: [{ type: "text", text: `counted to ${count}` }],
          });
        })();
        return { task };
      },
      async getTask(_args, { taskId, taskStore }) {
        return await taskStore.getTask(taskId);
      },
      async getTaskResult(_args, { taskId, taskStore }) {
        return await taskStore.getTaskResult(taskId);
      },
    },
  );
  s.registerTool(
    "slow_count",
    {
      description: "Counts to count, one step every interval_ms, with progress.",
      inputSchema: { count: z.number(), interval_ms: z.number() },
    },
    async ({ count, interval_ms }, extra) => {
      const token = extra._meta?.progressToken;
      for (let i = 1; i <= count; i++) {
        await new Promise((r) => setTimeout(r, interval_ms));
        if (token !== undefined) {
          await extra.sendNotification({
            method: "notifications/progress",
            params: { progressToken: token, progress: i, total: count },
          });
        }
      }
      return { content: [{ type: "text", text: `counted to ${count}` }] };
    },
  );
  return s;
}

const transports = {};
const port = Number(process.argv[2]);
http
  .createServer(async (req, res) => {
    let body;
    if (req.method === "POST") {
      const chunks = [];
      for await (const c of req) chunks.push(c);
      body = JSON.parse(Buffer.concat(chunks).toString());
    }
    const sid = req.headers["mcp-session-id"];
    let t = sid && transports[sid];
    if (!t) {
      if (sid || req.method !== "POST" || !isInitializeRequest(body)) {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(JSON.stringify({ jsonrpc: "2.0", error: { code: -32000, message: "Bad Request: No valid session ID provided" }, id: null }));
        return;
      }
      t = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        eventStore: noEvents ? undefined : new InMemoryEventStore(),
        onsessioninitialized: (id) => {
          transports[id] = t;
        },
      });
      await newServer().connect(t);
    }
    await t.handleRequest(req, res, body);
  })
  .listen(port, "127.0.0.1", () => console.log("listening"));
