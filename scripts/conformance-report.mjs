// Summarise the MCP conformance suite's results.
//
// Usage: node scripts/conformance-report.mjs [--only-expected] DIR [EXPECTED_SCENARIO...]
//
// --only-expected: count only the EXPECTED_SCENARIOs (a requirement set's
// scored scenarios); other folders in DIR (the extension and pending
// scenarios that --requirements also runs, unscored) are named, not counted.
//
// DIR holds one folder per scenario run, named server-<scenario>-<ISO time with
// ':' and '.' replaced by '-'>, each with a checks.json: an array of checks
// {id, name, description, status, errorMessage?, details?}, status one of
// SUCCESS, FAILURE, WARNING, INFO, SKIPPED.
//
// A scenario passes only with no FAILURE and no WARNING check, at least one
// check, and a checks.json present. Every EXPECTED_SCENARIO must have run.
// Prints a table, the failing checks, and last the line
//   conformance: N passed, M failed
// Exits 1 when any scenario failed (or none ran), 0 otherwise.
import { readdirSync, readFileSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const onlyExpected = args[0] === '--only-expected';
if (onlyExpected) args.shift();
const [dir, ...expected] = args;
if (!dir) {
  console.error('usage: conformance-report.mjs DIR [EXPECTED_SCENARIO...]');
  process.exit(2);
}

const DIR_RE = /^server-(.+)-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z)$/;

// scenario -> {dir, stamp}; the latest run wins if a scenario ran twice.
const runs = new Map();
for (const entry of existsSync(dir) ? readdirSync(dir) : []) {
  const m = DIR_RE.exec(entry);
  if (!m || !statSync(join(dir, entry)).isDirectory()) continue;
  const [, scenario, stamp] = m;
  const prev = runs.get(scenario);
  if (!prev || prev.stamp < stamp) runs.set(scenario, { dir: join(dir, entry), stamp });
}

const names = onlyExpected ? [...new Set(expected)] : [...new Set([...expected, ...runs.keys()])];
const unscored = onlyExpected ? [...runs.keys()].filter((s) => !expected.includes(s)).sort() : [];
const rows = [];
for (const scenario of names) {
  const row = { scenario, SUCCESS: 0, FAILURE: 0, WARNING: 0, INFO: 0, problems: [] };
  rows.push(row);
  const run = runs.get(scenario);
  if (!run) {
    row.problems.push({ check: '-', status: 'FAILURE', message: 'scenario did not run (no result folder)' });
    continue;
  }
  const file = join(run.dir, 'checks.json');
  if (!existsSync(file)) {
    row.problems.push({ check: '-', status: 'FAILURE', message: 'no checks.json: the scenario threw (see suite.log)' });
    continue;
  }
  let checks;
  try {
    checks = JSON.parse(readFileSync(file, 'utf8'));
    if (!Array.isArray(checks)) throw new Error('checks.json is not an array');
  } catch (err) {
    row.problems.push({ check: '-', status: 'FAILURE', message: `unreadable checks.json: ${err.message}` });
    continue;
  }
  if (checks.length === 0) {
    row.problems.push({ check: '-', status: 'FAILURE', message: 'checks.json holds no checks' });
  }
  for (const c of checks) {
    if (c.status in row) row[c.status]++;
    if (c.status === 'FAILURE' || c.status === 'WARNING') {
      const message =
        c.errorMessage ??
        (c.details && typeof c.details.message === 'string' ? c.details.message : undefined) ??
        c.description ??
        '';
      row.problems.push({ check: c.id ?? c.name ?? '?', status: c.status, message });
    }
  }
}

for (const row of rows) row.ok = row.problems.length === 0;

const header = ['scenario', 'SUCCESS', 'FAILURE', 'WARNING', 'result'];
const table = rows.map((r) => [
  r.scenario,
  String(r.SUCCESS),
  String(r.FAILURE),
  String(r.WARNING),
  r.ok ? 'pass' : 'FAIL',
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
const fmt = (cols) =>
  cols.map((c, i) => (i === 0 || i === cols.length - 1 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();

console.log(fmt(header));
console.log(widths.map((w) => '-'.repeat(w)).join('  '));
for (const t of table) console.log(fmt(t));

const failed = rows.filter((r) => !r.ok);
if (failed.length > 0) {
  console.log('\nFailing checks:');
  for (const r of failed) {
    for (const p of r.problems) {
      const msg = String(p.message).replace(/\s+/g, ' ').trim();
      console.log(`  ${r.scenario} / ${p.check} [${p.status}]: ${msg}`);
    }
  }
}

if (unscored.length > 0) {
  console.log(`\nNot counted (outside the requirement set: extension, pending): ${unscored.join(', ')}`);
}

const passed = rows.length - failed.length;
console.log(`\nconformance: ${passed} passed, ${failed.length} failed`);
process.exit(failed.length > 0 || rows.length === 0 ? 1 : 0);
