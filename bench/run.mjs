#!/usr/bin/env node
// `npm run bench`: runs every benchmark module in bench/*.mjs (transport.mjs first, then the
// others alphabetically), each in its own process, and prints one table with ratios to the
// reference (plain `net` unless a row names another), the machine and the notes. Writes the
// whole run as JSON to bench/results/latest.json and its chart to bench/results/latest.svg.
//
//   node bench/run.mjs [--quick] [--reps N] [--modules transport,fdpass] [--chart docs/bench.svg]
//   node bench/run.mjs --from bench/results/latest.json [--chart docs/bench.svg]
//
// --chart PATH: also write the chart there (relative to the current directory; the committed
// one is docs/bench.svg). --from FILE: run nothing, print the table of a saved run and write its
// chart beside it (FILE with .svg) and to --chart.
//
// Module contract (see bench/README.md): `node bench/<name>.mjs [--quick] [--reps N]` prints
// progress to stderr and, as the LAST line of stdout, JSON `{ rows: [...], notes?: [...] }`
// (or a bare array of rows). A row: { name, unit?, native?, fallback?, net?, ref?, ratio?,
// ratioCI?: [lo, hi], aa?: { name, ratio, ratioCI }, target?, better?: 'higher'|'lower',
// metMedian?, metInterval?, met?, instructions?: { native, ref }, note? }; a cell is a number,
// a string ("n/a ...") or { median, spread? }.
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chartSvg } from './lib/chart.mjs';
import { machineInfo } from './lib/proc.mjs';
import { fmtNum, meets, verdict } from './lib/stats.mjs';

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
const chartPath = argValue('--chart');
const fromFile = argValue('--from');
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

const isInterval = (ci) => Array.isArray(ci) && ci.length === 2 && ci.every((x) => typeof x === 'number' && Number.isFinite(x));

function normalizeRow(r, module) {
  const row = { module, better: 'higher', ...r };
  if (typeof row.name !== 'string') row.name = String(row.name ?? '(unnamed row)');
  if (typeof row.ratio !== 'number') {
    const a = med(row.native);
    const b = med(row.net);
    row.ratio = a !== null && b ? a / b : null;
  }
  // ratioCI: the module's interval (lib/stats.mjs ratioFields); none is computed here, as only
  // the module knows whether its repetitions pair up.
  if (!isInterval(row.ratioCI)) row.ratioCI = null;
  const m = meets(row);
  if (typeof row.metMedian !== 'boolean') row.metMedian = typeof row.met === 'boolean' ? row.met : m.metMedian;
  if (typeof row.metInterval !== 'boolean') row.metInterval = m.metInterval;
  if (typeof row.met !== 'boolean') row.met = row.metMedian;
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

const fmtRatio = (x) => (Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2));
const fmtCI = (ci) => (isInterval(ci) ? `[${fmtRatio(ci[0])}, ${fmtRatio(ci[1])}]` : '');

function ratioCell(r) {
  if (typeof r.ratio !== 'number' || !Number.isFinite(r.ratio)) return '-';
  const ci = fmtCI(r.ratioCI);
  return `${fmtRatio(r.ratio)}x ${ci || (r.ratioN === 1 ? '(n=1)' : '')}`.trim();
}

