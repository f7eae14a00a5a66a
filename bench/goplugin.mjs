#!/usr/bin/env node
// go-plugin benchmarks: plugin start-up time (spawn to the first successful call) and sequential
// unary calls/s for every host/plugin pair of Node (plugsock), Go (go-plugin v1.8) and Python
// (pyvider-rpcplugin), in one run; plus unary gRPC calls/s over plugsock's verified channel
// beside grpc-js's own `unix:` connection to the same plugin.
//
//   node bench/goplugin.mjs [--quick] [--reps N]
//
// Peers are built by test/interop/build-modern.sh and build-pyvider.sh (cached in
// test/interop/.build/). A pair whose peer cannot be built is reported as "n/a: reason".
// Progress goes to stderr; a human table to stdout; the LAST stdout line is the JSON
// { rows, notes } that bench/run.mjs collects.
//
// All pairs run without TLS (pyvider's host cannot do AutoMTLS with P-521 certificates, see
// docs/pyvider.md), on a Unix socket, one call at a time (the KV service's Get).
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmtNum, ratioFields, summarize } from './lib/stats.mjs';

const require = createRequire(import.meta.url);
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const gp = require('../dist/goplugin/index.js');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const kvPkg = grpc.loadPackageDefinition(protoLoader.loadSync(join(ROOT, 'examples', 'kv.proto'), { defaults: true })).kv;

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const argValue = (n) => (args.indexOf(n) >= 0 ? args[args.indexOf(n) + 1] : undefined);
const REPS = Number(argValue('--reps')) || (quick ? 2 : 5);
const CALLS = quick ? 300 : 1000; // keeps a full run well under run.mjs's 300 s module limit
const COOKIE = { magicCookieKey: 'PLUGSOCK_INTEROP_COOKIE', magicCookieValue: 'kv-3b1f9e' };
const log = (...a) => console.error('[goplugin]', ...a);
const notes = [];

function build(script) {
  const r = spawnSync('bash', [join(ROOT, 'test', 'interop', script)], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) return { ok: false, reason: (r.stderr || `exit ${r.status}`).trim().split('\n').pop() };
  return { ok: true, lines: r.stdout.trim().split('\n') };
}
log('building peers (cached) ...');
const go = build('build-modern.sh');
const py = build('build-pyvider.sh');
const baseEnv = { ...process.env, KV_PLUGIN_QUIET: '1', PLUGIN_AUTO_MTLS: 'false' };
if (py.ok) baseEnv.KV_PB_DIR = py.lines[1];

const plugins = {
  node: { ok: true, cmd: process.execPath, args: [join(ROOT, 'examples', 'kv-plugin.mjs')] },
  go: go.ok ? { ok: true, cmd: go.lines[0], args: [] } : { ok: false, reason: go.reason },
  pyvider: py.ok ? { ok: true, cmd: py.lines[0], args: [join(ROOT, 'test', 'interop', 'pyvider', 'plugin.py')] } : { ok: false, reason: py.reason },
};

const get = (c, key) => new Promise((res, rej) => c.Get({ key }, (e, r) => (e ? rej(e) : res(r))));

async function nodeHost(plugin) {
  const t0 = performance.now();
  const p = await gp.startPlugin({ command: plugin.cmd, args: plugin.args, env: baseEnv, ...COOKIE, startTimeoutMs: 30_000 });
  try {
    const kv = p.client(kvPkg.KV);
    await get(kv, 'first');
    const startup = performance.now() - t0;
    const t1 = performance.now();
    for (let i = 0; i < CALLS; i++) await get(kv, 'k');
    return { startup, cps: CALLS / ((performance.now() - t1) / 1000) };
  } finally {
    await p.kill();
  }
}

function externalHost(cmd, argv) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { env: baseEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      const m = /BENCH startup_ms=([\d.]+) calls_per_sec=([\d.]+)/.exec(out);
      if (code === 0 && m) resolve({ startup: Number(m[1]), cps: Number(m[2]) });
      else reject(new Error(`host exited ${code}: ${(err || out).trim().split('\n').slice(-2).join(' | ')}`));
    });
  });
}

