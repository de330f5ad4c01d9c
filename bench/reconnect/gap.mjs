// A default TypeScript SDK client (no reconnection options) that calls
// slow_count once and says how it ended; bench/reconnect/gap.sh drives it.
// Usage: node gap.mjs URL  -- calls slow_count; prints the outcome and the time.
const base = process.env.SDK;
const { Client } = await import(base + '/dist/esm/client/index.js');
const { StreamableHTTPClientTransport } = await import(base + '/dist/esm/client/streamableHttp.js');
const url = process.argv[2];
const client = new Client({ name: 'gap', version: '1' });
const t = new StreamableHTTPClientTransport(new URL(url));
t.onerror = (e) => console.error('transport error:', e.message);
await client.connect(t);
let progress = 0;
const begin = Date.now();
console.log('READY');
try {
  const res = await client.callTool({ name: 'slow_count', arguments: { count: 40, interval_ms: 100 } }, undefined, {
    onprogress: () => { progress++; if (progress === 2) console.log('PROGRESS'); },
    timeout: 20000,
  });
  console.log('RESULT', JSON.stringify(res.content[0].text), 'after', Date.now() - begin, 'ms');
} catch (e) {
  console.log('ERROR', e.message, 'after', Date.now() - begin, 'ms');
}
process.exit(0);