function table(rows) {
  const withInstr = rows.some((r) => r.instructions && typeof r.instructions === 'object');
  const head = ['benchmark [unit]', 'plugsock native', 'fallback', 'net (ref)', 'native/ref [95% CI]', 'A/A [95% CI]', 'target', 'met?'];
  if (withInstr) head.push('instr/op native / ref');
  const body = rows.map((r) => [
    `${r.name}${r.unit ? ` [${r.unit}]` : ''}`,
    cell(r.native),
    cell(r.fallback),
    cell(r.net) + (r.ref && r.ref !== 'net' ? ` (${r.ref})` : ''),
    ratioCell(r),
    fmtCI(r.aa?.ratioCI) || '-',
    typeof r.target === 'number'
      ? `${r.better === 'lower' ? '<=' : '>='} ${r.target}x`
      : r.target
        ? String(r.target)
        : r.better === 'lower'
          ? '(lower better)'
          : '-',
    verdict(r),
    ...(withInstr ? [r.instructions && typeof r.instructions === 'object' ? `${cell(r.instructions.native)} / ${cell(r.instructions.ref)}` : '-'] : []),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cols) => `| ${cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ')} |`;
  return [line(head), `|${widths.map((w, i) => (i === 0 ? ':' : '') + '-'.repeat(w + 1) + (i === 0 ? '' : ':')).join('|')}|`, ...body.map(line)].join('\n');
}

/** The printed report of a run: header, table, legend, notes. */
function report({ startedAt, quick: q, machine: m, loadAfter, results, rows, notes }) {
  console.log('');
  console.log(`plugsock benchmark — ${startedAt}${q ? ' (--quick: small sizes, smoke run only)' : ''}`);
  console.log(`machine: ${m.cpu}, ${m.memGiB} GiB, ${m.platform}, Node ${m.node}; load avg before ${m.loadavg?.join('/')}, after ${loadAfter?.join('/')}`);
  console.log(`modules: ${results.map((r) => `${r.module} (${r.seconds.toFixed(0)} s${r.ok ? '' : ', FAILED'})`).join(', ')}`);
  console.log('');
  console.log(table(rows));
  console.log('');
  console.log('cells: median of the repetitions ±half their range; native/ref: median of per-repetition ratios where the module pairs them,');
  console.log('  [95% CI]: bootstrap percentile interval of that median (2000 resamples, seeded from the data); A/A: the interval of the');
  console.log("  same bench's net-vs-net control, i.e. what noise alone does to a ratio in this run.");
  console.log('met?: yes = median and whole interval meet the target; median only = the interval crosses it; NO (CI overlaps) = the median');
  console.log('  misses but the interval reaches the target; NO = the whole interval misses; (no CI) = fewer than 2 repetitions.');
  if (notes.length) {
    console.log('notes:');
    for (const n of notes) console.log(`- ${n.split('\n')[0]}`);
  }
}

function chartOf({ startedAt, quick: q, machine: m, loadAfter, rows }) {
  return chartSvg(rows, {
    title: `plugsock benchmark: ratios to the reference, with 95 % intervals${q ? ' (--quick smoke run)' : ''}`,
    subtitle: `${startedAt.slice(0, 16).replace('T', ' ')} UTC · ${m.cpu}, ${m.platform}, Node ${m.node} · load avg before ${m.loadavg?.join('/')}, after ${loadAfter?.join('/')}`,
  });
}

function writeChart(svg, file) {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, svg);
  console.log(`SVG: ${file}`);
}

if (fromFile) {
  // A saved run: no module runs; rows are normalized again so older JSON renders too.
  const saved = JSON.parse(readFileSync(fromFile, 'utf8'));
  const run = {
    startedAt: saved.startedAt ?? '?',
    quick: !!saved.quick,
    machine: saved.machine ?? {},
    loadAfter: saved.machine?.loadavgAfter,
    results: (saved.modules ?? []).map((x) => ({ seconds: 0, ...x })),
    rows: (saved.rows ?? []).map((r) => normalizeRow(r, r.module)),
    notes: saved.notes ?? [],
  };
  report(run);
  const svg = chartOf(run);
  console.log('');
  writeChart(svg, fromFile.replace(/\.json$/, '') + '.svg');
  if (chartPath) writeChart(svg, resolve(chartPath));
} else {
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
  const run = { startedAt: startedAt.toISOString(), quick, machine: machineBefore, loadAfter, results, rows, notes };
  report(run);

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
  const svg = chartOf(run);
  writeChart(svg, join(outDir, 'latest.svg'));
  if (chartPath) writeChart(svg, resolve(chartPath));
  process.exitCode = results.every((r) => r.ok) ? 0 : 1;
}
