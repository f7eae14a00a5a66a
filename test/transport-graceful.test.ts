/**
 * Issue 17, graceful close: `close({ graceful: true, timeoutMs })` stops accepting and removes
 * the socket file at once, lets open connections end by themselves, destroys what is left at
 * the time limit, and resolves when none is left. The default close() still destroys at once.
 * Clients are real processes (test/fixtures/transport-graceful-client.js).
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectCode, type Mode, modes, nativeOption, root, runNode, start, transportsPerTest, waitForLine } from './kit';

const client = join(root, 'test', 'fixtures', 'transport-graceful-client.js');
const startClient = (path: string, role: 'upload' | 'idle' | 'probe') => start(process.execPath, [client, path, role], { timeoutMs: 20_000 });
const tick = () => new Promise((r) => setImmediate(r));

describe.each(modes)('graceful close (%s)', (mode: Mode) => {
  const native = nativeOption(mode);
  const { dir, make } = transportsPerTest({ native });

  /**
   * A server that hashes what each client sends and answers the SHA-256 once the client has
   * ended; `ended()` is when the last upload arrived whole (0: none yet).
   */
  async function hashServer(path: string) {
    const server = make({ path, allowHalfOpen: true });
    let endedAt = 0;
    server.on('connection', (socket) => {
      const hash = createHash('sha256');
      socket.on('data', (d: Buffer) => hash.update(d));
      socket.on('end', () => {
        endedAt = Date.now();
        socket.end(`${hash.digest('hex')}\n`);
      });
      socket.on('error', () => {});
    });
    await server.listen();
    return Object.assign(server, { ended: () => endedAt });
  }

  it('a connection in the middle of a transfer completes; the file is gone at once and a new client is refused', async () => {
    const path = join(dir(), 'g.sock');
    const server = await hashServer(path);
    const accepted = once(server, 'connection');
    const uploader = startClient(path, 'upload');
    await waitForLine(uploader.child, /^STARTED$/);
    await accepted;
    let closeEvent = false;
    server.on('close', () => (closeEvent = true));
    const closeStartedAt = Date.now();
    const closing = server.close({ graceful: true, timeoutMs: 15_000 });
    let closedAt = 0;
    closing.then(() => (closedAt = Date.now()));
    await tick();
    // Stopped accepting, file removed: a client that comes now finds nothing there.
    expect(existsSync(path)).toBe(false);
    const probe = await startClient(path, 'probe').done;
    expect(probe.stdout.trim()).toBe('REFUSED ENOENT');
    expect(uploader.stdout()).not.toContain('SENT'); // the transfer is still under way
    expect(server.connectionCount).toBe(1);

    const [, answer, ours] = await waitForLine(uploader.child, /^DONE (\S+) (\S+)$/);
    expect(answer).toBe(ours); // every byte arrived, and the answer came back
    await closing;
    // The close began in the middle of the upload and ended after it.
    expect(server.ended()).toBeGreaterThanOrEqual(closeStartedAt);
    expect(closedAt).toBeGreaterThanOrEqual(server.ended());
    expect(closeEvent).toBe(true);
    expect(server.connectionCount).toBe(0);
    expect((await uploader.done).code).toBe(0);
  });

  it('a connection that never ends is destroyed at the time limit, and close() resolves then', async () => {
    const path = join(dir(), 'idle.sock');
    const server = await hashServer(path);
    const accepted = once(server, 'connection');
    const idle = startClient(path, 'idle');
    await waitForLine(idle.child, /^CONNECTED$/);
    await accepted;
    const started = Date.now();
    await server.close({ graceful: true, timeoutMs: 500 });
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(480);
    expect(took).toBeLessThan(3000);
    await waitForLine(idle.child, /^CLOSED$/).catch(() => undefined);
    expect(idle.stdout()).toContain('CLOSED');
    expect((await idle.done).code).toBe(0);
  });

  it('the default close() still destroys every connection at once (the transfer is cut)', async () => {
    const path = join(dir(), 'd.sock');
    const server = await hashServer(path);
    const accepted = once(server, 'connection');
    const uploader = startClient(path, 'upload');
    await waitForLine(uploader.child, /^STARTED$/);
    await accepted;
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(2000); // no waiting: the transfer is cut, as the answer shows
    const [, answer] = await waitForLine(uploader.child, /^DONE (\S+) (\S+)$/);
    expect(answer).toBe('-');
    await uploader.done;
  });

  it('a plain close() during a graceful one destroys what is left at once (same promise)', async () => {
    const path = join(dir(), 'h.sock');
    const server = await hashServer(path);
    const accepted = once(server, 'connection');
    const idle = startClient(path, 'idle');
    await waitForLine(idle.child, /^CONNECTED$/);
    await accepted;
    const started = Date.now();
    const graceful = server.close({ graceful: true, timeoutMs: 20_000 });
    await new Promise((r) => setTimeout(r, 100));
    expect(server.close()).toBe(graceful);
    await graceful;
    expect(Date.now() - started).toBeLessThan(2000);
    await waitForLine(idle.child, /^CLOSED$/).catch(() => undefined);
    expect(idle.stdout()).toContain('CLOSED');
    await idle.done;
  });

  it('with no connection open it resolves at once, and the file is gone', async () => {
    const server = await hashServer(join(dir(), 'e.sock'));
    const started = Date.now();
    await server.close({ graceful: true });
    expect(Date.now() - started).toBeLessThan(2000); // not the 30 s limit
    expect(existsSync(server.path)).toBe(false);
  });

  it('close() options are checked strictly; a refused close() leaves the transport listening', async () => {
    const server = await hashServer(join(dir(), 'v.sock'));
    const bad: unknown[] = [
      'now',
      null,
      { gracefull: true },
      { graceful: 'yes' },
      { timeoutMs: 100 },
      { graceful: false, timeoutMs: 100 },
      { graceful: true, timeoutMs: -1 },
      { graceful: true, timeoutMs: Number.NaN },
      { graceful: true, timeoutMs: '100' },
      { graceful: true, timeoutMs: 2 ** 31 },
    ];
    for (const options of bad) await expectCode(server.close(options as never), 'ERR_INVALID_OPTION');
    expect(existsSync(server.path)).toBe(true);
    const probe = await startClient(server.path, 'probe').done;
    expect(probe.stdout.trim()).toBe('CONNECTED');
    await server.close({ graceful: false });
    expect(existsSync(server.path)).toBe(false);
  });
});

