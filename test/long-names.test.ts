// Socket paths that do not fit sun_path (107 bytes), through the public API: a last component
// of NAME_MAX (255) bytes, and a path of 4,000 bytes (directories of 200-byte names). In native
// mode both listen and connect, in one process and across two processes in both directions,
// plain and fdPassing; the file sits at the full path and close() removes it. Fallback mode
// cannot reach such paths and refuses them with ERR_PATH_TOO_LONG.
import { existsSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { expectCode, plugsock, removeDir, runNode, socketFilesUnder, tempDir, transportFactory, waitForLine } from './kit';

const NAME_MAX = 255;
const PATH_BYTES = 4000;

/** `<dir>/<255-byte name>`. */
function longNamePath(dir: string, tag: string): string {
  const name = `${tag}-`.padEnd(NAME_MAX - '.sock'.length, 'n') + '.sock';
  expect(Buffer.byteLength(name)).toBe(NAME_MAX);
  return join(dir, name);
}

/** A path of exactly 4,000 bytes: nested 200-byte directory names, then a name filling it up. */
function deepPath(dir: string, tag: string): string {
  let d = join(dir, tag);
  // Stop once the rest fits in one name of at most NAME_MAX bytes.
  while (Buffer.byteLength(d) + 1 + NAME_MAX < PATH_BYTES) d = join(d, 'd'.repeat(200));
  mkdirSync(d, { recursive: true, mode: 0o755 });
  const nameBytes = PATH_BYTES - Buffer.byteLength(d) - 1;
  const p = join(d, 's'.repeat(nameBytes - '.sock'.length) + '.sock');
  expect(Buffer.byteLength(p)).toBe(PATH_BYTES);
  return p;
}

const shapes: Array<[string, (dir: string, tag: string) => string]> = [
  ['a 255-byte last component', longNamePath],
  ['a 4,000-byte path', deepPath],
];

/** Server side: echo everything back. */
function echoBack(socket: Duplex): void {
  socket.on('error', () => {});
  socket.pipe(socket);
}

/** Writes `message` and resolves with what comes back once that many bytes arrived. */
function roundTrip(socket: Duplex, message: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    socket.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.length >= message.length) resolve(got);
    });
    socket.once('error', reject);
    socket.write(message);
  });
}

function expectSocketAt(path: string): void {
  expect(lstatSync(path).isSocket()).toBe(true);
}

/** Nothing left behind in the socket's directory: no socket, no `.ps-*` staging entry. */
function expectGone(path: string): void {
  expect(existsSync(path)).toBe(false);
  expect(socketFilesUnder(dirname(path))).toEqual([]);
}

let base: string;
beforeAll(() => {
  base = tempDir('plugsock-long-');
});
afterAll(() => {
  removeDir(base);
});