const hosts = {
  node: { ok: true, run: (plugin) => nodeHost(plugin) },
  go: go.ok
    ? { ok: true, run: (pl) => externalHost(go.lines[1], ['-calls', '0', '-bench', String(CALLS), pl.cmd, ...pl.args]) }
    : { ok: false, reason: go.reason },
  pyvider: py.ok
    ? {
        ok: true,
        run: (pl) =>
          externalHost(py.lines[0], [join(ROOT, 'test', 'interop', 'pyvider', 'host.py'), '--calls', '0', '--bench', String(CALLS), pl.cmd, ...pl.args]),
      }
    : { ok: false, reason: py.reason },
};

// The floors under a Node plugin's start-up: spawn to the first byte on stdout of a Node process
// that does nothing else (bare); of one that first loads what any plugin served with plugsock
// loads (grpc-js, plugsock/goplugin: a plugin with static stubs); and of one that also loads
// proto-loader, as the example plugin does for its kv.proto. No such plugin can start faster.
const loadLine = (...mods) => mods.map((m) => `require(${JSON.stringify(m)});`).join(' ');
const GRPC = require.resolve('@grpc/grpc-js');
const GOPLUGIN = join(ROOT, 'dist', 'goplugin', 'index.js');
const FLOORS = {
  bare: ['-e', 'process.stdout.write("1")'],
  plugsock: ['-e', `${loadLine(GRPC, GOPLUGIN)} process.stdout.write("1")`],
  modules: ['-e', `${loadLine(GRPC, require.resolve('@grpc/proto-loader'), GOPLUGIN)} process.stdout.write("1")`],
};
const floors = { bare: [], plugsock: [], modules: [] };
function firstOutput(argv) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
    child.once('error', reject);
    child.stdout.once('data', () => resolve(performance.now() - t0));
    child.once('close', (code) => (code === 0 ? null : reject(new Error(`node ${argv[0]} exited ${code}`))));
  });
}

// Warm-up: the first startPlugin in this process pays for loading grpc-js; not counted.
await nodeHost(plugins.node).catch(() => {});

const pairs = [];
for (const h of ['node', 'go', 'pyvider']) for (const p of ['node', 'go', 'pyvider']) pairs.push([h, p]);
const results = new Map(pairs.map(([h, p]) => [`${h}>${p}`, { startup: [], cps: [], error: null }]));
for (let rep = 0; rep < REPS; rep++) {
  // Rotate the order each repetition so background load hits every pair alike.
  const order = pairs.map((_, i) => pairs[(i + rep) % pairs.length]);
  const kinds = Object.keys(FLOORS);
  for (const kind of kinds.map((_, i) => kinds[(i + rep) % kinds.length])) floors[kind].push(await firstOutput(FLOORS[kind]));
  for (const [h, p] of order) {
    const res = results.get(`${h}>${p}`);
    if (!hosts[h].ok || !plugins[p].ok) {
      res.error ??= `n/a: ${hosts[h].reason ?? plugins[p].reason}`;
      continue;
    }
    try {
      const r = await hosts[h].run(plugins[p]);
      res.startup.push(r.startup);
      res.cps.push(r.cps);
      log(`rep ${rep + 1}/${REPS} ${h} host -> ${p} plugin: start-up ${r.startup.toFixed(0)} ms, ${r.cps.toFixed(0)} calls/s`);
    } catch (e) {
      res.error = `failed: ${e.message}`.slice(0, 200);
      log(`${h} host -> ${p} plugin failed: ${e.message}`);
    }
  }
}

