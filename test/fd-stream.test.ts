// fd passing on a real kernel. The cross-process tests spawn `node test/fixtures/fd-peer.mjs`
// (which loads src/*.ts through esbuild) and talk to it over a Unix socket.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync, writeFileSync, readSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Binding } from '../src/addon';
import { FdStream } from '../src/fd-stream';
import { fdKind, fdToReadStream, memfdCreate } from '../src/fd-helpers';
import { start, tempDirEach } from './kit';

const require = createRequire(import.meta.url);
const common = require('./fixtures/fd-common.js');
const binding: Binding = common.binding();
const PEER = join(__dirname, 'fixtures', 'fd-peer.mjs');

const dir = tempDirEach('plugsock-fd-');

/** An FdStream pair in this process. */
async function pair(): Promise<[FdStream, FdStream, () => Promise<void>]> {
  const sockPath = join(dir(), 'pair.sock');
  let resolveAccepted!: (fd: number) => void;
  const accepted = new Promise<number>((r) => (resolveAccepted = r));
  const server: net.Server = await common.fdServer(sockPath, resolveAccepted);
  const a = new FdStream(common.connectFd(sockPath));
  const b = new FdStream(await accepted, { allowHalfOpen: true });
  // Awaited by every test: a listener closing late would skew the next test's fd count.
  return [a, b, () => new Promise<void>((r) => server.close(() => r()))];
}

/** Destroys the streams and waits until each has closed its socket, so no close lands in a
 * later test (whose fd count it would skew). */
/** a ends; resolves once b has read to the end. */
async function endTo(a: FdStream, b: FdStream): Promise<void> {
  const ended = new Promise((r) => b.once('end', r));
  a.end();
  await ended;
}

/** The end of a two-stream test: our fd closed, both streams closed, the pair's transports stopped. */
async function finish(fd: number, a: FdStream, b: FdStream, stop: () => Promise<void>): Promise<void> {
  closeSync(fd);
  await settle(a, b);
  await stop();
}

async function settle(...streams: FdStream[]): Promise<void> {
  await Promise.all(
    streams.map((s) => {
      s.destroy();
      return s.closed ? undefined : new Promise((r) => s.once('close', r));
    }),
  );
}

/** Sends `label` with a memfd holding the same label (closed here once sent). */
function sendLabelled(stream: FdStream, label: string): Promise<void> {
  const memfd = memfdCreate(label);
  writeSync(memfd, label);
  return stream.sendFds([memfd], Buffer.from(label)).finally(() => closeSync(memfd));
}

/** What a received memfd of sendLabelled() holds. */
function labelOf(fd: number): string {
  const buf = Buffer.alloc(16);
  return buf.toString('utf8', 0, readSync(fd, buf, 0, 16, 0));
}

/** Spawns the peer fixture; resolves with the accepted FdStream and the child's JSON result. */
async function startPeer(mode: string, args: string[] = [], prefix: string[] = []) {
  const sockPath = join(dir(), `${mode}.sock`);
  let resolveAccepted!: (fd: number) => void;
  const accepted = new Promise<number>((r) => (resolveAccepted = r));
  const server: net.Server = await common.fdServer(sockPath, resolveAccepted);
  const argv = [...prefix, process.execPath, PEER, mode, sockPath, ...args];
  const { child, done } = start(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  const result = done.then(({ code, stdout }): any => {
    if (code !== 0) throw new Error(`peer ${mode} exited with ${code}: ${stdout}`);
    const lines = stdout.trim().split('\n');
    return JSON.parse(lines[lines.length - 1]);
  });
  // Half-open like the child: in the interleaving run one side finishes sending first.
  const stream = new FdStream(await accepted, { peer: { mode }, allowHalfOpen: true });
  server.close();
  return { stream, result, child };
}

function nextData(stream: FdStream, expected: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (d: Buffer) => {
      got += d.toString();
      if (got === expected) {
        stream.off('data', onData);
        resolve();
      } else if (!expected.startsWith(got)) reject(new Error(`expected ${expected}, got ${got}`));
    };
    stream.on('data', onData);
  });
}