describe.runIf(process.platform === 'linux').each(shapes)('native mode, %s', (_label, makePath) => {
  const { make, closeAll } = transportFactory({ native: 'require' });
  let dir: string;
  let seq = 0;
  beforeAll(() => {
    dir = join(base, _label.startsWith('a 255') ? 'name' : 'deep');
    mkdirSync(dir, { mode: 0o755 });
  });
  afterEach(async () => {
    await closeAll();
  });
  const fresh = (): string => makePath(dir, `t${seq++}`);

  it('listen() and connect() in one process: bytes echo, the file is at the full path, close() removes it', async () => {
    const path = fresh();
    const server = make({ path });
    server.on('connection', echoBack);
    expect(await server.listen()).toBe(`unix:${path}`);
    expectSocketAt(path);
    expect(lstatSync(path).mode & 0o777).toBe(0o660);
    const socket = await make().connect(path);
    expect(await roundTrip(socket, 'ping')).toBe('ping');
    socket.destroy();
    await server.close();
    expectGone(path);
  });

  it('fdPassing: connect(path, { fdPassing: true }) against listen({ fdPassing: true }), one process', async () => {
    const path = fresh();
    const server = make({ path });
    server.on('connection', echoBack);
    await server.listen({ fdPassing: true });
    expectSocketAt(path);
    const stream = await make().connect(path, { fdPassing: true });
    expect(await roundTrip(stream, 'fd-ping')).toBe('fd-ping');
    stream.destroy();
    await server.close();
    expectGone(path);
  });

  for (const fdPassing of [false, true]) {
    const variant = fdPassing ? ' (fdPassing)' : '';

    it(`a child listens, this process connects${variant}; the child's close() removes the file`, async () => {
      const path = fresh();
      const { child, done } = runNode(
        `const [path, fdPassing] = process.argv.slice(1);
         const t = new plugsock.UnixSocketTransport({ path, native: 'require' });
         t.on('connection', (s) => { s.on('error', () => {}); s.pipe(s); });
         t.listen({ fdPassing: fdPassing === 'true' }).then(() => console.log('READY'), (e) => { console.log('FAILED ' + e.code + ' ' + e.message); process.exit(1); });
         process.stdin.on('end', async () => {
           await t.close();
           console.log('CLOSED ' + require('fs').existsSync(path));
         }).resume();`,
        { args: [path, String(fdPassing)] },
      );
      try {
        await waitForLine(child, /^READY$/);
        expectSocketAt(path);
        const socket = fdPassing ? await make().connect(path, { fdPassing: true }) : await make().connect(path);
        expect(await roundTrip(socket, 'to-child')).toBe('to-child');
        expect(socket.peer?.pid).toBe(child.pid);
        socket.destroy();
      } finally {
        child.stdin!.end();
      }
      const result = await done;
      expect(result.stderr).toBe('');
      expect(result.stdout).toContain('CLOSED false');
      expect(result.code).toBe(0);
      expectGone(path);
    });

    it(`this process listens, a child connects${variant}`, async () => {
      const path = fresh();
      const server = make({ path });
      server.on('connection', echoBack);
      await server.listen({ fdPassing });
      expectSocketAt(path);
      const { done } = runNode(
        `const [path, fdPassing] = process.argv.slice(1);
         const t = new plugsock.UnixSocketTransport({ native: 'require' });
         (async () => {
           const s = await t.connect(path, { fdPassing: fdPassing === 'true' });
           let got = '';
           s.on('data', (d) => {
             got += d;
             if (got.length >= 8) { console.log('ECHO ' + got + ' ' + s.peer.pid); s.destroy(); t.close(); }
           });
           s.write('to-agent');
         })().catch((e) => { console.log('FAILED ' + e.code + ' ' + e.message); process.exit(1); });`,
        { args: [path, String(fdPassing)] },
      );
      const result = await done;
      expect(result.stderr).toBe('');
      expect(result.stdout.trim()).toBe(`ECHO to-agent ${process.pid}`);
      expect(result.code).toBe(0);
      await server.close();
      expectGone(path);
    });
  }
});

describe.each(shapes)('fallback mode (native: off), %s', (label, makePath) => {
  const { make, closeAll } = transportFactory({ native: 'off' });
  let dir: string;
  beforeAll(() => {
    dir = join(base, label.startsWith('a 255') ? 'fallback-name' : 'fallback-deep');
    mkdirSync(dir, { mode: 0o755 });
  });
  afterEach(async () => {
    await closeAll();
  });

  it('listen() and connect() refuse the path with ERR_PATH_TOO_LONG and create nothing', async () => {
    const path = makePath(dir, 'f');
    const before = readdirSync(dirname(path));
    const server = make({ path });
    expect(server.socketMaker).toBe('net');
    const listenErr = await expectCode(server.listen(), 'ERR_PATH_TOO_LONG');
    expect(listenErr).toBeInstanceOf(plugsock.TransportError);
    expect(readdirSync(dirname(path))).toEqual(before);
    const connectErr = await expectCode(make().connect(path), 'ERR_PATH_TOO_LONG');
    expect(connectErr).toBeInstanceOf(plugsock.TransportError);
  });

  it.runIf(process.platform === 'linux')('refuses to connect even while a native listener serves the path', async () => {
    const path = makePath(dir, 'g');
    const server = new plugsock.UnixSocketTransport({ path, native: 'require' });
    server.on('connection', echoBack);
    await server.listen();
    try {
      await expectCode(make().connect(path), 'ERR_PATH_TOO_LONG');
    } finally {
      await server.close();
    }
    expectGone(path);
  });
});