describe('graceful close of fdPassing and client connections (native)', () => {
  const { dir, make } = transportsPerTest({ native: 'require' });

  it('waits for an accepted FdStream and for a connection the transport opened itself', async () => {
    const server = make({ path: join(dir(), 'fd.sock'), fdPassing: true });
    const accepted = once(server, 'connection');
    await server.listen();
    const stream = await server.connect(server.path, { fdPassing: true }); // the same transport as client
    const [peer] = (await accepted) as [NodeJS.ReadWriteStream & { end(): void; destroyed: boolean }];
    expect(server.connectionCount).toBe(2);
    let done = false;
    const closing = server.close({ graceful: true, timeoutMs: 10_000 }).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 200));
    expect(done).toBe(false);
    // Both ends end by themselves: the close completes without reaching the limit.
    stream.end();
    stream.resume();
    peer.resume();
    await closing;
    expect(done).toBe(true);
    expect(server.connectionCount).toBe(0);
  });

  /**
   * A server process that accepts one fdPassing connection, never reads it, and closes
   * gracefully: nothing but close()'s own time limit keeps the process alive then (the FdStream
   * nobody reads has no active handle; the listener is closed). close() must settle before the
   * process exits, also when the transport was unref()'d.
   */
  const unreadServer = `
    const server = new plugsock.UnixSocketTransport({ path: process.argv[1], fdPassing: true, native: 'require' });
    // Unreferenced, the listener alone would not wait for the client: this does, until it came.
    const waiting = setInterval(() => {}, 1000);
    if (process.argv[2] === 'unref') server.unref();
    server.once('connection', () => {
      clearInterval(waiting);
      console.log('ACCEPTED ' + server.connectionCount);
      server.close({ graceful: true, timeoutMs: 1500 }).then(
        () => console.log('SETTLED ' + server.connectionCount),
        (err) => console.log('REJECTED ' + err.code),
      );
    });
    process.on('exit', (code) => console.log('EXIT ' + code));
    server.listen().then(() => console.log('LISTENING'));`;

  it.each(['ref', 'unref'])('an FdStream nobody reads: the process waits for close() to settle (transport %s)', async (how) => {
    const path = join(dir(), 'unread.sock');
    const server = runNode(unreadServer, { args: [path, how], timeoutMs: 20_000 });
    await waitForLine(server.child, /^LISTENING$/);
    const client = netConnect(path);
    client.on('error', () => {});
    try {
      const r = await server.done;
      // Before the fix: ACCEPTED, then EXIT 0 with close() still pending. SETTLED 0: the
      // connection was destroyed at the limit, and then close() resolved.
      expect(r.stdout.split('\n').filter(Boolean)).toEqual(['LISTENING', 'ACCEPTED 1', 'SETTLED 0', 'EXIT 0']);
      expect(r.signal).toBe(null);
      expect(r.code).toBe(0);
    } finally {
      client.destroy();
    }
  });
});
