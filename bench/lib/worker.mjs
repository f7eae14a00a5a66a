// One benchmark process: a server or a client (or a solo listen() timer) for one transport
// implementation. Started by proc.mjs with its config as argv[2]; talks back over IPC:
// 'ready' once set up, 'result' with its measurement, 'error' on failure. Waits for 'go'
// before measuring and for 'stop' before exiting (servers).
//
// impl: 'native'   plugsock with the addon (native: 'require'); cfg.sendBufferSize sets the
//                  server transport's sendBufferSize option
//       'fallback' plugsock without it (native: 'off')
//       'net'      plain node:net on a path in the same directory
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
      server.listen(cfg.path, res);
    });
    return () => server.close();
  }
  const t = new plugsock.UnixSocketTransport({
    path: cfg.path,
    native: nativeMode(cfg.impl),
    peer: policy(),
    ...(cfg.sendBufferSize ? { sendBufferSize: cfg.sendBufferSize } : {}),
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

async function server() {
  const handler = { stream: streamWriter, echo, close: closer }[cfg.kind];
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
  const windowOnce = async ({ warmupMs = cfg.warmupMs, durationMs = cfg.durationMs }) => {
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
    await Promise.all(Array.from({ length: cfg.concurrency }, loop));
    return {
      value: count / ((last - t0) / 1000),
      unit: 'connections/s',
      count,
      concurrency: cfg.concurrency,
      via: cfg.impl === 'net' ? 'net.connect' : 'transport.connect',
    };
  };
  let go = await started();
  for (;;) {
    send({ type: 'result', ...(await windowOnce(go)) });
    go = await nextGo();
  }
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
    const fn = cfg.role === 'listen' ? listenTimer : { stream: streamClient, echo: pingpongClient, close: connectionsClient }[cfg.kind];
    const res = await fn();
    send({ type: 'result', ...res });
    // The parent stops us once it has the result.
  }
} catch (err) {
  fail(err);
}