// plugsock's verified channel vs grpc-js's own unix: channel to the same Node plugin.
const channelCmp = { plugsock: [], grpcjs: [] };
{
  const p = await gp.startPlugin({ command: plugins.node.cmd, args: plugins.node.args, env: baseEnv, ...COOKIE });
  try {
    const ours = p.client(kvPkg.KV);
    const theirs = new kvPkg.KV(`unix:${p.address}`, grpc.credentials.createInsecure());
    await get(ours, 'w');
    await get(theirs, 'w');
    for (let r = 0; r < REPS * 2; r++) {
      for (const [name, c] of r % 2
        ? [
            ['grpcjs', theirs],
            ['plugsock', ours],
          ]
        : [
            ['plugsock', ours],
            ['grpcjs', theirs],
          ]) {
        const t = performance.now();
        for (let i = 0; i < CALLS; i++) await get(c, 'k');
        channelCmp[name].push(CALLS / ((performance.now() - t) / 1000));
      }
    }
    theirs.close();
  } finally {
    await p.kill();
  }
}

// ---- Rows
const rows = [];
const med = (v) => summarize(v).median;
const cellOf = (v, error) => (error && v.length === 0 ? error : { median: med(v), spread: summarize(v).spread });
for (const [h, p] of pairs) {
  const r = results.get(`${h}>${p}`);
  rows.push({
    name: `start-up ${h} host -> ${p} plugin`,
    unit: 'ms',
    better: 'lower',
    value: med(r.startup),
    native: cellOf(r.startup, r.error),
    pair: `${h}>${p}`,
    ...(r.error ? { note: r.error } : {}),
  });
}
for (const [h, p] of pairs) {
  const r = results.get(`${h}>${p}`);
  rows.push({
    name: `unary calls/s ${h} host -> ${p} plugin`,
    unit: 'calls/s',
    better: 'higher',
    value: med(r.cps),
    native: cellOf(r.cps, r.error),
    pair: `${h}>${p}`,
    ...(r.error ? { note: r.error } : {}),
  });
}
// Ratios with bootstrap 95 % intervals (lib/stats.mjs): paired per repetition when both lists
// have every repetition (rep i of each ran in the same rotation), else resampled independently.
const complete = (...lists) => lists.every((l) => l.length === REPS);
const startupRatio = (a, b, target) => ratioFields(a, b, { target, better: 'lower', paired: complete(a, b) });
const nn = med(results.get('node>node').startup);
const gg = med(results.get('go>go').startup);
const pp = med(results.get('pyvider>pyvider').startup);
rows.push({
  name: 'start-up Node pair vs Go pair (goal <= 2x)',
  unit: 'ms',
  better: 'lower',
  value: nn,
  native: nn,
  net: gg ?? 'n/a',
  ref: 'go>go',
  target: 2,
  ...startupRatio(results.get('node>node').startup, results.get('go>go').startup, 2),
});
rows.push({
  name: 'start-up Node pair vs pyvider pair (goal < 1x)',
  unit: 'ms',
  better: 'lower',
  value: nn,
  native: nn,
  net: pp ?? 'n/a',
  ref: 'pyvider>pyvider',
  target: 1,
  ...startupRatio(results.get('node>node').startup, results.get('pyvider>pyvider').startup, 1),
});
const floorBare = med(floors.bare);
const floorPlugsock = med(floors.plugsock);
const floorModules = med(floors.modules);
rows.push({
  name: 'Node floor: spawn to first output, bare node -e',
  unit: 'ms',
  better: 'lower',
  value: floorBare,
  native: { median: floorBare, spread: summarize(floors.bare).spread },
});
rows.push({
  name: 'Node floor: same after loading grpc-js + plugsock/goplugin (a plugin with static stubs)',
  unit: 'ms',
  better: 'lower',
  value: floorPlugsock,
  native: { median: floorPlugsock, spread: summarize(floors.plugsock).spread },
});
rows.push({
  name: 'Node floor: same after loading grpc-js + proto-loader + plugsock/goplugin (the example plugin)',
  unit: 'ms',
  better: 'lower',
  value: floorModules,
  native: { median: floorModules, spread: summarize(floors.modules).spread },
});
if (nn && gg) {
  rows.push({
    name: 'Node pair start-up above its floor (handshake, listen, connect, first call) vs Go pair',
    unit: 'ms',
    better: 'lower',
    value: nn - floorModules,
    native: nn - floorModules,
    net: gg,
    ref: 'go>go',
    // Per repetition: (node>node - its floor) / go>go, when all three have every repetition.
    ...(complete(results.get('node>node').startup, floors.modules, results.get('go>go').startup)
      ? startupRatio(
          results.get('node>node').startup.map((x, i) => x - floors.modules[i]),
          results.get('go>go').startup,
        )
      : { ratio: (nn - floorModules) / gg }),
  });
  notes.push(
    `goplugin: a bare node -e takes ${fmtNum(floorBare)} ms to its first output, ${(floorBare / gg).toFixed(1)}x the whole Go pair (${fmtNum(gg)} ms); ` +
      `loading grpc-js + plugsock/goplugin brings it to ${fmtNum(floorPlugsock)} ms, and proto-loader (the example plugin's) to ${fmtNum(floorModules)} ms. ` +
      'The <= 2x goal is below what a Node process needs to start on this machine; the row above the floor is what plugsock itself spends.',
  );
}
const cpsOurs = med(channelCmp.plugsock);
const cpsTheirs = med(channelCmp.grpcjs);
rows.push({
  name: 'unary gRPC calls/s: plugsock verified channel vs grpc-js unix:',
  unit: 'calls/s',
  better: 'higher',
  value: cpsOurs,
  native: { median: cpsOurs, spread: summarize(channelCmp.plugsock).spread },
  net: { median: cpsTheirs, spread: summarize(channelCmp.grpcjs).spread },
  ref: 'grpc-js unix:',
  // channelCmp's lists alternate in the same loop: entry i of each is a pair.
  ...ratioFields(channelCmp.plugsock, channelCmp.grpcjs),
});
notes.push(
  `goplugin: ${REPS} repetitions per pair (median), ${CALLS} sequential unary Get calls per repetition; no TLS; start-up = from spawn (startPlugin / NewClient / plugin_client.start) to the first successful call, measured inside the host (host process start-up itself excluded).`,
);

