// The TypeScript SDK's own task client (client.experimental.tasks, SDK 1.x)
// against mooring's 2025-11-25 tasks, for e2e/tasks_test.go.
//
//   node tasks.mjs create URL           creates two slow_compute tasks (a short and a
//                                       longer one), prints {sessionId, short, long}
//   node tasks.mjs fetch URL SID A B    on the same session (no new initialize),
//                                       prints both tasks' status and result text and
//                                       the session's task list
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';

const [mode, url, sid, a, b] = process.argv.slice(2);

async function created(client, seconds, label) {
  const stream = client.experimental.tasks.callToolStream(
    { name: 'slow_compute', arguments: { seconds, label } },
    CallToolResultSchema,
    { task: { ttl: 600000 } },
  );
  for await (const msg of stream) {
    if (msg.type === 'taskCreated') return msg.task.taskId;
    if (msg.type === 'error') throw msg.error;
    if (msg.type === 'result') throw new Error('a plain result, not a task: ' + JSON.stringify(msg.result));
  }
  throw new Error('the stream ended without a task');
}

const text = (res) => res.content.map((c) => c.text).join('');

if (mode === 'create') {
  const transport = new StreamableHTTPClientTransport(new URL(url));
  const client = new Client({ name: 'ts-tasks', version: '1.0.0' });
  await client.connect(transport);
  const caps = client.getServerCapabilities();
  if (!caps?.tasks?.requests?.tools?.call) throw new Error('no tasks capability: ' + JSON.stringify(caps));
  await client.listTools(); // caches execution.taskSupport
  const short = await created(client, 0.2, 'short');
  const long = await created(client, 4, 'long');
  // Wait for the short one to finish before the restart.
  for (;;) {
    const t = await client.experimental.tasks.getTask(short);
    if (t.status === 'completed') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  console.log(JSON.stringify({ sessionId: transport.sessionId, short, long }));
  process.exit(0);
} else if (mode === 'fetch') {
  const transport = new StreamableHTTPClientTransport(new URL(url), { sessionId: sid });
  transport.setProtocolVersion('2025-11-25');
  const client = new Client({ name: 'ts-tasks', version: '1.0.0' });
  await client.connect(transport); // a session id: no initialize
  const out = {};
  for (const [k, id] of [['short', a], ['long', b]]) {
    const res = await client.experimental.tasks.getTaskResult(id, CallToolResultSchema, { timeout: 60000 });
    const t = await client.experimental.tasks.getTask(id);
    out[k] = { status: t.status, text: text(res) };
  }
  const list = await client.experimental.tasks.listTasks();
  out.listed = list.tasks.map((t) => t.taskId);
  console.log(JSON.stringify(out));
  process.exit(0);
} else {
  console.error('usage: tasks.mjs create URL | fetch URL SID A B');
  process.exit(2);
}
