import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, symlinkSync, writeFileSync, readFileSync, statSync, chmodSync } from 'node:fs';
import { createConnection } from 'node:net';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  cannotRun,
  expectCode,
  isRoot,
  type Mode,
  modes,
  nativeOption,
  NOBODY,
  openFdCount,
  plugsock,
  runNode,
  socketFilesUnder,
  tempDirEach,
  transportsPerTest,
  waitForLine,
} from './kit';
import { until } from './kit/processes';

const { UnixSocketTransport, TransportError, ConnectionTimeoutError } = plugsock;

/** A child that listens on `path` with plain net and prints READY; killed with SIGKILL it leaves a stale socket. */
function childServer(path: string) {
  return runNode(`
    const net = require('net');
    const s = net.createServer((c) => { c.on('error', () => {}); c.end('child'); });
    s.listen(${JSON.stringify(path)}, () => console.log('READY ' + process.pid));
  `);
}

async function makeStaleSocket(path: string): Promise<void> {
  const { child, done } = childServer(path);
  await waitForLine(child, /^READY/);
  child.kill('SIGKILL');
  await done;
  expect(lstatSync(path).isSocket()).toBe(true);
}

/** Server side of most tests: answer and close; a probe that hung up already is not an error. */
function reply(socket: import('node:net').Socket, message?: string): void {
  socket.on('error', () => {});
  if (message === undefined) socket.end();
  else socket.end(message);
}

function echo(socket: import('node:net').Socket, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    socket.on('data', (d) => {
      got += d;
      if (got.length >= message.length) resolve(got);
    });
    socket.on('error', reject);
    socket.write(message);
  });
}