// ---- Human table
const pad = (s, n) => String(s).padEnd(n);
const fmt = (v) => (v === null || v === undefined ? '-' : fmtNum(v));
console.log('\nstart-up (ms, median) and unary calls/s (median): rows = host, columns = plugin');
console.log(pad('host \\ plugin', 16) + ['node', 'go', 'pyvider'].map((p) => pad(p, 24)).join(''));
for (const h of ['node', 'go', 'pyvider']) {
  console.log(
    pad(h, 16) +
      ['node', 'go', 'pyvider']
        .map((p) => {
          const r = results.get(`${h}>${p}`);
          return pad(r.startup.length ? `${fmt(med(r.startup))} ms, ${fmt(med(r.cps))}/s` : (r.error ?? '-').slice(0, 22), 24);
        })
        .join(''),
  );
}
console.log(
  `Node pair vs Go pair start-up: ${nn && gg ? (nn / gg).toFixed(2) : 'n/a'}x (goal <= 2x); vs pyvider pair: ${nn && pp ? (nn / pp).toFixed(2) : 'n/a'}x (goal < 1x)`,
);
console.log(
  `Node floor: bare ${fmt(floorBare)} ms, with grpc-js + plugsock/goplugin ${fmt(floorPlugsock)} ms, + proto-loader ${fmt(floorModules)} ms; Node pair above that floor: ${nn ? fmt(nn - floorModules) : 'n/a'} ms`,
);
console.log(
  `unary calls/s on one Node plugin: plugsock verified channel ${fmt(cpsOurs)}, grpc-js unix: ${fmt(cpsTheirs)} (${(cpsOurs / cpsTheirs).toFixed(2)}x)`,
);
console.log(JSON.stringify({ rows, notes }));
