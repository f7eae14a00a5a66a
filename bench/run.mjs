#!/usr/bin/env node
// `npm run bench`: runs every benchmark module in bench/*.mjs (transport.mjs first, then the
// others alphabetically), each in its own process, and prints one table with ratios to the
// reference (plain `net` unless a row names another), the machine and the notes. Writes the
// whole run as JSON to bench/results/latest.json.
//
//   node bench/run.mjs [--quick] [--reps N] [--modules transport,fdpass]
//
// Module contract (see bench/README.md): `node bench/<name>.mjs [--quick] [--reps N]` prints
// progress to stderr and, as the LAST line of stdout, JSON `{ rows: [...], notes?: [...] }`
// (or a bare array of rows). A row: { name, unit?, native?, fallback?, net?, ref?, ratio?,
// target?, better?: 'higher'|'lower', met?, note? }; a cell is a number, a string ("n/a ...")
// or { median, spread? }.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineInfo } from './lib/proc.mjs';
import { fmtNum } from './lib/stats.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const argValue = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const passArgs = [];
if (quick) passArgs.push('--quick');
if (argValue('--reps')) passArgs.push('--reps', argValue('--reps'));
const wanted = argValue('--modules')?.split(',');
const MODULE_TIMEOUT_MS = Number(process.env.BENCH_MODULE_TIMEOUT_MS) || (quick ? 60_000 : 300_000);

function discover() {
  const names = readdirSync(HERE)
    .filter((f) => f.endsWith('.mjs') && f !== 'run.mjs')
    .map((f) => f.slice(0, -4))
    .sort((a, b) => (a === 'transport' ? -1 : b === 'transport' ? 1 : a.localeCompare(b)));
  return wanted ? names.filter((n) => wanted.includes(n)) : names;
}

function runModule(name) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, [join(HERE, `${name}.mjs`), ...passArgs], {
      cwd: join(HERE, '..'),
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      out += d;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, MODULE_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = (Date.now() - started) / 1000;
      const lines = out
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
      // Anything the module printed before its JSON line is shown as progress.
      for (const l of lines.slice(0, -1)) console.error(`[${name}] ${l}`);
      let parsed = null;
      let error = null;
      try {
        parsed = JSON.parse(lines.at(-1) ?? '');
      } catch {
        error = timedOut ? `timed out after ${MODULE_TIMEOUT_MS / 1000} s` : `exited ${signal ?? code} without a JSON last line`;
      }
      if (!error && code !== 0) error = `exited ${signal ?? code} (its JSON was still used)`;
      const rows = Array.isArray(parsed) ? parsed : Array.isArray(parsed?.rows) ? parsed.rows : [];
      const notes = Array.isArray(parsed?.notes) ? [...parsed.notes] : [];
      if (parsed && rows.length === 0) {
        // Not in the row format (bench/README.md): keep it visible rather than drop it.
        notes.push(`printed JSON without "rows", so it is not in the table (row format: bench/README.md); it said: ${JSON.stringify(parsed).slice(0, 400)}`);
      }
      resolve({
        module: name,
        ok: !!parsed,
        error,
        seconds,
        rows: rows.map((r) => normalizeRow(r, name)),
        notes,
        raw: Array.isArray(parsed) ? undefined : parsed,
      });
    });
  });
}

const med = (c) => (typeof c === 'number' ? c : c && typeof c === 'object' && typeof c.median === 'number' ? c.median : null);

function normalizeRow(r, module) {
  const row = { module, better: 'higher', ...r };
  if (typeof row.ratio !== 'number') {
    const a = med(row.native);
    const b = med(row.net);
    row.ratio = a !== null && b ? a / b : null;
  }
  if (typeof row.met !== 'boolean') {
    const t = typeof row.target === 'number' ? row.target : null;
    row.met = t === null || row.ratio === null ? null : row.better === 'lower' ? row.ratio <= t : row.ratio >= t;
  }
  return row;
}

function cell(c) {
  if (c === null || c === undefined) return '-';
  if (typeof c === 'string') return c;
  const m = med(c);
  if (m === null) return 'failed';
  const s = typeof c === 'object' && typeof c.spread === 'number' && c.spread >= 0.005 ? ` ±${Math.round(c.spread * 100)}%` : '';
  return fmtNum(m) + s;
}

function table(rows) {
  const head = ['benchmark [unit]', 'plugsock native', 'fallback', 'net (ref)', 'native/ref', 'target', 'met?'];
  const body = rows.map((r) => [
    `${r.name}${r.unit ? ` [${r.unit}]` : ''}`,
    cell(r.native),
    cell(r.fallback),
    cell(r.net) + (r.ref && r.ref !== 'net' ? ` (${r.ref})` : ''),
    r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x`,
    typeof r.target === 'number'
      ? `${r.better === 'lower' ? '<=' : '>='} ${r.target}x`
      : r.target
        ? String(r.target)
        : r.better === 'lower'
          ? '(lower better)'
          : '-',
    r.met === null ? '-' : r.met ? 'yes' : 'NO',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cols) => `| ${cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  return [line(head), `|${widths.map((w, i) => (i === 0 ? ':' : '') + '-'.repeat(w + 1) + (i === 0 ? '' : ':')).join('|')}|`, ...body.map(line)].join('\n');
}

const startedAt = new Date();
const machineBefore = machineInfo();
const modules = discover();
console.error(`plugsock bench${quick ? ' --quick' : ''}: modules ${modules.join(', ')}`);
const results = [];
for (const name of modules) {
  console.error(`--- ${name}`);
  results.push(await runModule(name));
}
const loadAfter = machineInfo().loadavg;
const rows = results.flatMap((r) => r.rows);
const notes = results.flatMap((r) => [
  ...(r.error ? [`${r.module}.mjs: ${r.error}`] : []),
  ...r.notes.map((n) => (n.startsWith(`${r.module}`) ? n : `${r.module}: ${n}`)),
]);

const m = machineBefore;
console.log('');
console.log(`plugsock benchmark — ${startedAt.toISOString()}${quick ? ' (--quick: small sizes, smoke run only)' : ''}`);
console.log(`machine: ${m.cpu}, ${m.memGiB} GiB, ${m.platform}, Node ${m.node}; load avg before ${m.loadavg.join('/')}, after ${loadAfter.join('/')}`);
console.log(`modules: ${results.map((r) => `${r.module} (${r.seconds.toFixed(0)} s${r.ok ? '' : ', FAILED'})`).join(', ')}`);
console.log('');
console.log(table(rows));
console.log('');
console.log('cells: median of the repetitions ±half their range; native/ref: median of per-repetition ratios where the module pairs them.');
if (notes.length) {
  console.log('notes:');
  for (const n of notes) console.log(`- ${n.split('\n')[0]}`);
}

const outDir = join(HERE, 'results');
mkdirSync(outDir, { recursive: true });
const file = join(outDir, 'latest.json');
writeFileSync(
  file,
  JSON.stringify(
    {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      command: `node bench/run.mjs ${args.join(' ')}`.trim(),
      quick,
      machine: { ...machineBefore, loadavgAfter: loadAfter },
      modules: results.map(({ module, ok, error, seconds, notes: n, raw }) => ({
        module,
        ok,
        error,
        seconds,
        notes: n,
        params: raw?.params,
        capabilities: raw?.capabilities,
      })),
      rows,
      notes,
    },
    null,
    2,
  ) + '\n',
);
console.log(`\nJSON: ${file}`);
process.exitCode = results.every((r) => r.ok) ? 0 : 1;
