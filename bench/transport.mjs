#!/usr/bin/env node
// plugsock transport benchmarks: plugsock native, plugsock fallback (native: 'off') and plain
// `net`, server and client in separate processes, runs interleaved, medians of the repetitions.
// Progress goes to stderr; the last line of stdout is the JSON { rows, notes } that run.mjs reads.
//
//   node bench/transport.mjs [--quick] [--reps N] [--only stream,pingpong,connections,pertransport,policy,scale,listen]
//   (pertransport4, the per-transport loop with 4 in flight, runs only when --only names it)
import { execFile, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { interleave, nofileLimits, runPair, runSolo, startPair, startWorker } from './lib/proc.mjs';
import { fmtNum, ratioFields, summarize } from './lib/stats.mjs';

const require = createRequire(import.meta.url);
const plugsock = require('../dist/index.js');

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const argValue = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const only = argValue('--only')?.split(',');
// reps: fresh process pairs per cell (stream, listen); rounds: alternated windows of
// long-lived pairs (ping-pong, connections), each window warmupMs (the first: firstWarmupMs)
// then windowMs measured.
const P = quick
  ? { reps: 1, rounds: 3, bytes: 64 * 2 ** 20, firstWarmupMs: 100, warmupMs: 20, windowMs: 100, concurrency: 4, listenN: 30, listenWarmup: 5 }
  : { reps: 5, rounds: 9, bytes: 2 ** 30, firstWarmupMs: 300, warmupMs: 50, windowMs: 400, concurrency: 4, listenN: 200, listenWarmup: 20 };
if (argValue('--reps')) P.reps = Number(argValue('--reps'));
if (argValue('--rounds')) P.rounds = Number(argValue('--rounds'));

const log = (...a) => console.error('[transport]', ...a);
const dir = mkdtempSync(join(os.tmpdir(), 'plugsock-bench-'));
const pathOf = (impl) => join(dir, `${impl}.sock`);
const rows = [];
const notes = [];
const caps = plugsock.capabilities();
const nativeOk = caps.native !== false;

/**
 * Compiles bench/<name>.c into the run's directory; null, with a note saying `without` and why,
 * when there is no working C compiler. stream.c is the C reference pair (the same transfer with
 * read()/write() and one reused buffer on each side: the machine's ceiling, in the same run);
 * idle.c is the scale bench's client.
 */
function buildC(name, without) {
  const exe = join(dir, `${name}-c`);
  try {
    execFileSync('cc', ['-O2', '-o', exe, join(dirname(fileURLToPath(import.meta.url)), `${name}.c`)], { stdio: ['ignore', 'ignore', 'pipe'] });
    return exe;
  } catch (err) {
    const why = String(err.stderr ?? err.message)
      .trim()
      .split('\n')[0];
    notes.push(without.replace('%s', `cc failed: ${why}`));
    return null;
  }
}

/** The send buffer of the bulk profile: plugsock's sendBufferSize, and the same SO_SNDBUF in C. */
const BULK_SNDBUF = 2 ** 20;

function runStreamC(exe, bytes, sndbuf) {
  const argv = [pathOf('c'), String(bytes), '65536', ...(sndbuf ? [String(sndbuf)] : [])];
  return new Promise((resolve, reject) => {
    execFile(exe, argv, { timeout: 120_000 }, (err, stdout) => {
      if (err) return reject(err);
      const r = JSON.parse(stdout.trim());
      resolve({
        value: r.bytes / r.seconds / 1e9,
        unit: 'GB/s',
        seconds: r.seconds,
        bytes: r.bytes,
        minflt: r.minflt,
        minfltPerGiB: r.minflt / (r.bytes / 2 ** 30),
        via: sndbuf ? `C read(), SO_SNDBUF ${sndbuf}` : 'C read()',
      });
    });
  });
}

/**
 * A Node reader (a client worker) behind the C writer in serve mode with the bulk send buffer:
 * the writer is the same fast one for every reader, so only the read paths differ.
 */
async function runBehindC(exe, clientConfig) {
  const path = pathOf('cw');
  const writer = spawn(exe, [path, String(P.bytes), '65536', String(BULK_SNDBUF), 'serve'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => writer.once('exit', (code) => resolve(code)));
  try {
    await new Promise((resolve, reject) => {
      writer.stdout.once('data', resolve);
      writer.once('error', reject);
      exited.then((code) => reject(new Error(`C writer exited (${code}) before listening`)));
    });
    return await runSolo({ role: 'client', kind: 'stream', path, bytes: P.bytes, ...clientConfig });
  } finally {
    const kill = setTimeout(() => writer.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(kill);
  }
}

function progress(bench) {
  return (v, rep, res, err) =>
    log(
      `${bench} ${v} #${rep + 1}: ${err ? `FAILED ${err.message.split('\n')[0]}` : `${fmtNum(res.value)} ${res.unit}${res.minfltPerGiB !== undefined ? `, ${fmtNum(res.minfltPerGiB)} minflt/GiB` : ''}`}`,
    );
}

/**
 * Starts one long-lived server+client pair per variant, then measures P.rounds windows of
 * each, alternated and rotated (A,B,C / B,C,A / ...), so background load on the shared
 * machine hits every variant alike. A pair that fails is restarted once.
 */
async function alternate(variants, makePair, bench) {
  const pairs = {};
  const results = Object.fromEntries(variants.map((v) => [v, []]));
  const errors = [];
  const restarts = Object.fromEntries(variants.map((v) => [v, 0]));
  try {
    for (const v of variants)
      pairs[v] = await makePair(v).catch((err) => {
        errors.push(`${v}: ${err.message.split('\n')[0]}`);
        return null;
      });
    const log = progress(bench);
    for (let round = 0; round < P.rounds; round++) {
      for (let i = 0; i < variants.length; i++) {
        const v = variants[(i + round) % variants.length];
        if (!pairs[v]) continue;
        const warmupMs = results[v].length === 0 ? P.firstWarmupMs : P.warmupMs;
        try {
          results[v][round] = await pairs[v].measure({ warmupMs, durationMs: P.windowMs });
          log(v, round, results[v][round]);
        } catch (err) {
          results[v][round] = null;
          log(v, round, null, err);
          errors.push(`${v} round ${round + 1}: ${err.message.split('\n')[0]}`);
          await pairs[v].stop();
          pairs[v] = restarts[v]++ < 1 ? await makePair(v).catch(() => null) : null;
        }
      }
    }
  } finally {
    await Promise.all(
      Object.values(pairs)
        .filter(Boolean)
        .map((p) => p.stop()),
    );
  }
  return { results, errors };
}

const values = (list, key = 'value') => list.map((r) => (r ? r[key] : NaN));

/**
 * A table row: cells are summaries of the per-rep values; ratio is native/net, paired per rep:
 * ratio (median of the per-rep ratios), ratioCI [lo, hi] (bootstrap 95 %), ratioN, metMedian,
 * metInterval, met (= metMedian), and `aa` where an A/A control shares this row's reference.
 */
function row(name, unit, cells, { ratioOf = ['native', 'net'], target = null, better = 'higher', key = 'value', note, na = {} } = {}) {
  const out = { name, unit, better, target };
  for (const col of ['native', 'fallback', 'net']) {
    out[col] = na[col] ?? (cells[col] ? summarize(values(cells[col], key)) : null);
  }
  const [a, b] = ratioOf;
  const fields = cells[a] && cells[b] ? ratioFields(values(cells[a], key), values(cells[b], key), { target, better }) : null;
  Object.assign(out, fields ?? { ratio: null, ratioCI: null, ratioN: 0, metMedian: null, metInterval: null, met: null });
  if (note) out.note = note;
  rows.push(out);
  if (cells[b]) linkAA(out, cells[b], key);
  return out;
}

/**
 * The A/A control: a second plain-net column measured exactly like the others. Its ratio to the
 * net column is what the noise alone does to a ratio in this run; read the rows above with it
 * (linkAA gives them its interval).
 */
const AA = 'net-aa';
const implOf = (variant) => (variant === AA ? 'net' : variant);
function aaRow(results, unit) {
  return row(
    '  A/A control: plain net vs plain net (noise of the ratio above)',
    unit,
    { native: results[AA], net: results.net },
    { note: 'both columns plain net; native column = a second net server/client pair' },
  );
}

/**
 * Links rows to their A/A control: a row named "A/A control ..." is the control of every row
 * (made before or after it) that divides by the very same reference measurements with the same
 * key; those rows get `aa: { name, ratio, ratioCI }`, the control's median ratio and interval.
 */
const refOf = new WeakMap(); // row -> { list, key }: its reference column's results and key
const aaOf = new WeakMap(); // reference result list -> Map(key -> its A/A row)
const isAARow = (r) => /^\s*A\/A control/.test(r.name);
const aaRef = (aa) => ({ name: aa.name.trim(), ratio: aa.ratio, ratioCI: aa.ratioCI });
function linkAA(out, list, key) {
  if (!aaOf.has(list)) aaOf.set(list, new Map());
  if (isAARow(out)) {
    aaOf.get(list).set(key, out);
    for (const r of rows) if (!isAARow(r) && refOf.get(r)?.list === list && refOf.get(r).key === key) r.aa = aaRef(out);
  } else {
    refOf.set(out, { list, key });
    const aa = aaOf.get(list).get(key);
    if (aa) out.aa = aaRef(aa);
  }
}

/**
 * The quick start's and every go-plugin host's pattern: per connection a new transport,
 * connect, the server's first byte (it writes one to every connection), close the transport;
 * net: net.connect, first byte, destroy. `concurrency` such loops in flight, long-lived pairs,
 * alternated windows (as connections/s).
 */
async function perTransport(concurrency) {
  const { results, errors } = await alternate(
    ['native', 'fallback', 'net', AA],
    (impl) =>
      startPair(
        { impl: implOf(impl), kind: 'first-byte', path: pathOf(`${impl}-fb`) },
        { impl: implOf(impl), kind: 'first-byte', path: pathOf(`${impl}-fb`), concurrency },
      ),
    `pertransport x${concurrency}`,
  );
  notes.push(...errors.map((e) => `pertransport (${concurrency} in flight): ${e}`));
  row(
    concurrency === 1 ? 'one transport per connection (new transport, connect, first byte, close)' : `one transport per connection, ${concurrency} in flight`,
    'conn/s',
    results,
    {
      target: 0.9,
      note: `client: new UnixSocketTransport({ native }), await connect(path), first byte, await close(); net: net.connect({ path }), first byte, destroy(); server writes 1 byte per connection; ${concurrency} in flight`,
    },
  );
  aaRow(results, 'conn/s');
}

/** The scale bench: connections per burst, connects in flight (Node client), and the backlog of every server. */
const SCALE_CONNS = 10_000;
const SCALE_INFLIGHT = 256;
const SCALE_BACKLOG = 4096;

/**
 * The C client (bench/idle.c) of one scale measurement: resolves `held` once its `conns`
 * connections are all open (they stay open until `stop()` closes its stdin).
 */
function startIdleC(exe, path, conns, nofile) {
  const argv = [exe, path, String(conns)];
  const child = nofile
    ? spawn('prlimit', [`--nofile=${nofile}:${nofile}`, '--', ...argv], { stdio: ['pipe', 'pipe', 'inherit'] })
    : spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => resolve(signal ?? code));
    child.once('error', (err) => child.pid === undefined && resolve(err.message));
  });
  const held = new Promise((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(JSON.parse(out));
    });
    exited.then((how) => reject(new Error(`the C client exited (${how}) before its connections were open`)));
  });
  held.catch(() => {});
  return {
    held,
    async stop() {
      if (child.pid === undefined) return;
      child.stdin.end();
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(kill);
    },
  };
}

