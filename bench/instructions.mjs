// Instructions per operation, plugsock (native) against its reference, counted by valgrind's
// callgrind: on these shared 2-core VMs (no hardware counters) time-based figures swing with the
// neighbours' load, an instruction count does not. For each (operation, implementation)
// lib/instr-op.mjs runs twice under callgrind, doing N and 2N operations after the same
// warm-up; (I(2N) - I(N)) / N is the cost of one operation, start-up and warm-up cancelling.
// Instrumentation is switched on only after the warm-up (lib/callgrind.mjs, through vgdb),
// which makes a run ~2x shorter; where vgdb cannot, runs count from start-up (slower, same
// figures).
//
//   node bench/instructions.mjs [--quick]
//
// Progress on stderr; the last stdout line is the JSON of bench/README.md ("Adding a module").
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { countInstructions, killRunning, markWorks, pool, valgrindVersion } from './lib/callgrind.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const OP_SCRIPT = path.join(HERE, 'lib', 'instr-op.mjs');
const quick = process.argv.includes('--quick');
const LANES = 2; // valgrind runs at once: one per core
// --predictable: GC and compilation on the main thread, so a count repeats to ~10^-5 (without
// it, background threads made the same run vary by ~5%). --no-opt: no TurboFan, whose
// compilations come in bursts of tens of millions of instructions for thousands of
// operations (successive 100-connection increments cost 0.4 to 1 M instructions per
// connection); with --no-opt they agree within ~2% after 100 operations. A plugin host's
// connections are rarely hot enough for TurboFan anyway.
const NODE_FLAGS = ['--predictable', '--no-opt'];

// n: N of a full run (quickN: of --quick, which runs only the ops that have one), large enough
// that a scavenge (1-2 M instructions) more or less in the window moves a row by ~1% (2% at
// most), small enough for the time budget; warmup: operations before counting starts; cost:
// rough instructions per operation, only to start the longest runs first.
const OPS = [
  { key: 'connect', name: 'connection, one transport per connection', n: 300, quickN: 60, warmup: 100, cost: 6.5e5 },
  { key: 'reuse', name: 'connection on a long-lived client transport', n: 250, warmup: 100, cost: 6e5 },
  { key: 'policy', name: 'connection, peer: { uids } on both transports (net: no policy)', n: 250, warmup: 100, cost: 6e5 },
  { key: 'listen', name: 'listen() + close() on a path', n: 1000, warmup: 200, cost: 2e5 },
  { key: 'fds', name: 'fd passed (1 fd + 1 byte per message, receiver closes it)', n: 3000, quickN: 600, warmup: 1000, cost: 3e4, ref: 'C' },
  { key: 'write64k', name: 'fdPassing stream, per 64 KiB write', n: 1200, warmup: 500, cost: 1.2e5 },
];
const STARTUP = 4e8; // instructions' worth of a run's start-up, for the same ordering

const log = (msg) => process.stderr.write(`[instructions] ${msg}\n`);
const fmt = (x) => Math.round(x).toLocaleString('en-US');

const version = await valgrindVersion();
if (!version) {
  console.log(JSON.stringify({ rows: [], notes: ['instructions: skipped, valgrind is not installed (apt-get install valgrind)'] }));
  process.exit(0);
}

// Our temp dir carries our pid; one left by a run that was SIGKILLed (bench/run.mjs's timeout:
// no handler runs) is removed by the next run once that pid is gone. Its children exit by
// themselves (see lib/instr-op.mjs).
const TMP_PREFIX = 'plugsock-instr-';
for (const name of fs.readdirSync(os.tmpdir())) {
  const pid = Number(name.startsWith(TMP_PREFIX) && name.slice(TMP_PREFIX.length).split('-')[0]);
  if (!pid) continue;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (err.code === 'ESRCH') fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
  }
}
const root = fs.mkdtempSync(path.join(os.tmpdir(), `${TMP_PREFIX}${process.pid}-`));
const cleanup = () => {
  killRunning();
  fs.rmSync(root, { recursive: true, force: true });
};
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

/** The C reference of the fd row, compiled here; null (with the reason logged) without cc. */
function compileFdpass() {
  const exe = path.join(root, 'fdpass');
  try {
    execFileSync('cc', ['-O2', '-o', exe, path.join(HERE, 'fdpass.c')], { stdio: ['ignore', 'ignore', 'pipe'] });
    return exe;
  } catch (err) {
    log(`no C reference: cc failed (${err.message.split('\n')[0]})`);
    return null;
  }
}

const started = Date.now();
const ops = OPS.filter((op) => !quick || op.quickN).map((op) => ({ ...op, n: quick ? op.quickN : op.n }));
const fdpass = ops.some((op) => op.ref === 'C') ? compileFdpass() : null;
const probe = await markWorks(root);
const fromMark = probe === true;
if (!fromMark) log(`counting from start-up: ${probe}`);