describe('FdStream across processes', () => {
  it('passes a regular file, a pipe end, a connected socket and a memfd, which the peer uses; then 253 at once; 254 is refused', async () => {
    const { stream, result } = await startPeer('kinds');
    expect(stream.peer).toEqual({ mode: 'kinds' });

    const filePath = join(dir(), 'file');
    writeFileSync(filePath, 'file text');
    const file = openSync(filePath, 'r+');

    const fifo = join(dir(), 'fifo');
    execFileSync('mkfifo', [fifo]);
    const pipeR = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const pipeW = openSync(fifo, constants.O_WRONLY);

    const socketPath = join(dir(), 'other.sock');
    let socketSaw = '';
    const other = net.createServer((s) => {
      s.on('data', (d) => {
        socketSaw += d;
        s.write('reply from the parent');
      });
      s.on('error', () => {});
    });
    await new Promise<void>((r) => other.listen(socketPath, r));
    const sock = binding.socketConnect(socketPath);

    const memfd = memfdCreate('kinds');
    writeSync(memfd, 'memfd text');

    const pipeText = new Promise<string>((resolve) => {
      let s = '';
      const r = fdToReadStream(pipeR);
      r.on('data', (d) => (s += d));
      r.on('close', () => resolve(s));
    });

    await stream.sendFds([file, pipeW, sock, memfd], Buffer.from('four kinds'));
    // The peer has duplicates now; ours can go (the pipe must, for the reader to see EOF).
    for (const fd of [file, pipeW, sock]) closeSync(fd);

    await nextData(stream, 'ready');
    const many = Array.from({ length: 253 }, () => openSync(filePath, 'r'));
    await stream.sendFds(many, Buffer.from('many'));
    const tooMany = [...many, openSync(filePath, 'r')];
    await expect(stream.sendFds(tooMany)).rejects.toMatchObject({ code: 'ERR_TOO_MANY_FDS' });
    for (const fd of tooMany) closeSync(fd);
    stream.end();

    const r = await result;
    expect(r).toMatchObject({
      label: 'four kinds',
      kindsSeen: ['file', 'fifo', 'socket', 'file'],
      fileText: 'file text',
      socketReply: 'reply from the parent',
      memText: 'memfd text',
      manyCount: 253,
      manyInodes: 1,
    });
    expect(await pipeText).toBe('through the pipe');
    expect(socketSaw).toBe('hello over the passed socket\n');
    expect(readFileSync(filePath, 'utf8')).toBe('file text +child');
    const back = Buffer.alloc(64);
    expect(back.toString('utf8', 0, readSync(memfd, back, 0, 64, 0))).toBe('memfd text +child');
    closeSync(memfd);
    await new Promise((r) => other.close(r));
    await settle(stream);
  });

  it('interleaves 100 MB each way with 10,000 sendFds each way: every byte in order, every fd with its bytes', async () => {
    const bytes = 100 * 1024 * 1024;
    const fdCount = 10_000;
    const { stream, result } = await startPeer('interleave', [String(bytes), String(fdCount)]);
    const [sent, got] = await Promise.all([common.sendInterleaved(stream, { totalBytes: bytes, fdCount, seed: 1 }), common.receiveInterleaved(stream)]);
    const child = await result;
    expect(sent.dataBytes).toBe(bytes);
    expect(child.got).toMatchObject({ records: sent.records, dataBytes: bytes, fdsPaired: fdCount });
    expect(got).toMatchObject({ records: child.sent.records, dataBytes: bytes, fdsPaired: fdCount });
  }, 60_000);

  it('leaves fd counts unchanged in both processes after 100,000 passes, and after passes to a peer with no fds listener', async () => {
    const passes = Number(process.env.FD_PASSES ?? 100_000);
    const silent = 20_000;
    const before = common.countFds();
    const { stream, result } = await startPeer('count', [String(passes), String(silent)]);
    const fd = openSync('/dev/null', 'r');
    const sendMany = async (n: number) => {
      let batch: Promise<void>[] = [];
      for (let i = 0; i < n; i++) {
        batch.push(stream.sendFds([fd]));
        if (batch.length === 2000) {
          await Promise.all(batch);
          batch = [];
        }
      }
      await Promise.all(batch);
    };
    const ack = nextData(stream, 'A');
    await sendMany(passes);
    await ack;
    const done = nextData(stream, 'B');
    await sendMany(silent);
    await done;
    stream.end();
    const r = await result;
    closeSync(fd);
    stream.destroy();
    if (!stream.closed) await new Promise((res) => stream.once('close', res));
    expect(r).toMatchObject({ received: passes, bytes: passes + silent });
    expect(r.after).toBe(r.before);
    expect(common.countFds()).toBe(before);
  }, 60_000);

  it('a receiver at RLIMIT_NOFILE gets ERR_FDS_TRUNCATED and the connection stays usable', async () => {
    const { stream, result } = await startPeer('rlimit', [], ['prlimit', '--nofile=200:200']);
    const f1 = openSync('/dev/null', 'r');
    const f2 = openSync('/dev/null', 'r');
    await nextData(stream, 'full');
    const freed = nextData(stream, 'freed');
    await stream.sendFds([f1, f2], Buffer.from('first'));
    await freed;
    await stream.sendFds([f1, f2], Buffer.from('second'));
    stream.end();
    const r = await result;
    closeSync(f1);
    closeSync(f2);
    await settle(stream);
    expect(r).toEqual({
      truncations: [{ code: 'ERR_FDS_TRUNCATED', receivedCount: 1 }],
      datas: ['first', 'second'],
      secondFdsOk: true,
    });
  });
});