/**
 * One scale measurement: a fresh server (--expose-gc, its memory measured after GC before and
 * after the burst) and a fresh client that opens `conns` connections and holds them: the C
 * client (`cExe`), else a plain-net worker; both under prlimit --nofile=<nofile> when set.
 */
async function runIdle(variant, conns, nofile, cExe) {
  const path = pathOf(`${variant}-idle`);
  const server = startWorker(
    { role: 'server', impl: implOf(variant), kind: 'idle', path, conns, backlog: SCALE_BACKLOG },
    { nofile, execArgv: ['--expose-gc'], timeoutMs: 60_000 },
  );
  let client = null;
  try {
    await server.ready;
    const serverResult = server.nextResult();
    if (cExe) {
      client = startIdleC(cExe, path, conns, nofile);
      const [s, c] = await Promise.all([serverResult, client.held]);
      return { ...s, clientSeconds: c.seconds, retries: 0 };
    }
    client = startWorker({ role: 'client', impl: 'net', kind: 'idle', path, conns, inflight: SCALE_INFLIGHT }, { nofile, timeoutMs: 60_000 });
    await client.ready;
    const clientResult = client.nextResult();
    client.send({ type: 'go' });
    const [s, c] = await Promise.all([serverResult, clientResult]);
    return { ...s, clientSeconds: c.seconds, retries: c.retries };
  } finally {
    await Promise.allSettled([client?.stop(), server.stop()]);
  }
}