// Every callgrind run: (op, impl) at n and at 2n; in a full run the first row's n once more (A/A).
let dirs = 0;
const jobs = [];
function addRun(op, impl, n, tag = '') {
  const isC = impl === 'C';
  const dir = path.join(root, String(dirs++));
  const label = `${op.key} ${impl}${tag} n=${n}`;
  const run = () => {
    fs.mkdirSync(dir);
    const t0 = Date.now();
    const counted = isC
      ? countInstructions(fdpass, [String(n)], { tmpDir: dir })
      : countInstructions(process.execPath, [...NODE_FLAGS, OP_SCRIPT, op.key, impl, String(n), String(op.warmup), dir, ...(fromMark ? ['--mark'] : [])], {
          tmpDir: dir,
          fromMark,
        });
    return counted.then((count) => {
      log(`${label}: ${fmt(count)} instructions (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      return count;
    });
  };
  const job = { run, est: (isC ? 0 : STARTUP) + (n + op.warmup) * op.cost, result: null };
  jobs.push(job);
  return job;
}
const addPair = (op, impl) => ({ n: op.n, pair: [addRun(op, impl, op.n), addRun(op, impl, 2 * op.n)] });

const plan = ops.map((op) => ({
  op,
  native: addPair(op, 'native'),
  ref: op.ref === 'C' ? (fdpass ? addPair(op, 'C') : null) : addPair(op, 'net'),
}));
const aa = quick ? null : addRun(ops[0], 'native', ops[0].n, ' (A/A)');

log(`${jobs.length} callgrind runs, ${LANES} at a time; ${version}, node ${NODE_FLAGS.join(' ')}`);
// Longest first, so the two lanes end together.
const order = [...jobs].sort((a, b) => b.est - a.est);
const outcomes = await pool(
  order.map((job) => job.run),
  LANES,
);
order.forEach((job, i) => {
  job.result = outcomes[i];
});

const errors = [];
/** Per-operation instructions of a pair, or a string saying why not. */
function perOp(p) {
  if (!p) return 'n/a (no C compiler)';
  const failed = p.pair.find((j) => j.result.error);
  if (failed) {
    errors.push(failed.result.error.message.split('\n')[0]);
    return 'failed';
  }
  return Math.round((p.pair[1].result.value - p.pair[0].result.value) / p.n);
}
// The raw counts I(N), I(2N) behind a cell, for the JSON.
const counts = (p) => (p?.pair.every((j) => j.result.value !== undefined) ? p.pair.map((j) => j.result.value) : null);

const rows = plan.map(({ op, native, ref }) => {
  const a = perOp(native);
  const b = perOp(ref);
  return {
    name: op.name,
    unit: 'instr/op',
    native: a,
    net: b,
    ...(op.ref ? { ref: op.ref } : {}),
    better: 'lower',
    ratio: typeof a === 'number' && typeof b === 'number' ? a / b : null,
    instructions: { native: a, ref: b },
    counts: { n: op.n, warmup: op.warmup, native: counts(native), ref: counts(ref) },
  };
});

const notes = [
  `instructions: user-space instructions per operation by ${version} callgrind (this machine has no hardware counters): ` +
    `each row's script ran twice, N and 2N operations after the same warm-up; instr/op = (I(2N) - I(N)) / N, so start-up, loading and warm-up cancel ` +
    `(${fromMark ? 'and were not instrumented: counting started after the warm-up' : `counted from start-up: ${probe}`}). ` +
    'The kernel is not counted (callgrind sees user space only): what system calls cost inside it is in neither column, and plugsock makes more of them in some rows (listen(), for one).',
  `instructions: server and client in ONE process (one event loop), so a row counts both sides of an operation; node ${NODE_FLAGS.join(' ')} (GC and compilation on the main thread, no TurboFan: see bench/README.md)`,
];
if (plan.some((p) => p.op.key === 'fds')) {
  notes.push(
    'instructions: fd row reference = bench/fdpass.c (blocking sendmsg/recvmsg, both its processes counted): almost all of its cost is in the kernel, which is not counted',
  );
}
if (aa) {
  // The same run twice: how far apart two counts of one thing land, per operation of the row.
  const [x, y] = [plan[0].native.pair[0].result.value, aa.result.value];
  const row = rows[0].native;
  if (aa.result.error) errors.push(aa.result.error.message.split('\n')[0]);
  else if (x !== undefined && typeof row === 'number') {
    const perOpGap = Math.abs(x - y) / ops[0].n;
    notes.push(
      `instructions: A/A, "${ops[0].name}" native at N=${ops[0].n} counted twice: ${fmt(x)} and ${fmt(y)} instructions, ` +
        `${fmt(perOpGap)} instr/op apart (${((perOpGap / row) * 100).toFixed(3)}% of the row)`,
    );
  }
}
for (const e of errors) notes.push(`instructions: ${e}`);
notes.push(`instructions: ${jobs.length} callgrind runs took ${((Date.now() - started) / 1000).toFixed(0)} s`);

cleanup();
const params = { quick, fromMark, nodeFlags: NODE_FLAGS, valgrind: version, ops: Object.fromEntries(ops.map((o) => [o.key, { n: o.n, warmup: o.warmup }])) };
console.log(JSON.stringify({ rows, notes, params }));
process.exitCode = errors.length ? 1 : 0;
