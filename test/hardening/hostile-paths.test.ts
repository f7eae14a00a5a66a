/**
 * Hostile input: a table of bad socket paths. Every case must end in a TransportError with a
 * specific code, and the directory tree (names, inodes, modes, owners, sizes) must be exactly as
 * it was: nothing deleted, replaced, chmod-ed or left behind (no staging directories).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRoot, type Mode, modes, nativeOption, NOBODY, plugsock, removeDir, runNode, snapshotTree, tempDir } from '../kit';

const { UnixSocketTransport, TransportError } = plugsock;

let root: string;
const cleanups: Array<() => void> = [];
beforeAll(() => {
  root = tempDir('plugsock-hostile-');
});
afterAll(() => {
  for (const c of cleanups.splice(0)) c();
  removeDir(root);
});

/** A live plain-net server at `path` in this process (closed after the tests). */
async function liveSocket(path: string): Promise<void> {
  const s = net.createServer((c) => c.destroy());
  await new Promise<void>((r) => s.listen(path, r));
  cleanups.push(() => s.close());
}

/** A dead socket file at `path` (bound, then the fd closed without unlinking). */
function deadSocket(path: string): void {
  spawnSync(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(path)},()=>process.kill(process.pid,'SIGKILL'))`], {
    stdio: 'ignore',
  });
  if (!lstatSync(path).isSocket()) throw new Error(`could not make a dead socket at ${path}`);
}

interface Case {
  name: string;
  /** Builds the situation inside `dir`; returns the path (or endpoint string) to use. */
  setup(dir: string): string | Promise<string>;
  listen: string | null;
  connect: string | null;
  /** Only in this mode. */
  only?: Mode;
  /** Run the attempt in a child process as `nobody` (when root). */
  asNobody?: boolean;
}

const long = (dir: string) => join(dir, 'x'.repeat(120) + '.sock');

const cases: Case[] = [
  { name: 'empty string', setup: () => '', listen: 'ERR_INVALID_PATH', connect: 'ERR_INVALID_PATH' },
  { name: 'unix: with nothing after it', setup: () => 'unix:', listen: 'ERR_INVALID_PATH', connect: 'ERR_INVALID_PATH' },
  { name: 'NUL byte', setup: (d) => join(d, 'a\0b.sock'), listen: 'ERR_INVALID_PATH', connect: 'ERR_INVALID_PATH' },
  // An abstract address has no file and no mode: native mode takes it only with a peer policy
  // (these cases have none), fallback mode not at all (test/abstract.test.ts serves one).
  {
    name: 'abstract name (leading NUL), no peer policy',
    setup: () => '\0abstract',
    listen: 'ERR_INVALID_OPTION',
    connect: 'ERR_INVALID_OPTION',
    only: 'native',
  },
  { name: 'abstract name (leading NUL), fallback mode', setup: () => '\0abstract', listen: 'ERR_NATIVE_REQUIRED', connect: 'ERR_NATIVE_REQUIRED', only: 'net' },
  { name: 'relative path', setup: () => 'relative.sock', listen: 'ERR_INVALID_PATH', connect: 'ERR_INVALID_PATH' },
  { name: 'relative after unix:', setup: () => 'unix:relative.sock', listen: 'ERR_INVALID_PATH', connect: 'ERR_INVALID_PATH' },
  { name: 'names a directory (trailing slash)', setup: (d) => d + '/', listen: 'ERR_INVALID_PATH', connect: 'ERR_INVALID_PATH' },
  { name: 'over the sun_path limit in fallback mode', setup: long, listen: 'ERR_PATH_TOO_LONG', connect: 'ERR_PATH_TOO_LONG', only: 'net' },
  { name: 'missing parent directory', setup: (d) => join(d, 'nope', 'a.sock'), listen: 'ERR_INVALID_PATH', connect: 'ERR_CONNECT_TIMEOUT' },
  {
    name: 'parent is a regular file',
    setup: (d) => {
      writeFileSync(join(d, 'file'), 'keep');
      return join(d, 'file', 'a.sock');
    },
    listen: 'ERR_INVALID_PATH',
    connect: 'ERR_SOCKET_NOT_FOUND', // ENOTDIR: waiting cannot help
  },
  {
    name: 'parent not writable',
    setup: (d) => {
      const p = join(d, 'ro');
      mkdirSync(p);
      chmodSync(p, isRoot ? 0o755 : 0o555); // as root the attempt runs as nobody
      return join(p, 'a.sock');
    },
    listen: 'ERR_PERMISSION',
    connect: null,
    asNobody: true,
  },
  {
    name: 'path is a directory',
    setup: (d) => {
      mkdirSync(join(d, 'dir'));
      writeFileSync(join(d, 'dir', 'inside'), 'keep');
      return join(d, 'dir');
    },
    listen: 'ERR_NOT_A_SOCKET',
    connect: 'ERR_NOT_A_SOCKET',
  },
  {
    name: 'path is a regular file',
    setup: (d) => {
      writeFileSync(join(d, 'file.sock'), 'keep me');
      return join(d, 'file.sock');
    },
    listen: 'ERR_NOT_A_SOCKET',
    connect: 'ERR_NOT_A_SOCKET',
  },
  {
    name: 'path is an empty regular file with mode 0',
    setup: (d) => {
      writeFileSync(join(d, 'zero.sock'), '');
      chmodSync(join(d, 'zero.sock'), 0);
      return join(d, 'zero.sock');
    },
    listen: 'ERR_NOT_A_SOCKET',
    connect: null, // as root, connect() to a mode-0 file is ECONNREFUSED -> NOT_A_SOCKET; as a user EACCES
  },
  {
    name: 'path is a FIFO',
    setup: (d) => {
      execFileSync('mkfifo', [join(d, 'fifo')]);
      return join(d, 'fifo');
    },
    listen: 'ERR_NOT_A_SOCKET',
    connect: 'ERR_NOT_A_SOCKET',
  },
  {
    name: 'path is a symlink to a live socket',
    setup: async (d) => {
      await liveSocket(join(d, 'live.sock'));
      symlinkSync(join(d, 'live.sock'), join(d, 'link.sock'));
      return join(d, 'link.sock');
    },
    listen: 'ERR_NOT_A_SOCKET',
    connect: null, // connecting through a symlink to a live socket is legitimate
  },
  {
    name: 'path is a symlink to a dead socket',
    setup: (d) => {
      deadSocket(join(d, 'dead.sock'));
      symlinkSync(join(d, 'dead.sock'), join(d, 'link.sock'));
      return join(d, 'link.sock');
    },
    listen: 'ERR_NOT_A_SOCKET',
    connect: 'ERR_CONNECT_TIMEOUT',
  },
  {
    name: 'path is a symlink to a regular file',
    setup: (d) => {
      writeFileSync(join(d, 'target'), 'keep me');
      symlinkSync(join(d, 'target'), join(d, 'link.sock'));
      return join(d, 'link.sock');
    },
    listen: 'ERR_NOT_A_SOCKET',
    connect: null, // see the separate test below: should be ERR_NOT_A_SOCKET at once
  },
  {
    name: 'path is a dangling symlink',
    setup: (d) => {
      symlinkSync(join(d, 'nowhere'), join(d, 'link.sock'));
      return join(d, 'link.sock');
    },
    listen: 'ERR_NOT_A_SOCKET',
    connect: 'ERR_CONNECT_TIMEOUT',
  },
  {
    name: 'path is a symlink to a directory',
    setup: (d) => {
      mkdirSync(join(d, 'tdir'));
      symlinkSync(join(d, 'tdir'), join(d, 'link.sock'));
      return join(d, 'link.sock');
    },
    listen: 'ERR_NOT_A_SOCKET',
    connect: null,
  },
  {
    name: 'parent world-writable without the sticky bit',
    setup: (d) => {
      const p = join(d, 'ww');
      mkdirSync(p);
      chmodSync(p, 0o777);
      return join(p, 'a.sock');
    },
    listen: 'ERR_INSECURE_DIRECTORY',
    connect: null,
  },
  {
    name: 'parent is a symlink to a world-writable directory without the sticky bit',
    setup: (d) => {
      const p = join(d, 'ww');
      mkdirSync(p);
      chmodSync(p, 0o777);
      symlinkSync(p, join(d, 'wwlink'));
      return join(d, 'wwlink', 'a.sock');
    },
    listen: 'ERR_INSECURE_DIRECTORY',
    connect: null,
  },
  {
    name: 'a live socket of another user that this process may not connect to',
    setup: async (d) => {
      await liveSocket(join(d, 'root.sock'));
      chmodSync(join(d, 'root.sock'), 0o600);
      return join(d, 'root.sock');
    },
    listen: 'ERR_PERMISSION',
    connect: 'ERR_PERMISSION',
    asNobody: true,
  },
  {
    name: 'a dead socket of another user in a directory this process may not write',
    setup: (d) => {
      deadSocket(join(d, 'stale.sock'));
      chmodSync(join(d, 'stale.sock'), 0o666);
      return join(d, 'stale.sock');
    },
    listen: 'ERR_PERMISSION',
    connect: null,
    asNobody: true,
  },
];

type Outcome = { code: string | null; isTransportError: boolean; message: string };

async function attemptHere(op: 'listen' | 'connect', path: string, native: 'require' | 'off'): Promise<Outcome> {
  let t: InstanceType<typeof UnixSocketTransport> | null = null;
  try {
    if (op === 'listen') {
      t = new UnixSocketTransport({ path, native });
      await t.listen();
    } else {
      t = new UnixSocketTransport({ native, connectTimeoutMs: 200 });
      (await t.connect(path)).destroy();
    }
    return { code: null, isTransportError: false, message: 'succeeded' };
  } catch (err) {
    return { code: (err as { code?: string }).code ?? null, isTransportError: err instanceof TransportError, message: (err as Error).message };
  } finally {
    await t?.close();
  }
}

async function attemptAsNobody(op: 'listen' | 'connect', path: string, native: 'require' | 'off'): Promise<Outcome> {
  const { done } = runNode(
    `(async () => {
      let t;
      try {
        if (${JSON.stringify(op)} === 'listen') { t = new plugsock.UnixSocketTransport({ path: ${JSON.stringify(path)}, native: ${JSON.stringify(native)} }); await t.listen(); }
        else { t = new plugsock.UnixSocketTransport({ native: ${JSON.stringify(native)}, connectTimeoutMs: 200 }); (await t.connect(${JSON.stringify(path)})).destroy(); }
        console.log(JSON.stringify({ code: null, isTransportError: false, message: 'succeeded' }));
      } catch (err) {
        console.log(JSON.stringify({ code: err.code ?? null, isTransportError: err instanceof plugsock.TransportError, message: err.message }));
      } finally { if (t) await t.close(); }
    })();`,
    { uid: NOBODY.uid, gid: NOBODY.gid },
  );
  const r = await done;
  return JSON.parse(r.stdout.trim().split('\n').pop() || '{}');
}

describe.each(modes)('hostile paths (%s)', (mode: Mode) => {
  const native = nativeOption(mode);
  // Short directory names: the fallback cases must stay under the 107-byte sun_path limit.
  for (const [index, c] of cases.entries()) {
    if (c.only && c.only !== mode) continue;
    for (const op of ['listen', 'connect'] as const) {
      const expected = c[op];
      if (expected === null) continue;
      it(`${op}: ${c.name} -> ${expected}, nothing touched`, async () => {
        const dir = join(root, `${mode === 'native' ? 'N' : 'F'}${op[0]}${index}`);
        mkdirSync(dir);
        chmodSync(dir, 0o755);
        const path = await c.setup(dir);
        const before = snapshotTree(root);
        const outcome = c.asNobody && isRoot ? await attemptAsNobody(op, path, native) : await attemptHere(op, path, native);
        expect(outcome.code, outcome.message).toBe(expected);
        expect(outcome.isTransportError).toBe(true);
        expect(snapshotTree(root)).toEqual(before);
      });
    }
  }
});

describe('hostile paths: findings', () => {
  it.each(modes)('connect() to a symlink to a regular file fails at once with ERR_NOT_A_SOCKET (%s)', async (mode) => {
    const dir = join(root, `sf-${mode}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'target'), 'keep me');
    symlinkSync(join(dir, 'target'), join(dir, 'link.sock'));
    const t = new UnixSocketTransport({ native: nativeOption(mode), connectTimeoutMs: 2000 });
    const start = Date.now();
    const outcome = await t.connect(join(dir, 'link.sock')).then(
      () => 'connected',
      (e) => e.code,
    );
    await t.close();
    // Today: ERR_CONNECT_TIMEOUT after the whole 2 s, because #classifyConnectError() lstat()s
    // the link (not the target) and treats any symlink as "a socket that refuses".
    expect({ outcome, fast: Date.now() - start < 1000 }).toEqual({ outcome: 'ERR_NOT_A_SOCKET', fast: true });
  });
});