function viaOf(list) {
  return [...new Set(list.filter(Boolean).map((r) => r.via))].join(', ');
}

const benches = {
  async stream() {
    // Server writes cfg.bytes in 64 KiB writes; the client reads (so the onread variants,
    // which Node only offers on the connecting side, measure the very same direction).
    const cExe = buildC('stream', 'stream: no C reference (%s)');
    // 'native+bulk' is the bulk profile: the onread reader, and a writer whose transport has
    // sendBufferSize (fallback cannot: it needs the addon). 'c+sndbuf': the C pair likewise.
    // 'cw>…': a Node reader behind the C writer (the read path alone).
    const cVariants = cExe ? ['c', 'c+sndbuf', 'cw>native+onread', 'cw>net'] : [];
    const variants = ['native', 'fallback', 'net', 'native+onread', 'fallback+onread', 'net+onread', 'native+bulk', AA, ...cVariants];
    const { results, errors } = await interleave(
      variants,
      P.reps,
      (v) => {
        if (v === 'c' || v === 'c+sndbuf') return runStreamC(cExe, P.bytes, v === 'c' ? 0 : BULK_SNDBUF);
        if (v === 'cw>native+onread') return runBehindC(cExe, { impl: 'native', onread: true });
        if (v === 'cw>net') return runBehindC(cExe, { impl: 'net' });
        const [impl, mode] = v.split('+');
        const real = implOf(impl);
        return runPair(
          { impl: real, kind: 'stream', path: pathOf(impl), bytes: P.bytes, ...(mode === 'bulk' ? { sendBufferSize: BULK_SNDBUF } : {}) },
          { impl: real, kind: 'stream', path: pathOf(impl), bytes: P.bytes, onread: mode === 'onread' || mode === 'bulk' },
        );
      },
      { log: progress('stream') },
    );
    notes.push(...errors.map((e) => `stream: ${e}`));
    const size = P.bytes >= 2 ** 30 ? `${P.bytes / 2 ** 30} GiB` : `${P.bytes / 2 ** 20} MiB`;
    row(`stream throughput (64 KiB writes, ${size})`, 'GB/s', results, { target: 0.95 });
    aaRow(results, 'GB/s');
    row('  reader minor page faults / GiB', 'faults', results, { key: 'minfltPerGiB', better: 'lower' });
    row(
      'stream, onread reuse-buffer reader vs net default',
      'GB/s',
      { native: results['native+onread'], fallback: results['fallback+onread'], net: results.net },
      {
        note: `reader: native ${viaOf(results['native+onread'])}; fallback ${viaOf(results['fallback+onread'])}; net column = plain net default reader; writer: kernel-default send buffer`,
      },
    );
    row(
      `stream, bulk profile (onread reader, writer sendBufferSize ${BULK_SNDBUF / 2 ** 20} MiB) vs net default`,
      'GB/s',
      { native: results['native+bulk'], net: results.net },
      {
        target: 2.0,
        na: { fallback: 'n/a (sendBufferSize needs the addon)' },
        note: `reader: ${viaOf(results['native+bulk'])}; net column = plain net, default reader and send buffer`,
      },
    );
    row(
      '  reader minor page faults / GiB (onread)',
      'faults',
      { native: results['native+onread'], fallback: results['fallback+onread'], net: results['net+onread'] },
      { key: 'minfltPerGiB', better: 'lower', note: 'net column = net.connect({ path, onread })' },
    );
    row(
      'stream, onread on every column (net = net.connect onread)',
      'GB/s',
      { native: results['native+onread'], fallback: results['fallback+onread'], net: results['net+onread'] },
      { target: 0.95 },
    );
    if (cExe) {
      // The ceilings: a C read()/write() pair with the kernel's default send buffer and with the
      // bulk profile's. No Node reader beats a C loop by much, so each plugsock row is read
      // against the C pair configured like it.
      row(
        'stream, onread reader vs a C reader+writer pair (default send buffer)',
        'GB/s',
        { native: results['native+onread'], fallback: results['fallback+onread'], net: results.c },
        { note: 'net column = bench/stream.c, read() into one reused 64 KiB buffer, writer in C too' },
      );
      row(
        `stream, bulk profile vs the C pair with SO_SNDBUF ${BULK_SNDBUF / 2 ** 20} MiB (machine ceiling)`,
        'GB/s',
        { native: results['native+bulk'], net: results['c+sndbuf'] },
        { note: 'net column = bench/stream.c with the same send buffer' },
      );
      row(
        'stream, C pairs vs net default reader (default / 1 MiB send buffer)',
        'GB/s',
        { native: results.c, fallback: results['c+sndbuf'], net: results.net },
        { note: 'native column = the C pair with the default send buffer, fallback column = with 1 MiB' },
      );
      row(
        'stream, read path alone: onread reader vs net default reader, both behind one C writer',
        'GB/s',
        { native: results['cw>native+onread'], net: results['cw>net'] },
        {
          target: 2.0,
          note: `writer: bench/stream.c serve mode, SO_SNDBUF ${BULK_SNDBUF / 2 ** 20} MiB, for both columns; reader: ${viaOf(results['cw>native+onread'])} vs net 'data' events`,
        },
      );
    }
  },

  async pingpong() {
    const { results, errors } = await alternate(
      ['native', 'fallback', 'net', AA],
      (impl) => startPair({ impl: implOf(impl), kind: 'echo', path: pathOf(impl) }, { impl: implOf(impl), kind: 'echo', path: pathOf(impl) }),
      'pingpong',
    );
    notes.push(...errors.map((e) => `pingpong: ${e}`));
    row('ping-pong round trips/s (64 B messages)', 'rt/s', results, { target: 0.95 });
    aaRow(results, 'rt/s');
  },

  async connections() {
    const { results, errors } = await alternate(
      ['native', 'fallback', 'net', AA],
      (impl) =>
        startPair(
          { impl: implOf(impl), kind: 'close', path: pathOf(impl) },
          { impl: implOf(impl), kind: 'close', path: pathOf(impl), concurrency: P.concurrency },
        ),
      'connections',
    );
    notes.push(...errors.map((e) => `connections: ${e}`));
    row(`connections/s (connect+accept+close, ${P.concurrency} in flight)`, 'conn/s', results, { target: 0.95 });
    aaRow(results, 'conn/s');
  },

  pertransport: () => perTransport(1),

  async pertransport4() {
    // Opt-in (--only pertransport4): the same with 4 loops in flight, ~18 s more.
    if (only?.includes('pertransport4')) await perTransport(4);
    else log('pertransport4: skipped (opt-in: --only pertransport4)');
  },

  async policy() {
    // Native with peer: { uids: [getuid()] } on the server and on the client, against plain net
    // without any check. Fallback cannot have a policy (fail closed): verify that it refuses.
    let fallbackCell = 'n/a';
    try {
      new plugsock.UnixSocketTransport({ native: 'off', peer: { uids: [process.getuid()] } });
      fallbackCell = 'ACCEPTED (bug)';
      notes.push('policy: a fallback transport accepted a peer policy; it must throw ERR_NATIVE_REQUIRED');
    } catch (err) {
      fallbackCell = `n/a (${err.code ?? err.message})`;
    }
    // Its own socket paths, so these pairs never meet the connections pairs' files.
    const { results, errors } = await alternate(
      ['native', 'net'],
      (impl) =>
        startPair(
          { impl, kind: 'close', path: pathOf(`${impl}-policy`), policy: impl === 'native' },
          { impl, kind: 'close', path: pathOf(`${impl}-policy`), policy: impl === 'native', concurrency: P.concurrency },
        ),
      'policy',
    );
    notes.push(...errors.map((e) => `policy: ${e}`));
    row('connections/s, native with uids policy vs net without', 'conn/s', results, { target: 0.9, na: { fallback: fallbackCell } });
  },

  async scale() {
    // A burst of SCALE_CONNS connections held open and idle, a fresh server per repetition. The
    // client is the same for every column (only the server differs): bench/idle.c, blocking
    // connects that wait in the kernel while the backlog is full, so the server sets the pace.
    const conns = quick ? 1000 : SCALE_CONNS;
    const title = `scale: accept rate of a ${conns.toLocaleString('en-US')}-connection burst (first to last accepted)`;
    const lim = nofileLimits();
    const need = conns + 100;
    const nofile = lim.prlimit && lim.hard >= need ? Math.min(lim.hard, conns + 1000) : 0;
    const limits = `RLIMIT_NOFILE here: soft ${lim.soft}, hard ${lim.hard}`;
    if (!nofile && !(lim.soft >= need)) {
      const why = `n/a (needs ~${need} fds per process; ${limits}${lim.prlimit ? '' : ', no prlimit'})`;
      row(title, 'conn/s', {}, { na: { native: why, fallback: why, net: why } });
      notes.push(`scale: skipped, ${why}`);
      return;
    }
    const cExe = buildC('idle', 'scale: no C client (%s), the client is plain net (and may set the pace)');
    const client = cExe
      ? 'client bench/idle.c (one blocking connect() after the other) for every column'
      : `client plain net for every column, ${SCALE_INFLIGHT} connects in flight, EAGAIN retried after 1 ms`;
    const variants = ['native', 'fallback', 'net', AA];
    const { results, errors } = await interleave(variants, P.reps, (v) => runIdle(v, conns, nofile, cExe), {
      log: (v, rep, res, err) =>
        log(
          `scale ${v} #${rep + 1}: ${
            err
              ? `FAILED ${err.message.split('\n')[0]}`
              : `${fmtNum(res.value)} conn/s, ${fmtNum(res.rssPerConn)} B RSS/conn, ${fmtNum(res.cpuUsPerConn)} us CPU/conn, client ${fmtNum(res.clientSeconds)} s${cExe ? '' : `, ${res.retries} EAGAIN retries`}`
          }`,
        ),
    });
    notes.push(...errors.map((e) => `scale: ${e}`));
    row(title, 'conn/s', results, {
      target: 0.9,
      note: `server counts 'connection' events (plugsock: after its peer read), rate = (n - 1) / (last - first); ${client}`,
    });
    aaRow(results, 'conn/s');
    row(`  server RSS per idle connection (${conns.toLocaleString('en-US')} open, after GC)`, 'B/conn', results, {
      key: 'rssPerConn',
      better: 'lower',
      target: 1.1,
      note: '(server RSS with all open - RSS before the burst) / connections, both after gc(); plugsock server without a peer policy',
    });
    row(
      '  A/A control: plain net vs plain net (noise of the ratio above)',
      'B/conn',
      { native: results[AA], net: results.net },
      {
        key: 'rssPerConn',
        better: 'lower',
        note: 'both columns plain net; native column = a second net server',
      },
    );
    row('  server CPU per accepted connection (during the burst)', 'us', results, { key: 'cpuUsPerConn', better: 'lower' });
    const med = (v, key) => fmtNum(summarize(values(results[v] ?? [], key)).median);
    let somaxconn = 'unknown';
    try {
      somaxconn = readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim();
    } catch {
      // not Linux
    }
    notes.push(
      `scale: heapUsed + external per connection (after GC): native ${med('native', 'heapExtPerConn')} B, fallback ${med('fallback', 'heapExtPerConn')} B, net ${med('net', 'heapExtPerConn')} B; ` +
        `V8 heapTotal (committed) per connection: native ${med('native', 'heapTotalPerConn')} B, fallback ${med('fallback', 'heapTotalPerConn')} B, net ${med('net', 'heapTotalPerConn')} B; ` +
        `client's time to open them all (medians): native ${med('native', 'clientSeconds')} s, fallback ${med('fallback', 'clientSeconds')} s, net ${med('net', 'clientSeconds')} s` +
        (cExe ? '' : `; EAGAIN retries (backlog full): native ${med('native', 'retries')}, net ${med('net', 'retries')}`),
      `scale: listen backlog ${SCALE_BACKLOG} for every server (plugsock's backlog option, net's listen({ backlog })); net.core.somaxconn = ${somaxconn} (the kernel caps the backlog there); ` +
        `${limits}; ${nofile ? `server and client started with prlimit --nofile=${nofile}:${nofile}` : 'server and client inherit the soft limit (no prlimit)'}, each checks its limit >= ${need} and fails with a message below; ` +
        `${P.reps} interleaved repetitions, fresh server and client processes each`,
    );
  },

  async listen() {
    const { results, errors } = await interleave(
      ['native', 'fallback', 'net'],
      P.reps,
      (impl) => runSolo({ role: 'listen', impl, path: pathOf(impl), n: P.listenN, warmup: P.listenWarmup }),
      { log: progress('listen') },
    );
    notes.push(...errors.map((e) => `listen: ${e}`));
    row(`listen() setup time (median of ${P.listenN} listen+close)`, 'us', results, { better: 'lower', target: 3 });
  },
};

const started = Date.now();
try {
  try {
    notes.push(`stream: net.core.wmem_max = ${readFileSync('/proc/sys/net/core/wmem_max', 'utf8').trim()} (the kernel caps sendBufferSize / SO_SNDBUF there)`);
  } catch {
    // not Linux: nothing to report
  }
  if (!nativeOk) notes.push(`the addon did not load (${caps.reason ?? 'unknown reason'}): native columns will fail`);
  for (const [name, fn] of Object.entries(benches)) {
    if (only && !only.includes(name)) continue;
    log(`${name}...`);
    await fn();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
notes.push(
  `transport.mjs: stream and listen: ${P.reps} interleaved repetitions, each in fresh processes; ` +
    `ping-pong and connections: ${P.rounds} alternated ${P.windowMs} ms windows of long-lived pairs; ` +
    `cells are medians, ratio = median of per-repetition native/net ratios; ` +
    `stream: server writes, client reads, GB = 1e9 bytes, page faults = reader's minor faults during the transfer; ` +
    `connections: server closes each accepted socket at once, client waits for the close; took ${((Date.now() - started) / 1000).toFixed(0)} s.`,
);
console.log(JSON.stringify({ module: 'transport', params: P, capabilities: caps, rows, notes }));
