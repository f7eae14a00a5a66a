// One benchmark process: a server or a client (or a solo listen() timer) for one transport
// implementation. Started by proc.mjs with its config as argv[2]; talks back over IPC:
// 'ready' once set up, 'result' with its measurement, 'error' on failure. Waits for 'go'
// before measuring and for 'stop' before exiting (servers).
//
// impl: 'native'   plugsock with the addon (native: 'require'); cfg.sendBufferSize sets the
//                  server transport's sendBufferSize option
//       'fallback' plugsock without it (native: 'off')
//       'net'      plain node:net on a path in the same directory
// kind:  'stream' (throughput), 'echo' (ping-pong), 'close' (connections/s), 'first-byte' (one
//        transport per connection: the server writes a byte to each), 'idle' (scale: the server
//        counts a burst of connections held open and measures its memory; the client is net)
// cfg.backlog, when set, is the listen backlog of every server (plugsock's `backlog` option,
// net's listen({ backlog })).
import { execFileSync } from 'node:child_process';
import { unlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { performance } from 'node:perf_hooks';

const require = createRequire(import.meta.url);
const plugsock = require('../../dist/index.js');

const cfg = JSON.parse(process.argv[2]);
const CHUNK = 64 * 1024;

/** Tells the parent we are loaded and waits for 'go' (sent once the server listens). */
async function started() {
  send({ type: 'ready' });
  return nextGo();
}

function send(msg) {
  process.send?.(msg);
}

function fail(err) {
  send({ type: 'error', message: err?.stack ?? String(err) });
  setTimeout(() => process.exit(1), 50);
}

process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

// 'go' messages (each may carry window parameters), queued until the worker asks for one.
const gos = [];
let goWaiter = null;
function nextGo() {
  return gos.length
    ? Promise.resolve(gos.shift())
    : new Promise((res) => {
        goWaiter = res;
      });
}
let stopHandler = () => process.exit(0);
process.on('message', (msg) => {
  if (msg?.type === 'go') {
    if (goWaiter) {
      const w = goWaiter;
      goWaiter = null;
      w(msg);
    } else gos.push(msg);
  } else if (msg?.type === 'stop') stopHandler();
});
// The parent went away: do not linger.
process.on('disconnect', () => process.exit(0));

function policy() {
  return cfg.policy ? { uids: [process.getuid()] } : undefined;
}

function nativeMode(impl) {
  return impl === 'native' ? 'require' : 'off';
}

// ---------------------------------------------------------------- servers

async function listenServer(onConnection) {
  if (cfg.impl === 'net') {
    try {
      unlinkSync(cfg.path);
    } catch {}
    const server = net.createServer(onConnection);
    await new Promise((res, rej) => {
      server.once('error', rej);
      server.listen({ path: cfg.path, ...(cfg.backlog ? { backlog: cfg.backlog } : {}) }, res);
    });
    return () => server.close();
  }
  const t = new plugsock.UnixSocketTransport({
    path: cfg.path,
    native: nativeMode(cfg.impl),
    peer: policy(),
    ...(cfg.sendBufferSize ? { sendBufferSize: cfg.sendBufferSize } : {}),
    ...(cfg.backlog ? { backlog: cfg.backlog } : {}),
  });
  t.on('connection', onConnection);
  t.on('error', () => {});
  await t.listen();
  return () => t.close();
}

function streamWriter(socket) {
  socket.on('error', () => {});
  // The client sends one byte when it has started its clock; then write cfg.bytes.
  socket.once('data', () => {
    const buf = Buffer.alloc(CHUNK, 0x61);
    let left = cfg.bytes;
    const pump = () => {
      while (left > 0) {
        left -= CHUNK;
        if (!socket.write(buf)) {
          socket.once('drain', pump);
          return;
        }
      }
      socket.end();
    };
    pump();
  });
}

function echo(socket) {
  socket.on('error', () => {});
  socket.on('data', (d) => socket.write(d));
}

function closer(socket) {
  socket.on('error', () => {});
  socket.destroy();
}

const FIRST_BYTE = Buffer.from('!');

/** Writes one byte to every connection, then reads (and drops) until the client closes. */
function firstByteWriter(socket) {
  socket.on('error', () => {});
  socket.resume();
  socket.write(FIRST_BYTE);
}

/**
 * RLIMIT_NOFILE (soft) of this process, as `ulimit -n` reports it to a child shell: fails with
 * a clear message when `conns` connections (one fd each, plus ~100 for Node itself) do not fit.
 */
function checkNofile(conns) {
  const out = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
  const limit = out === 'unlimited' ? Number.POSITIVE_INFINITY : Number(out);
  const need = conns + 100;
  if (!(limit >= need)) {
    throw new Error(
      `RLIMIT_NOFILE (ulimit -n) is ${out}, below the ~${need} fds that ${conns} connections need: ` +
        `start this worker with prlimit --nofile=${need}:${need} (the hard limit must allow it) or raise ulimit -n`,
    );
  }
  return limit;
}

function memory() {
  const m = process.memoryUsage();
  return { rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}

/** Full collections (the worker runs with --expose-gc), then the memory figures. */
function memoryAfterGc() {
  if (typeof globalThis.gc !== 'function') throw new Error('the idle-connections server needs --expose-gc');
  globalThis.gc();
  globalThis.gc();
  return memory();
}

/**
 * Allocates ~256 MB of short-lived objects, so V8's young generation has grown to its working
 * size before the baseline: its pages (up to tens of MB, resident once touched, kept after a
 * GC) would otherwise land in the burst's RSS delta, in steps, whichever the server.
 */
function churn() {
  let keep = null;
  for (let i = 0; i < 4_000_000; i++) {
    const o = { i, next: keep, pad: [i, i] };
    keep = i % 64 === 0 ? null : o;
  }
  return keep;
}

/**
 * The scale server (kind 'idle'): listens, measures its memory (after GC), says 'ready', then
 * counts 'connection' events (plugsock: after its peer read) up to cfg.conns and keeps every
 * connection open and idle. Reports the accept rate from the first connection to the last, its
 * CPU time over that span, and the memory (after GC) with all of them open.
 */
async function idleServer() {
  const nofile = checkNofile(cfg.conns);
  let count = 0;
  let t0 = 0;
  let t1 = 0;
  let ru0 = null;
  let allIn;
  const all = new Promise((res) => {
    allIn = res;
  });
  const close = await listenServer((socket) => {
    socket.on('error', () => {});
    const now = performance.now();
    if (++count === 1) {
      t0 = now;
      ru0 = process.resourceUsage();
    }
    if (count === cfg.conns) {
      t1 = now;
      allIn();
    }
  });
  stopHandler = async () => {
    await Promise.race([close(), new Promise((r) => setTimeout(r, 1000))]);
    process.exit(0);
  };
  churn();
  const before = memoryAfterGc();
  send({ type: 'ready' });
  await all;
  const ru1 = process.resourceUsage();
  const after = memoryAfterGc();
  const n = cfg.conns;
  const perConn = (key) => (after[key] - before[key]) / n;
  send({
    type: 'result',
    value: (n - 1) / ((t1 - t0) / 1000),
    unit: 'connections/s',
    conns: n,
    seconds: (t1 - t0) / 1000,
    cpuUsPerConn: (ru1.userCPUTime + ru1.systemCPUTime - ru0.userCPUTime - ru0.systemCPUTime) / (n - 1),
    rssPerConn: perConn('rss'),
    heapExtPerConn: (after.heapUsed + after.external - before.heapUsed - before.external) / n,
    heapTotalPerConn: perConn('heapTotal'),
    before,
    after,
    nofile,
  });
}

async function server() {
  if (cfg.kind === 'idle') return idleServer();
  const handler = { stream: streamWriter, echo, close: closer, 'first-byte': firstByteWriter }[cfg.kind];
  const close = await listenServer(handler);
  stopHandler = async () => {
    await Promise.race([close(), new Promise((r) => setTimeout(r, 1000))]);
    process.exit(0);
  };
  send({ type: 'ready' });
}

// ---------------------------------------------------------------- clients

let clientTransport = null;
function transport() {
  clientTransport ??= new plugsock.UnixSocketTransport({ native: nativeMode(cfg.impl), peer: policy() });
  return clientTransport;
}

function netConnect(options) {
  return new Promise((resolve, reject) => {
    const s = net.connect(options);
    s.once('error', reject);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}

/** Does this socket deliver reads to `callback` through Node's onread option? */
function usesOnread(socket, callback) {
  const sym = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'kBufferCb');
  return sym !== undefined && socket[sym] === callback;
}

/**
 * Connects the client side. With `onread`, first tries what plugsock users would write,
 * `transport.connect(path, { onread })`; if the transport does not (yet) apply the option,
 * does what it would do: native `new net.Socket({ fd, onread })` over the addon's connected fd,
 * fallback `net.connect({ path, onread })`. Returns { socket, via }.
 */
async function connectClient(onread) {
  if (cfg.impl === 'net') return { socket: await netConnect({ path: cfg.path, onread }), via: onread ? 'net.connect onread' : 'net.connect' };
  if (!onread) return { socket: await transport().connect(cfg.path), via: 'transport.connect' };
  const s = await transport().connect(cfg.path, { onread });
  if (usesOnread(s, onread.callback)) return { socket: s, via: 'transport.connect onread' };
  s.destroy();
  if (cfg.impl === 'fallback') return { socket: await netConnect({ path: cfg.path, onread }), via: 'emulated: net.connect onread' };
  const { addon } = require('../../dist/addon.js');
  const fd = addon().socketConnect(cfg.path);
  const socket = new net.Socket({ fd, readable: true, writable: true, onread });
  if (!usesOnread(socket, onread.callback)) throw new Error('onread was not applied to new net.Socket({ fd })');
  return { socket, via: 'emulated: new net.Socket({ fd, onread })' };
}

async function streamClient() {
  const total = cfg.bytes;
  let got = 0;
  let finish;
  const done = new Promise((res) => {
    finish = res;
  });
  const onData = (n) => {
    got += n;
    if (got >= total) finish();
  };
  const onread = cfg.onread
    ? {
        buffer: Buffer.allocUnsafe(CHUNK),
        callback: (n) => {
          onData(n);
        },
      }
    : undefined;
  await started();
  const { socket, via } = await connectClient(onread);
  socket.on('error', (err) => fail(err));
  if (!onread) socket.on('data', (d) => onData(d.length));
  socket.on('end', () => finish());
  const ru0 = process.resourceUsage();
  const t0 = performance.now();
  socket.write('g');
  await done;
  const secs = (performance.now() - t0) / 1000;
  const ru1 = process.resourceUsage();
  if (got < total) throw new Error(`stream ended after ${got} of ${total} bytes`);
  socket.destroy();
  const gib = total / 2 ** 30;
  return {
    value: total / secs / 1e9,
    unit: 'GB/s',
    seconds: secs,
    bytes: got,
    minflt: ru1.minorPageFault - ru0.minorPageFault,
    majflt: ru1.majorPageFault - ru0.majorPageFault,
    minfltPerGiB: (ru1.minorPageFault - ru0.minorPageFault) / gib,
    cpuSeconds: (ru1.userCPUTime + ru1.systemCPUTime - ru0.userCPUTime - ru0.systemCPUTime) / 1e6,
    via,
  };
}

async function pingpongClient() {
  let go = await started();
  const { socket, via } = await connectClient();
  socket.on('error', (err) => fail(err));
  const msg = Buffer.alloc(64, 0x62);
  let onRound = null;
  let pending = 0;
  socket.on('data', (d) => {
    pending -= d.length;
    if (pending <= 0) onRound();
  });
  // One measurement window per 'go': warm up, then count round trips for durationMs.
  const windowOnce = ({ warmupMs = cfg.warmupMs, durationMs = cfg.durationMs }) =>
    new Promise((resolve) => {
      const measureFrom = performance.now() + warmupMs;
      const end = measureFrom + durationMs;
      let measuring = false;
      let rounds = 0;
      let t0 = 0;
      onRound = () => {
        rounds++;
        const now = performance.now();
        if (!measuring && now >= measureFrom) {
          measuring = true;
          rounds = 0;
          t0 = now;
        } else if (measuring && now >= end) {
          resolve({ value: rounds / ((now - t0) / 1000), unit: 'round trips/s', rounds, via });
          return;
        }
        pending = 64;
        socket.write(msg);
      };
      pending = 64;
      socket.write(msg);
    });
  for (;;) {
    send({ type: 'result', ...(await windowOnce(go)) });
    go = await nextGo();
  }
}

/**
 * One measurement window: `concurrency` loops of `once()` in flight, warm up for warmupMs, then
 * count the completions for durationMs.
 */
async function countWindow(once, concurrency, { warmupMs = cfg.warmupMs, durationMs = cfg.durationMs }) {
  const start = performance.now();
  const measureFrom = start + warmupMs;
  const end = measureFrom + durationMs;
  let count = 0;
  let t0 = 0;
  let measuring = false;
  let last = start;
  const loop = async () => {
    for (;;) {
      await once();
      const now = performance.now();
      if (!measuring && now >= measureFrom) {
        measuring = true;
        t0 = now;
        count = 0;
      } else if (measuring) {
        if (now >= end) {
          last = Math.max(last, now);
          return;
        }
        count++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  return { value: count / ((last - t0) / 1000), count, concurrency };
}

/** A long-lived client: one countWindow of `once` per 'go', reported as a 'result'. */
async function windowsOf(once, unit, via) {
  let go = await started();
  for (;;) {
    send({ type: 'result', ...(await countWindow(once, cfg.concurrency, go)), unit, via });
    go = await nextGo();
  }
}

async function connectionsClient() {
  // Connect, let the server accept (and check) it and close it, see the close; repeat, with
  // `concurrency` such loops in flight, for one window per 'go'.
  const once = async () => {
    const socket = cfg.impl === 'net' ? net.connect({ path: cfg.path }) : await transport().connect(cfg.path);
    await new Promise((res, rej) => {
      socket.once('close', res);
      socket.once('error', rej);
      socket.resume();
    });
  };
  return windowsOf(once, 'connections/s', cfg.impl === 'net' ? 'net.connect' : 'transport.connect');
}

/** Resolves on the socket's first bytes; rejects when it errs or ends before them. */
function firstBytes(socket) {
  return new Promise((resolve, reject) => {
    const onEnd = () => done(new Error('the server closed the connection before its first byte'));
    const done = (err) => {
      socket.off('data', onData);
      socket.off('error', done);
      socket.off('end', onEnd);
      if (err) reject(err);
      else resolve();
    };
    const onData = () => done(null);
    socket.on('data', onData);
    socket.on('error', done);
    socket.on('end', onEnd);
  });
}

async function firstByteClient() {
  // The go-plugin host pattern: per connection a new transport, connect, the server's first
  // byte, close the transport (which destroys the connection). net: connect, first byte, destroy.
  const native = nativeMode(cfg.impl);
  const once =
    cfg.impl === 'net'
      ? async () => {
          const socket = net.connect({ path: cfg.path });
          await firstBytes(socket);
          socket.destroy();
        }
      : async () => {
          const t = new plugsock.UnixSocketTransport({ native });
          const socket = await t.connect(cfg.path);
          await firstBytes(socket);
          await t.close();
        };
  return windowsOf(once, 'connections/s', cfg.impl === 'net' ? 'net.connect + destroy' : 'new transport + connect + close');
}

/**
 * The scale client (kind 'idle'), plain net whatever the server: opens cfg.conns connections,
 * at most cfg.inflight connects pending at once, and keeps them all open and idle until 'stop'.
 * A connect refused with EAGAIN (the server's backlog is full) is retried after 1 ms.
 */
async function idleClient() {
  checkNofile(cfg.conns);
  const sockets = [];
  const connectOne = () =>
    new Promise((resolve, reject) => {
      const socket = net.connect({ path: cfg.path });
      const onError = (err) => {
        socket.destroy();
        reject(err);
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        socket.off('error', onError);
        socket.on('error', () => {});
        resolve(socket);
      });
    });
  let begun = 0;
  let retries = 0;
  const lane = async () => {
    while (begun < cfg.conns) {
      begun++;
      for (;;) {
        try {
          sockets.push(await connectOne());
          break;
        } catch (err) {
          if (err.code !== 'EAGAIN') throw err;
          retries++;
          await new Promise((r) => setTimeout(r, 1));
        }
      }
    }
  };
  await started();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: Math.min(cfg.inflight, cfg.conns) }, lane));
  const seconds = (performance.now() - t0) / 1000;
  // Held until the parent stops the process.
  globalThis.idleSockets = sockets;
  return { value: sockets.length / seconds, unit: 'connections/s', conns: sockets.length, seconds, retries };
}

// ---------------------------------------------------------------- listen() timing (solo)

async function listenOnce() {
  if (cfg.impl === 'net') {
    const server = net.createServer();
    await new Promise((res, rej) => {
      server.once('error', rej);
      server.listen(cfg.path, res);
    });
    await new Promise((res) => server.close(res));
    try {
      unlinkSync(cfg.path);
    } catch {}
    return;
  }
  const t = new plugsock.UnixSocketTransport({ path: cfg.path, native: nativeMode(cfg.impl) });
  await t.listen();
  await t.close();
}

async function listenTimer() {
  await started();
  for (let i = 0; i < cfg.warmup; i++) await listenOnce();
  const times = [];
  for (let i = 0; i < cfg.n; i++) {
    const t0 = performance.now();
    await listenOnce();
    times.push((performance.now() - t0) * 1000);
  }
  times.sort((a, b) => a - b);
  return { value: times[times.length >> 1], unit: 'us', n: cfg.n, p90: times[Math.floor(times.length * 0.9)] };
}

// ---------------------------------------------------------------- main

try {
  if (cfg.role === 'server') {
    await server();
  } else {
    const fn =
      cfg.role === 'listen'
        ? listenTimer
        : { stream: streamClient, echo: pingpongClient, close: connectionsClient, 'first-byte': firstByteClient, idle: idleClient }[cfg.kind];
    const res = await fn();
    send({ type: 'result', ...res });
    // The parent stops us once it has the result.
  }
} catch (err) {
  fail(err);
}
