// The native addon against the real kernel: no mocks, real second processes where the kernel
// records who the peer is.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

const require = createRequire(import.meta.url);
const root = fileURLToPath(new URL('..', import.meta.url));
const bindingPath: string = require('node-gyp-build').path(root);

interface Addon {
  sourceHash: string;
  listenUnix(dir: string, name: string, mode: number, backlog: number): number;
  connectUnix(path: string): number;
  lockDir(dir: string): number;
  closeFd(fd: number): void;
  peerCred(fd: number): { pid: number; uid: number; gid: number; groups: number[] | null };
  peerPidfd(fd: number): number;
  pidfdAlive(pidfd: number): boolean;
}
const addon: Addon = require('node-gyp-build')(root);
const E = os.constants.errno;

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'plugsock-addon-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

let seq = 0;
function freshDir(): string {
  const d = path.join(tmp, `d${seq++}`);
  fs.mkdirSync(d);
  return d;
}

// A directory whose path is well over sun_path's 107 bytes.
function longDir(): string {
  let d = freshDir();
  while (d.length < 180) d = path.join(d, 'a-rather-long-directory-name-0123456789');
  fs.mkdirSync(d, { recursive: true });
  return d;
}

function caught(fn: () => unknown): NodeJS.ErrnoException {
  try {
    fn();
  } catch (e) {
    return e as NodeJS.ErrnoException;
  }
  throw new Error('expected a throw');
}

function fdCount(): number {
  return fs.readdirSync('/proc/self/fd').length;
}

const isLinux = process.platform === 'linux';
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

// A real second process. As root it runs as nobody, so uid/gid checks mean something.
function spawnNode(script: string, args: string[] = []): ChildProcess {
  const ids = isRoot ? { uid: 65534, gid: 65534 } : {};
  return spawn(process.execPath, ['-e', script, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
    ...ids,
  });
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`child exited ${code} before a line`)));
  });
}

function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}