describe.each(modes)('UnixSocketTransport (%s)', (mode: Mode) => {
  const native = nativeOption(mode);
  const { dir, make } = transportsPerTest({ native });

  it('uses the requested socket maker', () => {
    expect(make().socketMaker).toBe(mode);
  });

  it('generates a private path under os.tmpdir(), reports the endpoint, and removes both on close', async () => {
    const server = make();
    expect(server.path).toMatch(/\/plugsock-[^/]+\/plugsock\.sock$/);
    expect(server.endpoint).toBeNull();
    expect(existsSync(dirname(server.path))).toBe(false); // no side effect before listen()
    server.on('connection', (s) => s.on('error', () => {}).pipe(s));
    const endpoint = await server.listen();
    expect(endpoint).toBe(`unix:${server.path}`);
    expect(server.endpoint).toBe(endpoint);
    expect(statSync(dirname(server.path)).mode & 0o777).toBe(0o710);
    const client = make();
    const socket = await client.connect(endpoint);
    expect(await echo(socket, 'ping')).toBe('ping');
    await client.close();
    await server.close();
    expect(existsSync(server.path)).toBe(false);
    expect(existsSync(dirname(server.path))).toBe(false);
    // (Not a global count of plugsock-* directories: other test files run in parallel.)
  });

  it('accepts every endpoint form for connect()', async () => {
    const path = join(dir(), 'forms.sock');
    const server = make({ path: `unix://${path.slice(1)}` });
    expect(server.path).toBe(path);
    server.on('connection', (s) => reply(s, 'hi'));
    await server.listen();
    for (const form of [path, `unix:${path}`, `unix://${path.slice(1)}`, `unix:///${path.slice(1)}`, `//${path.slice(1).replace('/', '//')}`]) {
      const s = await make().connect(form);
      s.destroy();
    }
  });

  for (const umask of [0o000, 0o022, 0o077]) {
    for (const wanted of [0o660, 0o600, 0o666]) {
      it(`socket mode is exactly ${wanted.toString(8)} under umask ${umask.toString(8).padStart(3, '0')}`, async () => {
        const path = join(dir(), 'm.sock');
        const { child, done } = runNode(`
          process.umask(${umask});
          const t = new plugsock.UnixSocketTransport({ path: ${JSON.stringify(path)}, mode: ${wanted}, native: ${JSON.stringify(native)} });
          t.listen().then(() => {
            const mode = require('fs').statSync(${JSON.stringify(path)}).mode & 0o777;
            console.log('MODE ' + mode.toString(8));
            return t.close();
          });
        `);
        const [, seen] = await waitForLine(child, /^MODE (\d+)/);
        await done;
        expect(seen).toBe(wanted.toString(8));
      });
    }
  }

  it('never shows the socket file with a wider mode than requested (watcher racing listen)', async () => {
    const path = join(dir(), 'race.sock');
    // The watcher polls lstat as fast as it can in another process and reports every mode it sees.
    const watcher = runNode(`
      const fs = require('fs');
      const seen = new Set();
      const end = Date.now() + 60000;
      process.stdin.on('data', () => { console.log('SEEN ' + [...seen].join(',')); process.exit(0); });
      console.log('WATCHING');
      (function loop() {
        for (let i = 0; i < 2000; i++) {
          try { seen.add((fs.lstatSync(${JSON.stringify(path)}).mode & 0o777).toString(8)); } catch {}
        }
        if (Date.now() < end) setImmediate(loop);
      })();
    `);
    await waitForLine(watcher.child, /^WATCHING/);
    const { done } = runNode(`
      process.umask(0);
      (async () => {
        for (let i = 0; i < 150; i++) {
          const t = new plugsock.UnixSocketTransport({ path: ${JSON.stringify(path)}, mode: 0o600, native: ${JSON.stringify(native)} });
          await t.listen();
          await t.close();
        }
        console.log('DONE');
      })();
    `);
    const result = await done;
    expect(result.stdout).toContain('DONE');
    watcher.child.stdin!.write('report\n');
    const [, seen] = await waitForLine(watcher.child, /^SEEN (.*)$/);
    await watcher.done;
    expect(seen).toBe('600');
  });

  it('removes a stale socket left by a killed server and binds', async () => {
    const path = join(dir(), 'stale.sock');
    await makeStaleSocket(path);
    const staleIno = lstatSync(path).ino;
    const server = make({ path });
    server.on('connection', (s) => reply(s, 'new'));
    await server.listen();
    expect(lstatSync(path).ino).not.toBe(staleIno);
    const s = await make().connect(path);
    expect(await new Promise((r) => s.once('data', (d) => r(String(d))))).toBe('new');
  });

  it('refuses a live socket with ERR_ADDRESS_IN_USE and leaves it untouched', async () => {
    const path = join(dir(), 'live.sock');
    const { child, done } = childServer(path);
    await waitForLine(child, /^READY/);
    const ino = lstatSync(path).ino;
    const err = await expectCode(make({ path }).listen(), 'ERR_ADDRESS_IN_USE');
    expect(err).toBeInstanceOf(TransportError);
    expect(err.message).toContain(path);
    expect(lstatSync(path).ino).toBe(ino);
    const s = await make().connect(path);
    expect(await new Promise((r) => s.once('data', (d) => r(String(d))))).toBe('child');
    child.kill();
    await done;
  });

  it.each(['regular file', 'directory', 'fifo', 'symlink to a socket', 'symlink to a file'])(
    'refuses a %s at the path with ERR_NOT_A_SOCKET and deletes nothing',
    async (kind) => {
      const path = join(dir(), 'thing');
      if (kind === 'regular file') writeFileSync(path, 'keep me');
      if (kind === 'directory') mkdirSync(path);
      if (kind === 'fifo') execFileSync('mkfifo', [path]);
      if (kind === 'symlink to a file') {
        writeFileSync(join(dir(), 'target'), 'keep me');
        symlinkSync(join(dir(), 'target'), path);
      }
      if (kind === 'symlink to a socket') {
        await makeStaleSocket(join(dir(), 'target.sock'));
        symlinkSync(join(dir(), 'target.sock'), path);
      }
      const before = lstatSync(path);
      await expectCode(make({ path }).listen(), 'ERR_NOT_A_SOCKET');
      const after = lstatSync(path);
      expect(after.ino).toBe(before.ino);
      expect(after.mode).toBe(before.mode);
      if (kind === 'regular file') expect(readFileSync(path, 'utf8')).toBe('keep me');
      expect(socketFilesUnder(dir()).filter((p) => p.includes('.ps-'))).toEqual([]);
    },
  );

  it('lets exactly one of two processes claim the same stale path, and the winner stays connectable', async () => {
    for (let round = 0; round < 5; round++) {
      const path = join(dir(), `contest-${round}.sock`);
      await makeStaleSocket(path);
      const script = `
        const t = new plugsock.UnixSocketTransport({ path: ${JSON.stringify(path)}, native: ${JSON.stringify(native)} });
        t.on('connection', (s) => { s.on('error', () => {}); s.end('winner ' + process.pid); });
        process.stdin.once('data', () => t.listen().then(
          () => console.log('WON'),
          (e) => { console.log('LOST ' + e.code); t.close(); },
        ));
        process.stdin.on('end', () => t.close());
        console.log('READY');
      `;
      const a = runNode(script);
      const b = runNode(script);
      await Promise.all([waitForLine(a.child, /^READY/), waitForLine(b.child, /^READY/)]);
      a.child.stdin!.write('go\n');
      b.child.stdin!.write('go\n');
      const results = await Promise.all([waitForLine(a.child, /^(WON|LOST .*)$/), waitForLine(b.child, /^(WON|LOST .*)$/)]);
      const outcomes = results.map((m) => m[1]).sort();
      expect(outcomes).toEqual(['LOST ERR_ADDRESS_IN_USE', 'WON']);
      const winner = results[0][1] === 'WON' ? a.child : b.child;
      const s = await make().connect(path);
      const reply = await new Promise<string>((r) => s.once('data', (d) => r(String(d))));
      expect(reply).toBe(`winner ${winner.pid}`);
      a.child.stdin!.end();
      b.child.stdin!.end();
      await Promise.all([a.done, b.done]);
    }
  });

  it('close() leaves alone a file that another process put at the path since', async () => {
    const path = join(dir(), 'replaced.sock');
    const server = make({ path });
    await server.listen();
    // Someone removes our socket and puts their own live one there.
    execFileSync('rm', [path]);
    const { child, done } = childServer(path);
    await waitForLine(child, /^READY/);
    const theirs = lstatSync(path).ino;
    await server.close();
    expect(lstatSync(path).ino).toBe(theirs);
    child.kill();
    await done;
  });

  it('close() is idempotent, concurrent-safe and fine before listen()', async () => {
    const t = make({ path: join(dir(), 'idem.sock') });
    await Promise.all([t.close(), t.close()]);
    await t.close();
    await expectCode(t.listen(), 'ERR_TRANSPORT_CLOSED');
    await expectCode(t.connect(), 'ERR_TRANSPORT_CLOSED');

    const u = make({ path: join(dir(), 'idem2.sock') });
    await u.listen();
    let closes = 0;
    u.on('close', () => closes++);
    await Promise.all([u.close(), u.close(), u.close()]);
    expect(closes).toBe(1);
    expect(existsSync(u.path)).toBe(false);
  });

  it('close() during listen() leaves nothing behind', async () => {
    const path = join(dir(), 'early.sock');
    const t = make({ path });
    const listening = t.listen();
    const closing = t.close();
    await expectCode(listening, 'ERR_TRANSPORT_CLOSED');
    await closing;
    expect(existsSync(path)).toBe(false);
    expect(socketFilesUnder(dir())).toEqual([]);
  });

  it('close() closes live connections on both sides', async () => {
    const server = make({ path: join(dir(), 'conns.sock') });
    const accepted: Array<import('node:net').Socket> = [];
    server.on('connection', (s) => accepted.push(s));
    await server.listen();
    const client = make();
    const sockets = await Promise.all([1, 2, 3].map(() => client.connect(server.path)));
    await new Promise((r) => setTimeout(r, 50));
    expect(server.connectionCount).toBe(3);
    const ended = sockets.map((s) => new Promise((r) => s.once('close', r)));
    await server.close();
    await Promise.all(ended);
    expect(accepted.every((s) => s.destroyed)).toBe(true);
  });

  it('close() ends every connection still open, on both sides, whichever closed before it (the newest, two neighbours between, the oldest)', async () => {
    const server = make({ path: join(dir(), 'some-closed.sock') });
    const accepted: Array<import('node:net').Socket> = [];
    server.on('connection', (s) => {
      s.on('error', () => {});
      accepted.push(s);
    });
    await server.listen();
    const client = make();
    const sockets: Array<import('node:net').Socket> = [];
    for (let i = 0; i < 6; i++) {
      sockets.push(await client.connect(server.path));
      await until(() => accepted.length === i + 1);
    }
    // Closed from the client (accepted in the same order), one at a time: the newest, one
    // between, then its older neighbour, then the oldest.
    for (const i of [5, 3, 2, 0]) {
      const left = server.connectionCount - 1;
      sockets[i]!.destroy();
      await until(() => server.connectionCount === left);
    }
    expect(client.connectionCount).toBe(2);
    const open = [1, 4];
    await server.close();
    await until(() => open.every((i) => sockets[i]!.closed), 5000);
    expect(open.map((i) => accepted[i]!.destroyed)).toEqual([true, true]);
    await until(() => server.connectionCount === 0); // each leaves the count at its 'close'
    // And the client's own close() ends what it still tracks (the sockets the server closed).
    const more = make({ path: join(dir(), 'some-closed-2.sock') });
    await more.listen();
    const mine = [];
    for (let i = 0; i < 4; i++) mine.push(await client.connect(more.path));
    mine[3]!.destroy();
    mine[1]!.destroy();
    await until(() => client.connectionCount === 2);
    await client.close();
    await until(() => client.connectionCount === 0, 5000);
    expect([mine[0]!.destroyed, mine[2]!.destroyed]).toEqual([true, true]);
    await more.close();
  });

  it('connect() with onread delivers every byte into one reused buffer, without data events', async () => {
    const path = join(dir(), 'onread.sock');
    const server = make({ path });
    const total = 8 * 1024 * 1024;
    server.on('connection', (s) => {
      s.on('error', () => {});
      const chunk = Buffer.alloc(64 * 1024);
      let sent = 0;
      const pump = () => {
        while (sent < total) {
          for (let i = 0; i < chunk.length; i++) chunk[i] = (sent + i) & 0xff;
          sent += chunk.length;
          if (!s.write(Buffer.from(chunk))) return void s.once('drain', pump);
        }
        s.end();
      };
      pump();
    });
    await server.listen();
    const buffer = Buffer.alloc(16 * 1024);
    const buffersSeen = new Set<Uint8Array>();
    let received = 0;
    let corrupt = 0;
    let dataEvents = 0;
    const socket = await make().connect(path, {
      onread: {
        buffer,
        callback: (n, buf) => {
          buffersSeen.add(buf);
          for (let i = 0; i < n; i++) if (buf[i] !== ((received + i) & 0xff)) corrupt++;
          received += n;
          return true;
        },
      },
    });
    socket.on('data', () => dataEvents++);
    await new Promise((r) => socket.once('end', r));
    expect(received).toBe(total);
    expect(corrupt).toBe(0);
    expect(dataEvents).toBe(0);
    expect([...buffersSeen]).toEqual([buffer]);
  });

  it('connect() rejects a malformed onread with ERR_INVALID_OPTION', async () => {
    await expectCode(make().connect(join(dir(), 'x.sock'), { onread: { buffer: Buffer.alloc(1) } as never }), 'ERR_INVALID_OPTION');
  });

  it('connect() waits for a server that starts later', async () => {
    const path = join(dir(), 'later.sock');
    const client = make({ connectTimeoutMs: 5000 });
    const connecting = client.connect(path);
    await new Promise((r) => setTimeout(r, 300));
    const server = make({ path });
    server.on('connection', (s) => reply(s, 'late'));
    await server.listen();
    const s = await connecting;
    expect(await new Promise((r) => s.once('data', (d) => r(String(d))))).toBe('late');
  });

  it('connect() times out with ConnectionTimeoutError naming the path and what it saw', async () => {
    const missing = join(dir(), 'missing.sock');
    const err = await expectCode(make({ connectTimeoutMs: 200 }).connect(missing), 'ERR_CONNECT_TIMEOUT');
    expect(err).toBeInstanceOf(ConnectionTimeoutError);
    expect(err).toBeInstanceOf(TransportError);
    expect(err.message).toContain(missing);
    expect(err.message).toContain('missing');
    expect((err as unknown as { lastSeen: string }).lastSeen).toBe('missing');

    const stale = join(dir(), 'refusing.sock');
    await makeStaleSocket(stale);
    const err2 = await expectCode(make({ connectTimeoutMs: 200 }).connect(stale), 'ERR_CONNECT_TIMEOUT');
    expect((err2 as unknown as { lastSeen: string }).lastSeen).toBe('refused');
    expect(err2.message).toContain('refusing');
  });

  it('connect() fails at once with ERR_NOT_A_SOCKET for a regular file', async () => {
    const path = join(dir(), 'file');
    writeFileSync(path, 'x');
    const started = Date.now();
    await expectCode(make({ connectTimeoutMs: 5000 }).connect(path), 'ERR_NOT_A_SOCKET');
    expect(Date.now() - started).toBeLessThan(2000);
    expect(readFileSync(path, 'utf8')).toBe('x');
  });

  it('connect() fails at once with ERR_PERMISSION when another user may not connect', async () => {
    if (!isRoot && cannotRun('needs root to run a child as another user')) return;
    const path = join(dir(), 'private.sock');
    const server = make({ path, mode: 0o600 });
    await server.listen();
    const { done } = runNode(
      `
      const t = new plugsock.UnixSocketTransport({ native: ${JSON.stringify(native)}, connectTimeoutMs: 5000 });
      const started = Date.now();
      t.connect(${JSON.stringify(path)}).then(
        () => console.log('CONNECTED'),
        (e) => console.log('ERR ' + e.code + ' ' + (Date.now() - started)),
      );
    `,
      { uid: NOBODY.uid, gid: NOBODY.gid },
    );
    const result = await done;
    const m = result.stdout.match(/ERR (\S+) (\d+)/);
    expect(m, result.stdout + result.stderr).not.toBeNull();
    expect(m![1]).toBe('ERR_PERMISSION');
    expect(Number(m![2])).toBeLessThan(2000);
  });

  it('refuses a directory that is world-writable without the sticky bit', async () => {
    const open777 = join(dir(), 'open');
    mkdirSync(open777);
    chmodSync(open777, 0o777);
    await expectCode(make({ path: join(open777, 'a.sock') }).listen(), 'ERR_INSECURE_DIRECTORY');
  });

  it('gives ERR_INVALID_PATH when the directory does not exist', async () => {
    const err = await expectCode(make({ path: join(dir(), 'nope', 'a.sock') }).listen(), 'ERR_INVALID_PATH');
    expect(err.message).toContain('does not exist');
  });

  it('refuses a second listen() on the same transport', async () => {
    const t = make({ path: join(dir(), 'twice.sock') });
    await t.listen();
    await expectCode(t.listen(), 'ERR_INVALID_STATE');
  });

  it('leaks no fds, socket files or listeners over 1,000 listen/connect/close cycles', async () => {
    const path = join(dir(), 'cycle.sock');
    const warm = make({ path });
    await warm.listen();
    await (await make().connect(path)).destroy();
    await warm.close();
    const fdsBefore = openFdCount();
    const exitListeners = process.listenerCount('exit');
    for (let i = 0; i < 1000; i++) {
      const server = new UnixSocketTransport({ path, native });
      server.on('connection', (s) => reply(s));
      await server.listen();
      const client = new UnixSocketTransport({ native });
      const s = await client.connect(path);
      await new Promise((r) => s.once('close', r).resume());
      await client.close();
      await server.close();
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(openFdCount()).toBe(fdsBefore);
    expect(socketFilesUnder(dir())).toEqual([]);
    expect(process.listenerCount('exit')).toBe(exitListeners);
  });

  it('removes its socket file when the process exits normally without close()', async () => {
    const path = join(dir(), 'exit.sock');
    const { done } = runNode(`
      const t = new plugsock.UnixSocketTransport({ path: ${JSON.stringify(path)}, native: ${JSON.stringify(native)} });
      t.listen().then(() => { console.log('LISTENING'); process.exit(0); });
    `);
    const result = await done;
    expect(result.stdout).toContain('LISTENING');
    expect(existsSync(path)).toBe(false);
  });
});

describe('path length', () => {
  const dir = tempDirEach();

  function longDir(): string {
    let d = dir();
    while (Buffer.byteLength(d) < 120) d = join(d, 'a-fairly-long-directory-name');
    mkdirSync(d, { recursive: true });
    return d;
  }

  it('native mode binds and connects a path over 107 bytes at the full path', async () => {
    const path = join(longDir(), 'long.sock');
    expect(Buffer.byteLength(path)).toBeGreaterThan(107);
    const server = new UnixSocketTransport({ path, native: 'require' });
    server.on('connection', (s) => reply(s, 'long'));
    expect(await server.listen()).toBe(`unix:${path}`);
    expect(lstatSync(path).isSocket()).toBe(true);
    const client = new UnixSocketTransport({ native: 'require' });
    const s = await client.connect(path);
    expect(await new Promise((r) => s.once('data', (d) => r(String(d))))).toBe('long');
    // A plain net client cannot reach it (it would truncate): proof the file is really at the long path.
    await client.close();
    await server.close();
    expect(existsSync(path)).toBe(false);
  });

  it('fallback mode refuses a path over 107 bytes with ERR_PATH_TOO_LONG naming the sizes', async () => {
    const path = join(longDir(), 'long.sock');
    const bytes = Buffer.byteLength(path);
    const server = new UnixSocketTransport({ path, native: 'off' });
    const err = await expectCode(server.listen(), 'ERR_PATH_TOO_LONG');
    expect(err.message).toContain(`${bytes} bytes`);
    expect(err.message).toContain('107');
    const err2 = await expectCode(new UnixSocketTransport({ native: 'off' }).connect(path), 'ERR_PATH_TOO_LONG');
    expect(err2.message).toContain(`${bytes} bytes`);
    expect(socketFilesUnder(dir())).toEqual([]);
    // net itself would have bound a truncated name somewhere: make sure nothing like that exists.
    expect(createConnection).toBeTypeOf('function');
  });
});

describe('options', () => {
  it.each([
    [{ mode: 0o1777 }, 'mode'],
    [{ mode: -1 }, 'mode'],
    [{ connectTimeoutMs: -5 }, 'connectTimeoutMs'],
    [{ native: 'maybe' }, 'native'],
    [{ peer: { uids: ['root'] } }, 'peer.uids'],
    [{ backlog: 0 }, 'backlog'],
  ])('rejects %j with ERR_INVALID_OPTION', (options, word) => {
    expect(() => new UnixSocketTransport(options as never)).toThrow(word);
    try {
      new UnixSocketTransport(options as never);
    } catch (err) {
      expect((err as { code: string }).code).toBe('ERR_INVALID_OPTION');
    }
  });
});