describe('FdStream batches (many messages per read wake-up)', () => {
  it('a listener that throws mid-batch: the rest of the batch still arrives, every error is reported, no fd stays open', async () => {
    const total = 100;
    const { stream, result } = await startPeer('throwing', ['5,7,60']);
    const fd = openSync('/dev/null', 'r');
    await nextData(stream, 'ready');
    const labels = Array.from({ length: total }, (_, i) => `m${String(i).padStart(3, '0')}`);
    await Promise.all(labels.map((label) => stream.sendFds([fd], Buffer.from(label))));
    stream.end();
    const r = await result;
    closeSync(fd);
    await settle(stream);
    expect(r.text).toBe(labels.join(''));
    expect({ chunks: r.labels, fdsEvents: r.fdsEvents }).toEqual({ chunks: total, fdsEvents: total });
    expect(r.errors).toEqual(['listener threw at 5', 'listener threw at 7', 'listener threw at 60']);
    expect(r.after).toBe(r.before);
  });

  it('thousands of messages waiting at once: every fd comes right before the chunk its bytes end, and one wake-up delivers at most 1,024', async () => {
    const [a, b, stop] = await pair();
    // Room for the whole burst in the socket, so that b finds it all waiting.
    binding.socketSetSendBufferSize(a.fd, 4 * 1024 * 1024);
    const total = 3000;
    let expected = '';
    let fdMessages = 0;
    const sends: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const label = `<${i}>`;
      expected += label;
      if (i % 5 === 4) {
        a.write(label); // plain bytes between fd messages: they join the next fd message's chunk
        continue;
      }
      fdMessages++;
      sends.push(sendLabelled(a, label));
    }
    await Promise.all(sends);
    // Loop iterations, counted by a chain of immediates (the check phase follows every poll).
    let iteration = 0;
    let counting = true;
    const tick = () => {
      iteration++;
      if (counting) setImmediate(tick);
    };
    setImmediate(tick);
    const fdsPerIteration = new Map<number, number>();
    let pending: number[] | null = null;
    let text = '';
    const mispaired: string[] = [];
    b.on('fds', (fds) => {
      if (pending !== null || fds.length !== 1) mispaired.push(`fds ${fds.length} with ${pending} pending`);
      pending = fds;
      fdsPerIteration.set(iteration, (fdsPerIteration.get(iteration) ?? 0) + 1);
    });
    b.on('data', (d: Buffer) => {
      const chunk = d.toString();
      text += chunk;
      if (pending === null) return;
      const label = labelOf(pending[0]);
      closeSync(pending[0]);
      pending = null;
      if (!chunk.endsWith(label)) mispaired.push(`fd of ${label} before chunk ${chunk}`);
    });
    a.end();
    await new Promise((r) => b.on('end', r));
    counting = false;
    expect(mispaired).toEqual([]);
    expect(text).toBe(expected);
    expect([...fdsPerIteration.values()].reduce((x, y) => x + y, 0)).toBe(fdMessages);
    expect(Math.max(...fdsPerIteration.values())).toBeLessThanOrEqual(1024);
    // Several wake-ups were needed: the bound held with more than a wake-up's worth waiting.
    expect(fdsPerIteration.size).toBeGreaterThan(1);
    await settle(a, b);
    await stop();
  });

  it("a 'data' listener added by an 'fds' listener mid-batch gets each later fd right before the chunk its bytes end", async () => {
    // With no 'data' listener a batch's bytes wait to go out in one chunk; the moment one is
    // added, chunks end at fd messages again, with nothing of the batch queued ahead of them.
    const [a, b, stop] = await pair();
    binding.socketSetSendBufferSize(a.fd, 4 * 1024 * 1024);
    const total = 200;
    const attachAt = 30; // inside the first wake-up's batch (64 messages)
    const labels = Array.from({ length: total }, (_, i) => `<${i}>`);
    await Promise.all(labels.map((label) => sendLabelled(a, label)));
    const got: string[] = [];
    let pending: string | null = null;
    let text = '';
    const mispaired: string[] = [];
    const onData = (d: Buffer) => {
      const chunk = d.toString();
      text += chunk;
      if (pending !== null && !chunk.endsWith(pending)) mispaired.push(`fd of ${pending} before chunk ${chunk}`);
      pending = null;
    };
    b.on('fds', (fds: number[]) => {
      const label = labelOf(fds[0]);
      closeSync(fds[0]);
      got.push(label);
      if (got.length === attachAt) b.on('data', onData);
      if (got.length < attachAt) return;
      if (pending !== null) mispaired.push(`fd of ${label} while ${pending} waited for its chunk`);
      pending = label;
    });
    b.resume(); // flowing, bytes discarded until the 'data' listener comes
    a.end();
    await new Promise((r) => b.on('end', r));
    expect(mispaired).toEqual([]);
    expect(got).toEqual(labels);
    expect(labels.join('').endsWith(text)).toBe(true);
    expect(text.endsWith(labels.slice(attachAt - 1).join(''))).toBe(true);
    await settle(a, b);
    await stop();
  });

  it("with no 'data' listener, read() gets every byte in order and every fd arrives, in order", async () => {
    const [a, b, stop] = await pair();
    binding.socketSetSendBufferSize(a.fd, 4 * 1024 * 1024);
    const labels = Array.from({ length: 500 }, (_, i) => `[${i}]`);
    let expected = '';
    const sends: Promise<void>[] = [];
    for (const [i, label] of labels.entries()) {
      expected += label;
      if (i % 7 === 3) {
        a.write(label);
        continue;
      }
      sends.push(sendLabelled(a, label));
    }
    await Promise.all(sends);
    const got: string[] = [];
    b.on('fds', (fds: number[]) => {
      got.push(labelOf(fds[0]));
      closeSync(fds[0]);
    });
    a.end();
    let text = '';
    for await (const chunk of b) text += chunk.toString();
    expect(text).toBe(expected);
    expect(got).toEqual(labels.filter((_, i) => i % 7 !== 3));
    await settle(a, b);
    await stop();
  });

  it('chunks handed out are never written to again: 16 MB kept until the end match what was sent', async () => {
    const [a, b, stop] = await pair();
    const pattern = Buffer.alloc(16 * 1024 * 1024);
    for (let i = 0; i < pattern.length; i++) pattern[i] = (i * 7 + (i >> 12)) & 255;
    const fd = openSync('/dev/null', 'r');
    const chunks: Buffer[] = [];
    b.on('data', (d: Buffer) => chunks.push(d));
    b.on('fds', (fds) => {
      for (const f of fds) closeSync(f);
    });
    // Large writes (read straight into Buffers that are handed over) and small fd messages
    // (which end a read early: small batches are copied out of a Buffer that is read into again).
    let off = 0;
    for (let k = 0; off < pattern.length; k++) {
      const part = pattern.subarray(off, Math.min(off + (k % 2 ? 300 : 150_000), pattern.length));
      off += part.length;
      if (k % 2) await a.sendFds([fd], part);
      else if (!a.write(part)) await new Promise((r) => a.once('drain', r));
    }
    await endTo(a, b);
    expect(Buffer.concat(chunks).equals(pattern)).toBe(true);
    await finish(fd, a, b, stop);
  });

  it('a writer that met a full socket leaves no writable poll armed once it is done (the loop goes idle)', async () => {
    const [a, b, stop] = await pair();
    b.on('data', () => {});
    a.on('data', () => {}); // a reads too: its poll stays armed, for reading
    for (let i = 0; i < 40; i++) if (!a.write(Buffer.alloc(256 * 1024))) await new Promise((r) => a.once('drain', r));
    await new Promise((r) => setTimeout(r, 100));
    const before = process.cpuUsage();
    await new Promise((r) => setTimeout(r, 300));
    const used = process.cpuUsage(before);
    // A poll left armed for writing on a writable socket would report it on every iteration.
    expect((used.user + used.system) / 1000).toBeLessThan(100);
    await settle(a, b);
    await stop();
  });

  it("FdChannel write() finds its channel by id: any other number, or a closed channel's id, is EBADF", async () => {
    const sockPath = join(dir(), 'ids.sock');
    let resolveAccepted!: (fd: number) => void;
    const accepted = new Promise<number>((r) => (resolveAccepted = r));
    const server: net.Server = await common.fdServer(sockPath, resolveAccepted);
    const ch = new binding.FdChannel(common.connectFd(sockPath), () => {});
    const peer = new binding.FdChannel(await accepted, () => {});
    const data = Buffer.from('x');
    expect(ch.write(ch.id, data)).toBe(1);
    expect(peer.write(peer.id, data)).toBe(1);
    expect(ch.id).not.toBe(peer.id);
    // The next generation of ch's slot, and numbers that are no id at all.
    for (const bad of [ch.id + 2 ** 22, -1, 0.5, 2 ** 60, Number.NaN, '1' as unknown as number]) {
      expect(() => ch.write(bad, data)).toThrow(expect.objectContaining({ code: 'EBADF', syscall: 'sendmsg' }));
    }
    peer.close();
    expect(() => peer.write(peer.id, data)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    ch.close();
    expect(() => ch.write(ch.id, data)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    await new Promise<void>((r) => server.close(() => r()));
  });
});

describe('FdStream in one process', () => {
  it('a sendFds that meets a full socket (EAGAIN) is retried whole: its fd arrives once, with its bytes, in order', async () => {
    const [a, b, stop] = await pair();
    const big = Buffer.alloc(8 * 1024 * 1024, 7);
    const memfd = memfdCreate('eagain');
    writeSync(memfd, 'marker');
    a.write(big); // far beyond the socket buffer: the stream is now waiting for 'writable'
    const sent = a.sendFds([memfd], Buffer.from('FD'));
    a.write('tail');
    a.end();
    const fdsSeen: number[][] = [];
    let total = 0;
    let fdAt = -1;
    let chunkWithFds: Buffer | null = null;
    let nextIsFdChunk = false;
    b.on('fds', (fds) => {
      fdsSeen.push(fds);
      fdAt = total;
      nextIsFdChunk = true;
    });
    const parts: Buffer[] = [];
    b.on('data', (d: Buffer) => {
      if (nextIsFdChunk) chunkWithFds = d;
      nextIsFdChunk = false;
      parts.push(d);
      total += d.length;
    });
    await new Promise((r) => b.on('end', r));
    await sent;
    const all = Buffer.concat(parts);
    expect(all.length).toBe(big.length + 6);
    expect(all.subarray(big.length).toString()).toBe('FDtail');
    expect(fdsSeen.length).toBe(1);
    // The chunk after 'fds' holds the payload's first byte and nothing written after it.
    expect(fdAt).toBeLessThanOrEqual(big.length);
    expect(fdAt + chunkWithFds!.length).toBeGreaterThan(big.length);
    expect(fdAt + chunkWithFds!.length).toBeLessThanOrEqual(big.length + 2);
    const got = Buffer.alloc(16);
    expect(got.toString('utf8', 0, readSync(fdsSeen[0][0], got, 0, 16, 0))).toBe('marker');
    closeSync(fdsSeen[0][0]);
    closeSync(memfd);
    await settle(a, b);
    await stop();
  });

  it('EBADF for a closed or invalid fd rejects that call only; the stream goes on', async () => {
    const [a, b, stop] = await pair();
    const fd = openSync('/dev/null', 'r');
    closeSync(fd);
    const fdsEvents: number[][] = [];
    b.on('fds', (fds) => fdsEvents.push(fds));
    let text = '';
    b.on('data', (d) => (text += d));
    a.write('before ');
    await expect(a.sendFds([fd], Buffer.from('lost '))).rejects.toMatchObject({ code: 'EBADF' });
    await expect(a.sendFds([1 << 30])).rejects.toMatchObject({ code: 'EBADF' });
    await expect(a.sendFds([-1])).rejects.toMatchObject({ code: 'EBADF' });
    // Queued behind other writes (the Writable path, not the direct one): same outcome.
    a.cork();
    a.write('x');
    const queued = a.sendFds([fd], Buffer.from('lost too '));
    a.write('y ');
    a.uncork();
    await expect(queued).rejects.toMatchObject({ code: 'EBADF' });
    a.end('after');
    await new Promise((r) => b.on('end', r));
    expect(text).toBe('before xy after');
    expect(fdsEvents).toEqual([]);
    await settle(a, b);
    await stop();
  });

  it('closes received fds when nobody listens for them, and refuses a 254th fd', async () => {
    const [a, b, stop] = await pair();
    const fd = openSync('/dev/null', 'r');
    const before = common.countFds();
    const chunks: Buffer[] = [];
    b.on('data', (d) => chunks.push(d));
    for (let i = 0; i < 50; i++) await a.sendFds(Array(253).fill(fd), Buffer.from('x'));
    await expect(a.sendFds(Array(254).fill(fd))).rejects.toMatchObject({ code: 'ERR_TOO_MANY_FDS' });
    await endTo(a, b);
    expect(Buffer.concat(chunks).toString()).toBe('x'.repeat(50));
    expect(common.countFds()).toBe(before);
    await finish(fd, a, b, stop);
  });

  it('half-closes on end(): the peer reads EOF and can still answer', async () => {
    const [a, b, stop] = await pair();
    b.on('data', () => {});
    b.on('end', () => b.end('answer after EOF'));
    a.end('question');
    let answer = '';
    a.on('data', (d) => (answer += d));
    await new Promise((r) => a.on('close', r));
    expect(answer).toBe('answer after EOF');
    expect(a.fd).toBe(-1);
    await settle(a, b);
    await stop();
  });

  it('destroy() rejects a sendFds still waiting for the socket to drain, and closes the socket', async () => {
    const [a, b, stop] = await pair();
    const fd = openSync('/dev/null', 'r');
    a.write(Buffer.alloc(8 * 1024 * 1024));
    const p = a.sendFds([fd]);
    a.destroy();
    await expect(p).rejects.toMatchObject({ code: 'ERR_STREAM_DESTROYED' });
    expect(a.fd).toBe(-1);
    // The peer sees EOF: the socket really was closed.
    await new Promise((r) => b.on('end', r).resume());
    await settle(a, b);
    closeSync(fd);
    await stop();
  });

  it('fdKind tells the kinds apart', () => {
    const memfd = memfdCreate('k');
    expect(fdKind(memfd)).toBe('file');
    closeSync(memfd);
  });
});
