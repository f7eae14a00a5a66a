// One operation, done `warmup` + `n` times by one implementation, server and client in THIS
// process (one event loop), so that one callgrind run counts both sides of every operation.
// Run by bench/instructions.mjs under valgrind twice, with n = N and n = 2N: everything else
// (start-up, module loading, warm-up, set-up, teardown) is the same in both runs and cancels.
//
//   node bench/lib/instr-op.mjs <op> <impl: native|net> <n> <warmup> <dir> [--mark]
//
// <dir> is an empty directory the caller owns (and removes): sockets go there. With --mark,
// after the warm-up it prints START_MARK and waits for a line on stdin (the caller switches
// callgrind's instrumentation on in between: see lib/callgrind.mjs).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { START_MARK } from './callgrind.mjs';

const [op, impl, nArg, warmupArg, dir, mark] = process.argv.slice(2);
// plugsock is loaded for 'native' only: its loading cancels out anyway, but under valgrind
// (~50x slower) it costs every run ~1 s of start-up.
const { UnixSocketTransport, closeFds } = impl === 'native' ? createRequire(import.meta.url)('../../dist/index.js') : {};
const n = Number(nArg);
const warmup = Number(warmupArg);
const sockPath = path.join(dir, 's');
const CHUNK = Buffer.alloc(64 * 1024, 0x61); // one reused buffer for the 64 KiB writes
const uidPolicy = () => ({ uids: [process.getuid()] });

const once = (emitter, event) => new Promise((res) => emitter.once(event, res));

/** A server at sockPath handing each connection to `onConnection`; resolves its close(). */
async function listen(onConnection, { peer, fdPassing = false } = {}) {
  if (impl === 'net') {
    const server = net.createServer(onConnection);
    server.listen(sockPath);
    await once(server, 'listening');
    return () => new Promise((res) => server.close(res));
  }
  const t = new UnixSocketTransport({ path: sockPath, native: 'require', peer, fdPassing });
  t.on('connection', onConnection);
  await t.listen();
  return () => t.close();
}

/** A connected client socket: net.connect, or `transport.connect` on the given transport. */
async function connect(transport, options) {
  if (impl === 'net') {
    const s = net.connect(sockPath);
    await once(s, 'connect');
    return s;
  }
  return transport.connect(sockPath, options);
}

const ops = {
  // A fresh client transport per connection; the server greets with 1 byte.
  async connectFresh() {
    const close = await listen((s) => {
      s.on('error', () => {});
      s.write('x');
    });
    return {
      async run() {
        const t = impl === 'net' ? null : new UnixSocketTransport({ native: 'require' });
        const s = await connect(t);
        s.on('error', () => {});
        await once(s, 'data');
        if (t) await t.close();
        else s.destroy();
      },
      close,
    };
  },

  // One long-lived client transport; the server destroys each connection at once.
  async connectReuse(peer) {
    const close = await listen(
      (s) => {
        s.on('error', () => {});
        s.destroy();
      },
      { peer },
    );
    const t = impl === 'net' ? null : new UnixSocketTransport({ native: 'require', peer });
    return {
      async run() {
        const s = await connect(t);
        s.on('error', () => {});
        s.resume();
        await once(s, 'close');
      },
      close: async () => {
        await t?.close();
        await close();
      },
    };
  },
  connectPolicy() {
    // net has no policy: the reference is net without one.
    return ops.connectReuse(impl === 'net' ? undefined : uidPolicy());
  },

  // listen() + close() of a server on a path. net needs no unlink: libuv unlinks the path when
  // it closes a pipe server (a leftover file would make the next listen() fail: EADDRINUSE).
  async listen() {
    return {
      async run() {
        if (impl === 'net') {
          const server = net.createServer();
          server.listen(sockPath);
          await once(server, 'listening');
          await new Promise((res) => server.close(res));
        } else {
          const t = new UnixSocketTransport({ path: sockPath, native: 'require' });
          await t.listen();
          await t.close();
        }
      },
      close: async () => {},
    };
  },

  // 1 fd + 1 byte per message, accepted side sends, client closes each fd (as fdpass.mjs).
  // Only plugsock: the reference is bench/fdpass.c, counted by the caller.
  async fds() {
    const passed = fs.openSync('/dev/null', 'r');
    let sender;
    const accepted = new Promise((res) => {
      sender = res;
    });
    const close = await listen((s) => sender(s), { fdPassing: true });
    const t = new UnixSocketTransport({ native: 'require' });
    const receiver = await t.connect(sockPath, { fdPassing: true });
    const stream = await accepted;
    let got = 0;
    let wanted = 0;
    let done = null;
    receiver.on('fds', (fds) => {
      closeFds(fds);
      got += fds.length;
      if (got === wanted) done();
    });
    receiver.resume();
    return {
      // One batch of `count` messages, sent as fdpass.mjs sends them (wait only when queued).
      async batch(count) {
        wanted += count;
        const all = new Promise((res) => {
          done = res;
        });
        for (let k = 0; k < count; k++) {
          const sent = stream.sendFds([passed]);
          if (stream.writableLength > 0) await sent;
        }
        await all;
      },
      close: async () => {
        await t.close();
        await close();
        fs.closeSync(passed);
      },
    };
  },

  // 64 KiB writes of one reused buffer, honouring back-pressure; the client reads them.
  async write64k() {
    let writer;
    const accepted = new Promise((res) => {
      writer = res;
    });
    const fdPassing = impl === 'native';
    const close = await listen((s) => writer(s), { fdPassing });
    const t = impl === 'net' ? null : new UnixSocketTransport({ native: 'require' });
    const reader = await connect(t, { fdPassing });
    const stream = await accepted;
    let got = 0;
    let wanted = 0;
    let done = null;
    reader.on('data', (d) => {
      got += d.length;
      if (got === wanted) done();
    });
    return {
      async batch(count) {
        wanted += count * CHUNK.length;
        const all = new Promise((res) => {
          done = res;
        });
        for (let k = 0; k < count; k++) {
          if (!stream.write(CHUNK)) await once(stream, 'drain');
        }
        await all;
      },
      close: async () => {
        stream.destroy();
        reader.destroy();
        await t?.close();
        await close();
      },
    };
  },
};

// The caller holds our stdin open and never writes to it: EOF means it died, so go too.
// (No timer: its firings would depend on wall time, which differs between the two runs.)
if (!process.stdin.isTTY) {
  process.stdin.on('end', () => {
    console.error('instr-op: stdin closed, so its caller is gone: exiting');
    process.exit(1);
  });
  process.stdin.resume();
}

async function main() {
  const name = { connect: 'connectFresh', reuse: 'connectReuse', policy: 'connectPolicy', listen: 'listen', fds: 'fds', write64k: 'write64k' }[op];
  if (!name) throw new Error(`unknown operation ${op}`);
  const subject = await ops[name]();
  // Streaming operations go in one batch (their pipelining is part of the cost); the others
  // one after another.
  const repeat = async (count) => {
    if (subject.batch) return subject.batch(count);
    for (let i = 0; i < count; i++) await subject.run();
  };
  await repeat(warmup);
  if (mark === '--mark') {
    const go = once(process.stdin, 'data');
    process.stdout.write(`${START_MARK}\n`);
    await go;
  }
  await repeat(n);
  await subject.close();
  // Nothing else is pending; exit now rather than wait for unref'd timers or GC tasks.
  process.exit(0);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