describe('build', () => {
  it('sourceHash of the loaded addon matches the sources', () => {
    const { sourceHash } = require(path.join(root, 'scripts/source-hash.js'));
    expect(addon.sourceHash).toBe(sourceHash());
  });

  it('the committed prebuild for this platform matches the sources', () => {
    const dir = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
    const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.node')) : [];
    if (process.platform === 'linux' && process.arch === 'x64') expect(files.length).toBeGreaterThan(0);
    const { sourceHash } = require(path.join(root, 'scripts/source-hash.js'));
    for (const f of files) expect(require(path.join(dir, f)).sourceHash).toBe(sourceHash());
  });

  it('loads and works in a worker thread (no global state)', async () => {
    const dir = freshDir();
    const w = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const b = require(workerData.bindingPath);
       const fd = b.listenUnix(workerData.dir, 's', 0o600, 4);
       const c = b.connectUnix(workerData.dir + '/s');
       b.closeFd(c); b.closeFd(fd);
       parentPort.postMessage('ok');`,
      { eval: true, workerData: { bindingPath, dir } },
    );
    const msg = await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    });
    expect(msg).toBe('ok');
    await w.terminate();
  });
});

describe('listenUnix mode', () => {
  // process.umask is process-wide (and throws in workers), so each umask gets its own process.
  const modes = [0o600, 0o660, 0o666, 0o700, 0o777, 0o640];
  for (const umask of [0o077, 0o022, 0]) {
    it(`file mode is exactly the requested mode under umask ${umask.toString(8).padStart(3, '0')}`, () => {
      const dir = freshDir();
      const r = spawnSync(
        process.execPath,
        [
          '-e',
          `const [bindingPath, dir, umask, modes] = process.argv.slice(1);
           process.umask(Number(umask));
           const b = require(bindingPath);
           const fs = require('fs');
           const out = {};
           for (const m of JSON.parse(modes)) {
             const fd = b.listenUnix(dir, 's' + m, m, 4);
             out[m] = fs.statSync(dir + '/s' + m).mode & 0o7777;
             b.closeFd(fd);
           }
           process.stdout.write(JSON.stringify(out));`,
          bindingPath,
          dir,
          String(umask),
          JSON.stringify(modes),
        ],
        { encoding: 'utf8' },
      );
      expect(r.stderr).toBe('');
      const got = JSON.parse(r.stdout) as Record<string, number>;
      for (const m of modes) expect([m, got[m]]).toEqual([m, m]);
      for (const m of modes) expect(fs.statSync(path.join(dir, `s${m}`)).isSocket()).toBe(true);
    });
  }

  it('rejects bad arguments with TypeError', () => {
    const dir = freshDir();
    const bad: Array<[unknown[], string]> = [
      [[1, 's', 0o600, 4], 'dir'],
      [[dir, 's', '600', 4], 'mode'],
      [[dir, 's', 0o10000, 4], 'mode'],
      [[dir, 's', 1.5, 4], 'mode'],
      [[dir, 's', 0o600], 'backlog'],
      [[dir, 's\0x', 0o600, 4], 'name'],
      [['', 's', 0o600, 4], 'dir'], // would bind "/s"
      [[dir, '', 0o600, 4], 'name'],
    ];
    for (const [args, name] of bad) {
      const e = caught(() => (addon.listenUnix as (...a: unknown[]) => number)(...args));
      expect(e).toBeInstanceOf(TypeError);
      expect(e.code).toBe('ERR_INVALID_ARG_TYPE');
      expect(e.message).toContain(`"${name}"`);
    }
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(caught(() => (addon.closeFd as (x: unknown) => void)(-1))).toBeInstanceOf(TypeError);
    expect(caught(() => addon.connectUnix(''))).toBeInstanceOf(TypeError);
    expect(caught(() => (addon.peerCred as (x: unknown) => void)('3'))).toBeInstanceOf(TypeError);
  });
});

describe.runIf(isLinux)('long paths', () => {
  it('bind and connect past 107 bytes, file at the full path', async () => {
    const dir = longDir();
    const full = path.join(dir, 'plugin.sock');
    expect(Buffer.byteLength(full)).toBeGreaterThan(107);

    const fd = addon.listenUnix(dir, 'plugin.sock', 0o600, 8);
    expect(fs.statSync(full).isSocket()).toBe(true);
    expect(fs.statSync(full).mode & 0o7777).toBe(0o600);
    expect(fs.readdirSync(dir)).toEqual(['plugin.sock']);

    // End to end through libuv: both ends adopt the addon's fds.
    const server = net.createServer((s) => s.end('hello'));
    await new Promise<void>((r) => server.listen({ fd }, r));
    const c = addon.connectUnix(full);
    const sock = new net.Socket({ fd: c, readable: true, writable: true });
    const data = await new Promise<string>((resolve) => {
      let buf = '';
      sock.setEncoding('utf8');
      sock.on('data', (d) => (buf += d));
      sock.on('end', () => resolve(buf));
    });
    expect(data).toBe('hello');
    sock.destroy();
    await new Promise((r) => server.close(r));
  });

  it('a trailing slash on dir is not doubled in the reported path', () => {
    const dir = longDir();
    const fd = addon.listenUnix(dir + '/', 's', 0o600, 4);
    const e = caught(() => addon.listenUnix(dir + '/', 's', 0o600, 4));
    expect(e.path).toBe(path.join(dir, 's'));
    addon.closeFd(fd);
  });

  it('ENAMETOOLONG when even the /proc/self/fd route cannot fit', () => {
    const dir = longDir();
    const name = 'n'.repeat(120);
    const e = caught(() => addon.listenUnix(dir, name, 0o600, 4));
    expect(e.code).toBe('ENAMETOOLONG');
    expect(e.errno).toBe(-E.ENAMETOOLONG);
    expect(e.syscall).toBe('bind');
    expect(e.path).toBe(path.join(dir, name));
    const c = caught(() => addon.connectUnix(path.join(dir, name)));
    expect(c.code).toBe('ENAMETOOLONG');
    expect(c.path).toBe(path.join(dir, name));
  });

  it('a long path whose directory is missing reports ENOENT', () => {
    const dir = path.join(longDir(), 'missing');
    const e = caught(() => addon.connectUnix(path.join(dir, 's')));
    expect(e.code).toBe('ENOENT');
    expect(e.errno).toBe(-E.ENOENT);
    expect(e.path).toBe(dir);
  });
});

describe('errors shaped like Node system errors', () => {
  it('ENOENT on connect', () => {
    const p = path.join(freshDir(), 'nope');
    const e = caught(() => addon.connectUnix(p));
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('ENOENT');
    expect(e.errno).toBe(-E.ENOENT);
    expect(e.syscall).toBe('connect');
    expect(e.path).toBe(p);
    expect(e.message).toMatch(new RegExp(`^connect ENOENT ${p}`));
  });

  it('ECONNREFUSED when the server closed (file left behind)', () => {
    const dir = freshDir();
    const fd = addon.listenUnix(dir, 's', 0o600, 4);
    addon.closeFd(fd);
    expect(fs.statSync(path.join(dir, 's')).isSocket()).toBe(true);
    const e = caught(() => addon.connectUnix(path.join(dir, 's')));
    expect(e.code).toBe('ECONNREFUSED');
    expect(e.errno).toBe(-E.ECONNREFUSED);
    expect(e.syscall).toBe('connect');
    expect(e.path).toBe(path.join(dir, 's'));
  });

  it('EADDRINUSE binding over an existing file, which is left untouched', () => {
    const dir = freshDir();
    const fd = addon.listenUnix(dir, 's', 0o600, 4);
    const e = caught(() => addon.listenUnix(dir, 's', 0o666, 4));
    expect(e.code).toBe('EADDRINUSE');
    expect(e.errno).toBe(-E.EADDRINUSE);
    expect(e.syscall).toBe('bind');
    expect(e.path).toBe(path.join(dir, 's'));
    expect(fs.statSync(path.join(dir, 's')).mode & 0o7777).toBe(0o600);
    const c = addon.connectUnix(path.join(dir, 's')); // the first server still answers
    addon.closeFd(c);
    addon.closeFd(fd);
  });

  it('EAGAIN when the backlog is full', () => {
    const dir = freshDir();
    const fd = addon.listenUnix(dir, 's', 0o600, 0);
    const conns: number[] = [];
    let err: NodeJS.ErrnoException | undefined;
    for (let i = 0; i < 16 && !err; i++) {
      try {
        conns.push(addon.connectUnix(path.join(dir, 's')));
      } catch (e) {
        err = e as NodeJS.ErrnoException;
      }
    }
    expect(err?.code).toBe('EAGAIN');
    expect(err?.syscall).toBe('connect');
    for (const c of conns) addon.closeFd(c);
    addon.closeFd(fd);
  });

  it('EBADF from closeFd of a closed fd', () => {
    const fd = addon.lockDir(freshDir());
    addon.closeFd(fd);
    const e = caught(() => addon.closeFd(fd));
    expect(e.code).toBe('EBADF');
    expect(e.syscall).toBe('close');
  });
});

describe.runIf(isLinux)('peer credentials', () => {
  // The child listens; on the connecting side SO_PEERCRED names whoever called listen().
  const childServer = `
    const net = require('net');
    const p = process.argv[1];
    net.createServer(() => {}).listen(p, () => console.log('ready'));
    process.stdin.on('end', () => process.exit(0)).resume();`;

  async function childListening(): Promise<{ child: ChildProcess; sock: string }> {
    const dir = freshDir();
    fs.chmodSync(tmp, 0o755);
    fs.chmodSync(dir, 0o777); // the child may be "nobody"
    const sock = path.join(dir, 'child.sock');
    const child = spawnNode(childServer, [sock]);
    expect(await firstLine(child)).toBe('ready');
    return { child, sock };
  }

  it("peerCred of a connection to a child gives the child's pid/uid/gid", async () => {
    const { child, sock } = await childListening();
    const c = addon.connectUnix(sock);
    const cred = addon.peerCred(c);
    expect(cred.pid).toBe(child.pid);
    expect(cred.uid).toBe(isRoot ? 65534 : process.getuid!());
    expect(cred.gid).toBe(isRoot ? 65534 : process.getgid!());
    // libuv drops supplementary groups when it sets uid/gid.
    if (cred.groups !== null) expect(Array.isArray(cred.groups)).toBe(true);
    if (cred.groups !== null && isRoot) expect(cred.groups).toEqual([]);
    addon.closeFd(c);
    child.stdin!.end();
    await exited(child);
  });

  it('peerCred on the accepting side names the connecting child', async () => {
    const dir = freshDir();
    fs.chmodSync(tmp, 0o755);
    fs.chmodSync(dir, 0o777);
    const fd = addon.listenUnix(dir, 's', 0o666, 4);
    const server = net.createServer();
    await new Promise<void>((r) => server.listen({ fd }, r));
    const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
    const child = spawnNode(
      `const s = require('net').connect(process.argv[1], () => console.log('ready'));
       process.stdin.on('end', () => process.exit(0)).resume();`,
      [path.join(dir, 's')],
    );
    const sock = await accepted;
    // No public API for an accepted socket's fd; the handle's fd is what TS will use too.
    const sfd = (sock as unknown as { _handle: { fd: number } })._handle.fd;
    expect(addon.peerCred(sfd).pid).toBe(child.pid);
    child.stdin!.end();
    await exited(child);
    sock.destroy();
    await new Promise((r) => server.close(r));
  });

  it('peerPidfd gives a pidfd that turns dead once the child exits', async () => {
    const { child, sock } = await childListening();
    const c = addon.connectUnix(sock);
    const pidfd = addon.peerPidfd(c);
    if (pidfd === -1) return; // kernel before 6.5: nothing more to check
    expect(pidfd).toBeGreaterThanOrEqual(0);
    // The kernel opens pidfds O_CLOEXEC, and /proc says which pid it is.
    expect(fs.readFileSync(`/proc/self/fdinfo/${pidfd}`, 'utf8')).toMatch(
      new RegExp(`^Pid:\\s+${child.pid}$`, 'm'),
    );
    expect(addon.pidfdAlive(pidfd)).toBe(true);
    child.stdin!.end();
    await exited(child); // 'exit' comes after libuv reaped it
    expect(addon.pidfdAlive(pidfd)).toBe(false);
    addon.closeFd(pidfd);
    addon.closeFd(c);
    const e = caught(() => addon.pidfdAlive(c)); // a socket is no pidfd
    expect(e.code).toBe('EBADF');
  });
});

describe('lockDir', () => {
  it('a second lock on the same directory fails with EAGAIN/EWOULDBLOCK until released', () => {
    const dir = freshDir();
    const a = addon.lockDir(dir);
    const e = caught(() => addon.lockDir(dir));
    expect(['EAGAIN', 'EWOULDBLOCK']).toContain(e.code);
    expect(e.errno).toBe(-E.EWOULDBLOCK);
    expect(e.syscall).toBe('flock');
    expect(e.path).toBe(dir);
    addon.closeFd(a);
    addon.closeFd(addon.lockDir(dir));
  });

  it('conflicts across processes too', () => {
    const dir = freshDir();
    const a = addon.lockDir(dir);
    const r = spawnSync(
      process.execPath,
      ['-e', `try { require(process.argv[1]).lockDir(process.argv[2]); console.log('locked') }
              catch (e) { console.log(e.code) }`, bindingPath, dir],
      { encoding: 'utf8' },
    );
    expect(['EAGAIN', 'EWOULDBLOCK']).toContain(r.stdout.trim());
    addon.closeFd(a);
  });

  it('ENOTDIR on a file', () => {
    const f = path.join(freshDir(), 'f');
    fs.writeFileSync(f, '');
    const e = caught(() => addon.lockDir(f));
    expect(e.code).toBe('ENOTDIR');
    expect(e.syscall).toBe('open');
  });
});

describe.runIf(isLinux)('no fd leaks', () => {
  it('1000 listen/connect/close cycles (short and long paths, error paths) leave no fd', () => {
    const short = freshDir();
    const long = longDir();
    const before = fdCount();
    for (let i = 0; i < 1000; i++) {
      const dir = i % 2 ? long : short;
      const name = `s${i}`;
      const fd = addon.listenUnix(dir, name, 0o600, 4);
      const c = addon.connectUnix(path.join(dir, name));
      if (i % 100 === 0) {
        const pidfd = addon.peerPidfd(c);
        if (pidfd >= 0) addon.closeFd(pidfd);
        addon.peerCred(c);
      }
      // Error paths must close what they opened too.
      caught(() => addon.listenUnix(dir, name, 0o600, 4)); // EADDRINUSE
      addon.closeFd(c);
      addon.closeFd(fd);
      caught(() => addon.connectUnix(path.join(dir, name))); // ECONNREFUSED
      caught(() => addon.connectUnix(path.join(dir, `missing${i}`))); // ENOENT
      fs.unlinkSync(path.join(dir, name));
    }
    expect(fdCount()).toBe(before);
  });
});
