// The native addon against the real kernel: no mocks, real second processes where the kernel
// records who the peer is. Listening sockets are made by claimCreate through a directory fd
// (native/claim.cc); see docs/ADDON-CONTRACT.md.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import type { Binding, ClaimResult } from '../src/addon';
import { cannotRun, exited, firstLine, hasPython as pythonRuns, isRoot, NOBODY as nobody, openFdCount, root, scratchDirs } from './kit';

const require = createRequire(__filename);
const bindingPath: string = require('node-gyp-build').path(root);

type Ok = Extract<ClaimResult, { status: 'ok' }>;

/** The binding as src/addon.ts declares it; on Linux, where these tests run, every export is there. */
const addon = require('node-gyp-build')(root) as Required<Binding>;
const E = os.constants.errno;
const refusesPassedFds = addon.socketProbePassRights() !== 0;

/** claimCreate flags (native/claim.cc). */
const SWEEP = 1;
const NO_LOCK = 2;
/** Bind in a private stage directory, the route for kernels without unix sock_diag. */
const STAGE = 4;

const scratch = scratchDirs('plugsock-addon-');
let tmp: string | undefined;
let seq = 0;
/** A new directory under this file's own (which other users may enter). */
function freshDir(): string {
  tmp ??= scratch.make();
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

/** Runs `fn` with an fd of `dir` (dirOpen), closed afterwards. */
function inDir<T>(dir: string, fn: (dirFd: number) => T): T {
  const dirFd = addon.dirOpen(dir);
  try {
    return fn(dirFd);
  } finally {
    addon.fdClose(dirFd);
  }
}

/** claimCreate that must succeed. */
function claim(dirFd: number, name: string, mode = 0o600, backlog = 4, gid = -1, flags = 0): Ok {
  const r = addon.claimCreate(dirFd, name, mode, backlog, gid, flags);
  if (r.status !== 'ok') throw new Error(`claimCreate(${name}) gave ${JSON.stringify(r)}`);
  return r;
}

/** A listening socket at dir/name whose fd is closed at once: a dead socket file. */
function deadSocket(dir: string, name: string): bigint {
  return inDir(dir, (dirFd) => {
    const r = claim(dirFd, name);
    addon.fdClose(r.fd);
    return r.ino;
  });
}

/** Entries a claim must never leave behind: its staging names and directories. */
function stagingLeftovers(dir: string): string[] {
  return fs.readdirSync(dir).filter((n) => n.startsWith('.ps-'));
}

function ident(p: string): { dev: bigint; ino: bigint; mode: bigint } {
  const st = fs.lstatSync(p, { bigint: true });
  return { dev: st.dev, ino: st.ino, mode: st.mode };
}

const isLinux = process.platform === 'linux';
/** nobody's uid, and its gid. */
const NOBODY = nobody.uid;
const hasPython = pythonRuns();
if (isLinux && !hasPython && process.env.CI === 'true') throw new Error('python3 is required for these tests in CI');

// A real second process. As root it runs as nobody, so uid/gid checks mean something.
function spawnNode(script: string, args: string[] = []): ChildProcess {
  const ids = isRoot ? { uid: NOBODY, gid: NOBODY } : {};
  return spawn(process.execPath, ['-e', script, ...args], {
    stdio: ['pipe', 'pipe', 'inherit'],
    ...ids,
  });
}

/** A Python child that prints one line when set up and lives until its stdin closes. */
function spawnPython(script: string, args: string[] = []): ChildProcess {
  return spawn('python3', ['-c', script, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
}

async function stop(child: ChildProcess): Promise<void> {
  child.stdin!.end();
  await exited(child);
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

  it.runIf(isLinux)('the committed linux-x64 prebuild is tagged glibc and needs nothing newer than glibc 2.28', () => {
    const file = path.join(root, 'prebuilds', 'linux-x64', 'plugsock.glibc.node');
    expect(fs.existsSync(file), `${file} missing: npm run prebuildify`).toBe(true);
    const r = spawnSync('readelf', ['--dyn-syms', '-W', file], { encoding: 'utf8' });
    if (r.error && cannotRun('readelf not installed (apt-get install binutils)')) return;
    const versions = [...r.stdout.matchAll(/@GLIBC_(\d+)\.(\d+)/g)].map((m) => Number(m[1]) * 1000 + Number(m[2]));
    expect(versions.length).toBeGreaterThan(0);
    expect(Math.max(...versions)).toBeLessThanOrEqual(2028);
  });

  it('the old path-based exports are gone', () => {
    const exports = addon as unknown as Record<string, unknown>;
    expect(exports.listenUnix).toBeUndefined();
    expect(exports.lockDir).toBeUndefined();
  });

  it.runIf(isLinux)('loads and works in a worker thread (no global state), modes exact there too', async () => {
    const dir = freshDir();
    const modes = [0o600, 0o660, 0o666, 0o700, 0o777, 0o640];
    const w = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       const fs = require('node:fs');
       const b = require(workerData.bindingPath);
       const dirFd = b.dirOpen(workerData.dir);
       const out = {};
       for (const m of workerData.modes) {
         const r = b.claimCreate(dirFd, 's' + m, m, 4, -1, 0);
         if (r.status !== 'ok') throw new Error(JSON.stringify(r));
         out[m] = fs.lstatSync(workerData.dir + '/s' + m).mode & 0o7777;
         const c = b.socketConnect(workerData.dir + '/s' + m);
         b.fdClose(c); b.fdClose(r.fd);
         out['released' + m] = b.claimRelease(dirFd, 's' + m, r.dev, r.ino);
       }
       b.fdClose(dirFd);
       parentPort.postMessage(out);`,
      { eval: true, workerData: { bindingPath, dir, modes } },
    );
    const msg = (await new Promise((resolve, reject) => {
      w.once('message', resolve);
      w.once('error', reject);
    })) as Record<string, number | boolean>;
    for (const m of modes) expect([m, msg[m], msg[`released${m}`]]).toEqual([m, m, true]);
    expect(fs.readdirSync(dir)).toEqual([]);
    await w.terminate();
  });
});

describe.runIf(isLinux)('claimCreate mode and group', () => {
  // process.umask is process-wide (and throws in workers), so each umask gets its own process.
  const modes = [0o600, 0o660, 0o666, 0o700, 0o777, 0o640];
  const groupModes = [0o660, 0o600, 0o666];
  const gid = isRoot ? NOBODY : process.getgid!();
  for (const umask of [0o077, 0o022, 0]) {
    it(`file mode is exactly the requested mode under umask ${umask.toString(8).padStart(3, '0')}, with and without a group`, () => {
      const dir = freshDir();
      const r = spawnSync(
        process.execPath,
        [
          '-e',
          `const [bindingPath, dir, umask, modes, groupModes, gid] = process.argv.slice(1);
           process.umask(Number(umask));
           const b = require(bindingPath);
           const fs = require('fs');
           const dirFd = b.dirOpen(dir);
           const out = {};
           const take = (name, m, g) => {
             const r = b.claimCreate(dirFd, name, m, 4, g, 0);
             if (r.status !== 'ok') throw new Error(name + ': ' + JSON.stringify(r));
             const st = fs.lstatSync(dir + '/' + name);
             out[name] = [st.mode & 0o7777, st.gid];
             b.fdClose(r.fd);
           };
           for (const m of JSON.parse(modes)) take('s' + m, m, -1);
           for (const m of JSON.parse(groupModes)) take('g' + m, m, Number(gid));
           process.stdout.write(JSON.stringify(out));`,
          bindingPath,
          dir,
          String(umask),
          JSON.stringify(modes),
          JSON.stringify(groupModes),
          String(gid),
        ],
        { encoding: 'utf8' },
      );
      expect(r.stderr).toBe('');
      const got = JSON.parse(r.stdout) as Record<string, [number, number]>;
      for (const m of modes) expect([m, got[`s${m}`][0]]).toEqual([m, m]);
      for (const m of modes) expect(got[`s${m}`][1]).toBe(process.getgid!());
      for (const m of groupModes) expect([m, got[`g${m}`]]).toEqual([m, [m, gid]]);
      for (const m of modes) expect(fs.lstatSync(path.join(dir, `s${m}`)).isSocket()).toBe(true);
      expect(stagingLeftovers(dir)).toEqual([]);
    });
  }

  it.runIf(isRoot)('gid 65534 is applied and read back with lstat, in this process too', () => {
    const dir = freshDir();
    inDir(dir, (dirFd) => {
      for (const m of groupModes) {
        const r = claim(dirFd, `g${m}`, m, 4, NOBODY);
        const st = fs.lstatSync(path.join(dir, `g${m}`));
        expect([m, st.mode & 0o7777, st.uid, st.gid]).toEqual([m, m, 0, NOBODY]);
        expect(addon.dirStatAt(dirFd, `g${m}`)).toMatchObject({ ino: r.ino, dev: r.dev, uid: 0, gid: NOBODY });
        addon.fdClose(r.fd);
        expect(addon.claimRelease(dirFd, `g${m}`, r.dev, r.ino)).toBe(true);
      }
    });
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('gid -1 keeps our own group', () => {
    const dir = freshDir();
    inDir(dir, (dirFd) => {
      const r = claim(dirFd, 's', 0o660, 4, -1);
      expect(fs.lstatSync(path.join(dir, 's')).gid).toBe(process.getegid!());
      addon.fdClose(r.fd);
    });
  });
});

describe('argument checks', () => {
  function expectTypeErrors(fn: (...a: unknown[]) => unknown, bad: Array<[unknown[], string]>): void {
    for (const [args, name] of bad) {
      const e = caught(() => fn(...args));
      expect([args, e]).toEqual([args, expect.any(TypeError)]);
      expect(e.code).toBe('ERR_INVALID_ARG_TYPE');
      expect([args, e.message]).toEqual([args, expect.stringContaining(`"${name}"`)]);
    }
  }

  it.runIf(isLinux)('claimCreate rejects bad arguments with TypeError and creates nothing', () => {
    const dir = freshDir();
    inDir(dir, (d) => {
      expectTypeErrors(addon.claimCreate as (...a: unknown[]) => unknown, [
        [['3', 's', 0o600, 4, -1, 0], 'dirFd'],
        [[-1, 's', 0o600, 4, -1, 0], 'dirFd'],
        [[1.5, 's', 0o600, 4, -1, 0], 'dirFd'],
        [[], 'dirFd'],
        [[d, 1, 0o600, 4, -1, 0], 'name'],
        [[d, '', 0o600, 4, -1, 0], 'name'],
        [[d, 's\0x', 0o600, 4, -1, 0], 'name'],
        [[d, 'a/b', 0o600, 4, -1, 0], 'name'],
        [[d, '/s', 0o600, 4, -1, 0], 'name'],
        [[d, '.', 0o600, 4, -1, 0], 'name'],
        [[d, '..', 0o600, 4, -1, 0], 'name'],
        [[d, 'n'.repeat(256), 0o600, 4, -1, 0], 'name'],
        [[d, 'é'.repeat(128), 0o600, 4, -1, 0], 'name'], // 256 bytes in UTF-8
        [[d, 's', '600', 4, -1, 0], 'mode'],
        [[d, 's', 0o1000, 4, -1, 0], 'mode'], // no sticky, setuid or setgid bits on a socket
        [[d, 's', 0o4600, 4, -1, 0], 'mode'],
        [[d, 's', 1.5, 4, -1, 0], 'mode'],
        [[d, 's', -1, 4, -1, 0], 'mode'],
        [[d, 's', 0o600], 'backlog'],
        [[d, 's', 0o600, 0, -1, 0], 'backlog'],
        [[d, 's', 0o600, -1, -1, 0], 'backlog'],
        [[d, 's', 0o600, 1.5, -1, 0], 'backlog'],
        [[d, 's', 0o600, 4], 'gid'],
        [[d, 's', 0o600, 4, -2, 0], 'gid'],
        [[d, 's', 0o600, 4, '0', 0], 'gid'],
        [[d, 's', 0o600, 4, 2 ** 31, 0], 'gid'],
        [[d, 's', 0o600, 4, -1], 'flags'],
        [[d, 's', 0o600, 4, -1, 8], 'flags'],
        [[d, 's', 0o600, 4, -1, -1], 'flags'],
        [[d, 's', 0o600, 4, -1, '1'], 'flags'],
      ]);
    });
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it.runIf(isLinux)('claimRelease, dirOpen, dirMake, dirRemoveAt, dirStatAt and dirScan reject bad arguments with TypeError', () => {
    const dir = freshDir();
    fs.mkdirSync(path.join(dir, 'keep'));
    const made = path.join(dir, 'made');
    inDir(dir, (d) => {
      const sub = addon.dirOpen(path.join(dir, 'keep'));
      expectTypeErrors(addon.claimRelease as (...a: unknown[]) => unknown, [
        [['3', 's', 1n, 1n], 'dirFd'],
        [[-1, 's', 1n, 1n], 'dirFd'],
        [[d, '', 1n, 1n], 'name'],
        [[d, 'a/b', 1n, 1n], 'name'],
        [[d, 'keep\0', 1n, 1n], 'name'],
        [[d, 'keep', 1, 1n], 'dev'],
        [[d, 'keep', 1n, 1], 'ino'],
        [[d, 'keep', 1n], 'ino'],
        [[d, 'keep'], 'dev'],
      ]);
      expectTypeErrors(addon.dirOpen as (...a: unknown[]) => unknown, [
        [[], 'path'],
        [[3], 'path'],
        [[''], 'path'],
        [[`${dir}\0/keep`], 'path'],
      ]);
      expectTypeErrors(addon.dirMake as (...a: unknown[]) => unknown, [
        [[3, 0o700], 'path'],
        [['', 0o700], 'path'],
        [[`${made}\0`, 0o700], 'path'],
        [[made], 'mode'],
        [[made, '700'], 'mode'],
        [[made, 0o1700], 'mode'],
        [[made, -1], 'mode'],
      ]);
      expectTypeErrors(addon.dirRemoveAt as (...a: unknown[]) => unknown, [
        [['3', 'keep', sub], 'parentFd'],
        [[-1, 'keep', sub], 'parentFd'],
        [[d, '', sub], 'name'],
        [[d, 'keep/', sub], 'name'],
        [[d, '..', sub], 'name'],
        [[d, 'keep', String(sub)], 'dirFd'],
        [[d, 'keep', -1], 'dirFd'],
        [[d, 'keep'], 'dirFd'],
      ]);
      expectTypeErrors(addon.dirStatAt as (...a: unknown[]) => unknown, [
        [['3', 'keep'], 'dirFd'],
        [[-1, 'keep'], 'dirFd'],
        [[d], 'name'],
        [[d, ''], 'name'],
        [[d, 'keep/x'], 'name'],
        [[d, 'n'.repeat(256)], 'name'],
      ]);
      expectTypeErrors(addon.dirScan as (...a: unknown[]) => unknown, [
        [[3, 'p', 1], 'path'],
        [['', 'p', 1], 'path'],
        [[dir, '', 1], 'name'],
        [[dir, 'a/b', 1], 'name'],
        [[dir, 'p'], 'maxScanned'],
        [[dir, 'p', -1], 'maxScanned'],
        [[dir, 'p', 1.5], 'maxScanned'],
      ]);
      addon.fdClose(sub);
    });
    expect(fs.readdirSync(dir)).toEqual(['keep']);
    expect(fs.readdirSync(path.join(dir, 'keep'))).toEqual([]);
  });

  it('fdClose, socketConnect and peerCred reject bad arguments with TypeError', () => {
    expect(caught(() => (addon.fdClose as (x: unknown) => void)(-1))).toBeInstanceOf(TypeError);
    expect(caught(() => addon.socketConnect(''))).toBeInstanceOf(TypeError);
    expect(caught(() => addon.socketConnect('/tmp/x\0y'))).toBeInstanceOf(TypeError);
    expect(caught(() => (addon.peerCred as (x: unknown) => void)('3'))).toBeInstanceOf(TypeError);
  });
});

describe.runIf(isLinux)('connectionSetUp and the SO_PASSRIGHTS probe', () => {
  /** A connected pair through a real listener, made by the addon (claimCreate), accepted in this process. */
  async function pair(): Promise<{ client: number; accepted: net.Socket; close: () => void }> {
    const dir = scratch.make();
    const dirFd = addon.dirOpen(dir);
    const claimed = addon.claimCreate(dirFd, 's', 0o600, 8, -1, 0) as Ok;
    addon.fdClose(dirFd);
    const server = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((r) => server.listen({ fd: claimed.fd }, r));
    const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
    const client = addon.socketConnect(path.join(dir, 's'));
    const socket = await accepted;
    const close = (): void => {
      addon.fdClose(client);
      socket.destroy();
      server.close();
    };
    return { client, accepted: socket, close };
  }

  /** SO_SNDBUF and SO_PASSRIGHTS of `fd` as the kernel reports them (python reads them on a dup). */
  function options(fd: number): { sndbuf: number; passrights: number } {
    const r = spawnSync('python3', ['-c', 'import socket;s=socket.socket(fileno=3);print(s.getsockopt(1,7),s.getsockopt(1,83));s.detach()'], {
      stdio: ['ignore', 'pipe', 'pipe', fd],
      encoding: 'utf8',
    });
    const [sndbuf, passrights] = r.stdout.trim().split(' ').map(Number);
    return { sndbuf, passrights };
  }

  it('reads pid, uid and gid into out, and sets SO_SNDBUF and SO_PASSRIGHTS, in one call', async () => {
    const { client, accepted, close } = await pair();
    try {
      const out = new Int32Array(3).fill(-7);
      const fd = (accepted as unknown as { _handle: { fd: number } })._handle.fd;
      addon.connectionSetUp(fd, out, 65536, 0);
      expect([...out]).toEqual([process.pid, process.getuid!(), process.getgid!()]);
      const set = options(fd);
      expect(set.sndbuf).toBe(2 * 65536);
      if (refusesPassedFds) expect(set.passrights).toBe(0);
      // null: no credentials asked for; 0 and -1: the options are left alone.
      const before = options(client);
      addon.connectionSetUp(client, null, 0, -1);
      expect(options(client)).toEqual(before);
    } finally {
      close();
    }
  });

  it('rejects bad arguments with TypeError', () => {
    expect(caught(() => addon.connectionSetUp(-1, null, 0, -1))).toBeInstanceOf(TypeError);
    expect(caught(() => addon.connectionSetUp(0, new Int32Array(2), 0, -1))).toBeInstanceOf(TypeError);
    expect(caught(() => addon.connectionSetUp(0, null, -1, -1))).toBeInstanceOf(TypeError);
    expect(caught(() => addon.connectionSetUp(0, null, 0, 2))).toBeInstanceOf(TypeError);
  });

  it("socketProbePassRights says 2 exactly where an accepted connection takes its listener's SO_PASSRIGHTS", async () => {
    const answer = addon.socketProbePassRights();
    expect([0, 1, 2]).toContain(answer);
    if (answer === 0) return;
    // Check the answer the probe gives against the kernel, on a listener of our own.
    const dir = scratch.make();
    const dirFd = addon.dirOpen(dir);
    const claimed = addon.claimCreate(dirFd, 'l', 0o600, 8, -1, 0) as Ok;
    addon.fdClose(dirFd);
    addon.socketSetPassRights(claimed.fd, false);
    const server = net.createServer({ pauseOnConnect: true });
    await new Promise<void>((r) => server.listen({ fd: claimed.fd }, r));
    const got = new Promise<net.Socket>((r) => server.once('connection', r));
    const c = addon.socketConnect(path.join(dir, 'l'));
    const s = await got;
    try {
      const inherited = options((s as unknown as { _handle: { fd: number } })._handle.fd).passrights === 0;
      expect(answer === 2).toBe(inherited);
    } finally {
      addon.fdClose(c);
      s.destroy();
      server.close();
    }
  });
});

describe.runIf(isLinux)('long paths', () => {
  it('claim and connect past 107 bytes, file at the full path', async () => {
    const dir = longDir();
    const full = path.join(dir, 'plugin.sock');
    expect(Buffer.byteLength(full)).toBeGreaterThan(107);

    const dirFd = addon.dirOpen(dir);
    const r = claim(dirFd, 'plugin.sock', 0o600, 8);
    expect(fs.lstatSync(full).isSocket()).toBe(true);
    expect(fs.lstatSync(full).mode & 0o7777).toBe(0o600);
    expect(fs.readdirSync(dir)).toEqual(['plugin.sock']);

    // End to end through libuv: both ends adopt the addon's fds.
    const server = net.createServer((s) => s.end('hello'));
    await new Promise<void>((res) => server.listen({ fd: r.fd }, res));
    const c = addon.socketConnect(full);
    const sock = new net.Socket({ fd: c, readable: true, writable: true });
    const data = await new Promise<string>((resolve) => {
      let buf = '';
      sock.setEncoding('utf8');
      sock.on('data', (d) => (buf += d));
      sock.on('end', () => resolve(buf));
    });
    expect(data).toBe('hello');
    sock.destroy();
    await new Promise((res) => server.close(res));
    expect(addon.claimRelease(dirFd, 'plugin.sock', r.dev, r.ino)).toBe(true);
    addon.fdClose(dirFd);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('a trailing slash on the directory changes nothing: the socket is at dir/name', () => {
    const dir = longDir();
    inDir(dir + '/', (dirFd) => {
      const r = claim(dirFd, 's');
      expect(ident(path.join(dir, 's')).ino).toBe(r.ino);
      // A second claim of the same name sees the first server (was EADDRINUSE).
      expect(addon.claimCreate(dirFd, 's', 0o600, 4, -1, 0)).toEqual({ status: 'live' });
      expect(fs.readdirSync(dir)).toEqual(['s']);
      addon.fdClose(r.fd);
    });
  });

  it('a 255-byte name (NAME_MAX) binds and connects; 256 bytes are refused', () => {
    const dir = longDir();
    const name = 'n'.repeat(255);
    const full = path.join(dir, name);
    inDir(dir, (dirFd) => {
      const r = claim(dirFd, name);
      expect(fs.lstatSync(full).isSocket()).toBe(true);
      expect(fs.readdirSync(dir)).toEqual([name]);
      const c = addon.socketConnect(full);
      expect(addon.peerCred(c).pid).toBe(process.pid);
      addon.fdClose(c);
      addon.fdClose(r.fd);
      expect(addon.claimRelease(dirFd, name, r.dev, r.ino)).toBe(true);

      const tooLong = caught(() => addon.claimCreate(dirFd, 'n'.repeat(256), 0o600, 4, -1, 0));
      expect(tooLong).toBeInstanceOf(TypeError);
      expect(tooLong.message).toContain('"name"');
    });
    const c = caught(() => addon.socketConnect(path.join(dir, 'n'.repeat(256))));
    expect(c.code).toBe('ENAMETOOLONG');
    expect(c.errno).toBe(-E.ENAMETOOLONG);
    expect(c.path).toBe(path.join(dir, 'n'.repeat(256)));
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('a path beyond PATH_MAX gives ENAMETOOLONG from socketConnect and dirOpen', () => {
    const huge = '/' + 'x/'.repeat(2100) + 's';
    const c = caught(() => addon.socketConnect(huge));
    expect(c.code).toBe('ENAMETOOLONG');
    expect(c.path).toBe(huge);
    const d = caught(() => addon.dirOpen(huge));
    expect(d.code).toBe('ENAMETOOLONG');
    expect(d.syscall).toBe('open');
  });

  it('a long path whose directory is missing reports ENOENT', () => {
    const dir = path.join(longDir(), 'missing');
    const full = path.join(dir, 's');
    const e = caught(() => addon.socketConnect(full));
    expect(e.code).toBe('ENOENT');
    expect(e.errno).toBe(-E.ENOENT);
    expect(e.path).toBe(full);
    const d = caught(() => addon.dirOpen(dir));
    expect(d.code).toBe('ENOENT');
    expect(d.syscall).toBe('open');
    expect(d.path).toBe(dir);
  });
});

describe('errors shaped like Node system errors', () => {
  it('ENOENT on connect', () => {
    const p = path.join(freshDir(), 'nope');
    const e = caught(() => addon.socketConnect(p));
    expect(e).toBeInstanceOf(Error);
    expect(e.code).toBe('ENOENT');
    expect(e.errno).toBe(-E.ENOENT);
    expect(e.syscall).toBe('connect');
    expect(e.path).toBe(p);
    expect(e.message).toMatch(new RegExp(`^connect ENOENT ${p}`));
  });

  it.runIf(isLinux)('ECONNREFUSED when the server closed (file left behind)', () => {
    const dir = freshDir();
    deadSocket(dir, 's');
    expect(fs.lstatSync(path.join(dir, 's')).isSocket()).toBe(true);
    const e = caught(() => addon.socketConnect(path.join(dir, 's')));
    expect(e.code).toBe('ECONNREFUSED');
    expect(e.errno).toBe(-E.ECONNREFUSED);
    expect(e.syscall).toBe('connect');
    expect(e.path).toBe(path.join(dir, 's'));
  });

  it.runIf(isLinux)('EAGAIN when the backlog is full, and claimCreate then says busy', () => {
    const dir = freshDir();
    inDir(dir, (dirFd) => {
      const r = claim(dirFd, 's', 0o600, 1);
      const conns: number[] = [];
      let err: NodeJS.ErrnoException | undefined;
      for (let i = 0; i < 16 && !err; i++) {
        try {
          conns.push(addon.socketConnect(path.join(dir, 's')));
        } catch (e) {
          err = e as NodeJS.ErrnoException;
        }
      }
      expect(err?.code).toBe('EAGAIN');
      expect(err?.syscall).toBe('connect');
      const before = ident(path.join(dir, 's'));
      expect(addon.claimCreate(dirFd, 's', 0o600, 4, -1, 0)).toEqual({ status: 'busy' });
      expect(ident(path.join(dir, 's'))).toEqual(before);
      for (const c of conns) addon.fdClose(c);
      addon.fdClose(r.fd);
    });
    expect(stagingLeftovers(dir)).toEqual([]);
  });

  it.runIf(isLinux)('EBADF from fdClose of a closed fd', () => {
    const fd = addon.dirOpen(freshDir());
    addon.fdClose(fd);
    const e = caught(() => addon.fdClose(fd));
    expect(e.code).toBe('EBADF');
    expect(e.syscall).toBe('close');
  });

  it.runIf(isLinux)('dirOpen: ENOTDIR on a file, ENOENT when missing', () => {
    const f = path.join(freshDir(), 'f');
    fs.writeFileSync(f, '');
    const e = caught(() => addon.dirOpen(f));
    expect(e.code).toBe('ENOTDIR');
    expect(e.errno).toBe(-E.ENOTDIR);
    expect(e.syscall).toBe('open');
    expect(e.path).toBe(f);
    expect(caught(() => addon.dirOpen(f + '-missing')).code).toBe('ENOENT');
  });

  it.runIf(isLinux)('claimCreate: ENOTDIR for an fd that is not a directory, EBADF for a closed one', () => {
    const dir = freshDir();
    const f = path.join(dir, 'f');
    fs.writeFileSync(f, 'keep');
    const fileFd = fs.openSync(f, 'r');
    const e = caught(() => addon.claimCreate(fileFd, 's', 0o600, 4, -1, 0));
    expect(e.code).toBe('ENOTDIR');
    expect(e.syscall).toBe('fstat');
    fs.closeSync(fileFd);
    const closed = addon.dirOpen(dir);
    addon.fdClose(closed);
    const b = caught(() => addon.claimCreate(closed, 's', 0o600, 4, -1, 0));
    expect(b.code).toBe('EBADF');
    expect(b.errno).toBe(-E.EBADF);
    expect(fs.readdirSync(dir)).toEqual(['f']);
  });
});

describe.runIf(isLinux)('claimCreate statuses', () => {
  it('ok: a listening socket published at the name, identified by (dev, ino)', () => {
    const dir = freshDir();
    inDir(dir, (dirFd) => {
      const r = claim(dirFd, 's', 0o600, 4);
      expect(r.fd).toBeGreaterThanOrEqual(0);
      expect(typeof r.dev).toBe('bigint');
      const st = ident(path.join(dir, 's'));
      expect([st.dev, st.ino]).toEqual([r.dev, r.ino]);
      expect(fs.readdirSync(dir)).toEqual(['s']);
      // The fd is close-on-exec and non-blocking.
      const flags = parseInt(/^flags:\s+([0-7]+)$/m.exec(fs.readFileSync(`/proc/self/fdinfo/${r.fd}`, 'utf8'))![1], 8);
      expect(flags & fs.constants.O_NONBLOCK).toBe(fs.constants.O_NONBLOCK);
      expect(flags & 0o2000000).toBe(0o2000000); // O_CLOEXEC
      const c = addon.socketConnect(path.join(dir, 's'));
      addon.fdClose(c);
      addon.fdClose(r.fd);
    });
  });

  it.each([
    ['a regular file', 'file', (p: string) => fs.writeFileSync(p, 'precious')],
    ['a dangling symlink', 'symlink', (p: string) => fs.symlinkSync('/nonexistent/target', p)],
    ['a directory', 'directory', (p: string) => fs.mkdirSync(p)],
    ['a fifo', 'fifo', (p: string) => expect(spawnSync('mkfifo', [p]).status).toBe(0)],
  ] as Array<[string, string, (p: string) => void]>)('exists: %s at the name is reported and left alone', (_label, kind, make) => {
    const dir = freshDir();
    const p = path.join(dir, 'x');
    make(p);
    const before = ident(p);
    inDir(dir, (dirFd) => {
      expect(addon.claimCreate(dirFd, 'x', 0o666, 4, -1, SWEEP)).toEqual({ status: 'exists', kind });
    });
    expect(ident(p)).toEqual(before);
    if (kind === 'file') expect(fs.readFileSync(p, 'utf8')).toBe('precious');
    expect(fs.readdirSync(dir)).toEqual(['x']);
  });

  it.runIf(isRoot && hasPython)('exists: a device node is reported as kind device', () => {
    const dir = freshDir();
    const p = path.join(dir, 'x');
    const r = spawnSync('python3', ['-c', 'import os,stat,sys; os.mknod(sys.argv[1], stat.S_IFCHR | 0o600, os.makedev(1, 3))', p]);
    expect(r.status).toBe(0);
    inDir(dir, (dirFd) => expect(addon.claimCreate(dirFd, 'x', 0o600, 4, -1, 0)).toEqual({ status: 'exists', kind: 'device' }));
    expect(fs.lstatSync(p).isCharacterDevice()).toBe(true);
  });

  it('exists: a symlink to a live socket is not followed', () => {
    const dir = freshDir();
    inDir(dir, (dirFd) => {
      const target = claim(dirFd, 'target');
      fs.symlinkSync(path.join(dir, 'target'), path.join(dir, 'link'));
      expect(addon.claimCreate(dirFd, 'link', 0o600, 4, -1, 0)).toEqual({ status: 'exists', kind: 'symlink' });
      expect(fs.lstatSync(path.join(dir, 'link')).isSymbolicLink()).toBe(true);
      expect(ident(path.join(dir, 'target')).ino).toBe(target.ino);
      addon.fdClose(target.fd);
    });
    expect(fs.readdirSync(dir).sort()).toEqual(['link', 'target']);
  });

  it('live: a listening socket is left alone, its mode untouched, and still answers', () => {
    const dir = freshDir();
    inDir(dir, (dirFd) => {
      const first = claim(dirFd, 's', 0o600);
      expect(addon.claimCreate(dirFd, 's', 0o666, 4, -1, SWEEP)).toEqual({ status: 'live' });
      const st = ident(path.join(dir, 's'));
      expect([st.ino, Number(st.mode) & 0o7777]).toEqual([first.ino, 0o600]);
      const c = addon.socketConnect(path.join(dir, 's')); // the first server still answers
      addon.fdClose(c);
      addon.fdClose(first.fd);
    });
    expect(fs.readdirSync(dir)).toEqual(['s']);
  });

  it('ok: a dead socket is replaced, and the old inode is gone', () => {
    const dir = freshDir();
    const oldIno = deadSocket(dir, 's');
    inDir(dir, (dirFd) => {
      const r = claim(dirFd, 's', 0o660);
      expect(r.ino).not.toBe(oldIno);
      expect(addon.dirStatAt(dirFd, 's')).toMatchObject({ dev: r.dev, ino: r.ino });
      expect(fs.lstatSync(path.join(dir, 's')).mode & 0o7777).toBe(0o660);
      expect(fs.readdirSync(dir)).toEqual(['s']); // no grave, no staging name left
      const c = addon.socketConnect(path.join(dir, 's'));
      addon.fdClose(c);
      addon.fdClose(r.fd);
    });
  });

  it.runIf(hasPython).each(['SOCK_DGRAM', 'SOCK_SEQPACKET'])('wrongtype: a live %s socket at the name is left alone', async (type) => {
    const dir = freshDir();
    const p = path.join(dir, 'x');
    const child = spawnPython(
      `import socket, sys
s = socket.socket(socket.AF_UNIX, socket.${type})
s.bind(sys.argv[1])
${type === 'SOCK_SEQPACKET' ? 's.listen(4)\n' : ''}print('ready', flush=True)
sys.stdin.read()`,
      [p],
    );
    try {
      expect(await firstLine(child)).toBe('ready');
      const before = ident(p);
      inDir(dir, (dirFd) => {
        expect(addon.claimCreate(dirFd, 'x', 0o600, 4, -1, SWEEP)).toEqual({ status: 'wrongtype' });
      });
      expect(ident(p)).toEqual(before);
      expect(fs.readdirSync(dir)).toEqual(['x']);
    } finally {
      await stop(child);
    }
  });

  it('insecure: a world-writable directory without the sticky bit is refused before anything is made', () => {
    const dir = freshDir();
    fs.chmodSync(dir, 0o777);
    inDir(dir, (dirFd) => {
      expect(addon.claimCreate(dirFd, 's', 0o600, 4, -1, SWEEP)).toEqual({ status: 'insecure' });
      expect(addon.claimCreate(dirFd, 's', 0o600, 4, -1, NO_LOCK)).toEqual({ status: 'insecure' });
    });
    expect(fs.readdirSync(dir)).toEqual([]);
    // The sticky bit (like /tmp) makes it fine; so does write access for a group only.
    for (const mode of [0o1777, 0o770]) {
      fs.chmodSync(dir, mode);
      inDir(dir, (dirFd) => {
        const r = claim(dirFd, 's');
        addon.fdClose(r.fd);
        expect(addon.claimRelease(dirFd, 's', r.dev, r.ino)).toBe(true);
      });
    }
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it.runIf(isRoot)('denied: a socket this process may not connect to is left alone', () => {
    // nobody's directory, root's 0600 socket in it: nobody cannot tell whether it is in use.
    const dir = freshDir();
    fs.chownSync(dir, NOBODY, NOBODY);
    inDir(dir, (dirFd) => {
      const r = claim(dirFd, 's', 0o600);
      const before = ident(path.join(dir, 's'));
      const child = spawnSync(
        process.execPath,
        [
          '-e',
          `const b = require(process.argv[1]); const fd = b.dirOpen(process.argv[2]);
                console.log(JSON.stringify(b.claimCreate(fd, 's', 0o600, 4, -1, 0)))`,
          bindingPath,
          dir,
        ],
        { uid: NOBODY, gid: NOBODY, encoding: 'utf8' },
      );
      expect(child.stderr).toBe('');
      expect(JSON.parse(child.stdout)).toEqual({ status: 'denied' });
      expect(ident(path.join(dir, 's'))).toEqual(before);
      addon.fdClose(r.fd);
    });
    expect(fs.readdirSync(dir)).toEqual(['s']);
  });
});

describe.runIf(isLinux && hasPython)('the directory lock (contended, flag 2)', () => {
  // flock(2) on the directory, held by another process (flock locks belong to the open file
  // description, so another process's lock conflicts with ours, and so would another fd's).
  const locker = `import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
fcntl.flock(fd, fcntl.LOCK_EX)
print('locked', flush=True)
sys.stdin.read()`;

  it('a dead socket is not removed while another process holds the lock, and is once it is released', async () => {
    const dir = freshDir();
    const oldIno = deadSocket(dir, 's');
    const child = spawnPython(locker, [dir]);
    let released = false;
    try {
      expect(await firstLine(child)).toBe('locked');
      inDir(dir, (dirFd) => {
        expect(addon.claimCreate(dirFd, 's', 0o600, 4, -1, 0)).toEqual({ status: 'contended' });
        expect(addon.claimCreate(dirFd, 's', 0o600, 4, -1, SWEEP)).toEqual({ status: 'contended' });
        expect(ident(path.join(dir, 's')).ino).toBe(oldIno);
        // A free name needs no lock.
        const free = claim(dirFd, 'free');
        addon.fdClose(free.fd);
        expect(addon.claimRelease(dirFd, 'free', free.dev, free.ino)).toBe(true);
      });
      await stop(child);
      released = true;
      inDir(dir, (dirFd) => {
        const r = claim(dirFd, 's');
        expect(r.ino).not.toBe(oldIno);
        addon.fdClose(r.fd);
      });
    } finally {
      if (!released) await stop(child);
    }
    expect(fs.readdirSync(dir)).toEqual(['s']);
  });

  it('flag 2 (no lock) goes on without the lock: the dead socket is replaced, a live one still reported', async () => {
    const dir = freshDir();
    const oldIno = deadSocket(dir, 's');
    const child = spawnPython(locker, [dir]);
    try {
      expect(await firstLine(child)).toBe('locked');
      inDir(dir, (dirFd) => {
        const r = claim(dirFd, 's', 0o600, 4, -1, NO_LOCK);
        expect(r.ino).not.toBe(oldIno);
        expect(addon.claimCreate(dirFd, 's', 0o600, 4, -1, NO_LOCK | SWEEP)).toEqual({ status: 'live' });
        addon.fdClose(r.fd);
      });
    } finally {
      await stop(child);
    }
    expect(fs.readdirSync(dir)).toEqual(['s']);
  });
});

describe.runIf(isLinux)('flag 4: the route without sock_diag (bound inside a private stage)', () => {
  it('gives the exact mode and group, publishes, leaves no stage behind, and leaks no fd', () => {
    const dir = freshDir();
    const before = openFdCount();
    inDir(dir, (dirFd) => {
      for (const [mode, gid] of [
        [0o660, 65534],
        [0o600, -1],
        [0o666, -1],
      ] as const) {
        for (let i = 0; i < 50; i++) {
          const r = claim(dirFd, 's', mode, 4, gid, STAGE | SWEEP);
          const st = fs.lstatSync(path.join(dir, 's'), { bigint: true });
          expect(st.isSocket()).toBe(true);
          expect(Number(st.mode & 0o7777n)).toBe(mode);
          if (gid >= 0) expect(Number(st.gid)).toBe(gid);
          expect({ dev: st.dev, ino: st.ino }).toEqual({ dev: r.dev, ino: r.ino });
          expect(stagingLeftovers(dir)).toEqual([]);
          const c = addon.socketConnect(path.join(dir, 's'));
          addon.fdClose(c);
          addon.fdClose(r.fd);
          expect(addon.claimRelease(dirFd, 's', r.dev, r.ino)).toBe(true);
        }
      }
    });
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(openFdCount()).toBe(before);
  });
});

describe.runIf(isLinux && hasPython)('flag 1: sweeping what crashed claims left', () => {
  // What a claim leaves when its process dies half-way: a temporary socket `.ps-<pid>-XXXXXX`,
  // or a stage directory of that name holding a socket `s`. Here a Python process makes both
  // under its own pid and exits.
  const leftovers = `import os, socket, sys
d, pid = sys.argv[1], os.getpid()
a = socket.socket(socket.AF_UNIX); a.bind(f"{d}/.ps-{pid}-AbCde1"); a.listen(1)
os.mkdir(f"{d}/.ps-{pid}-AbCde2", 0o700)
b = socket.socket(socket.AF_UNIX); b.bind(f"{d}/.ps-{pid}-AbCde2/s")
# look-alikes that are not ours to remove
open(f"{d}/.ps-{pid}-AbCde3", "w").write("not a socket")
os.mkdir(f"{d}/.ps-{pid}-AbCde4", 0o700)
open(f"{d}/.ps-{pid}-AbCde4/s", "w").write("not a socket")
c = socket.socket(socket.AF_UNIX); c.bind(f"{d}/.ps-{pid}-toolong7")
print(pid, flush=True)`;

  it('removes dead temporary sockets and stage directories of dead processes, and nothing else', () => {
    const dir = freshDir();
    const r = spawnSync('python3', ['-c', leftovers, dir], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const pid = r.stdout.trim();
    const all = [`.ps-${pid}-AbCde1`, `.ps-${pid}-AbCde2`, `.ps-${pid}-AbCde3`, `.ps-${pid}-AbCde4`, `.ps-${pid}-toolong7`];
    expect(fs.readdirSync(dir).sort()).toEqual(all);
    inDir(dir, (dirFd) => {
      // Without the flag nothing is swept.
      const a = claim(dirFd, 'a');
      expect(fs.readdirSync(dir).sort()).toEqual([...all, 'a'].sort());
      const b = claim(dirFd, 'b', 0o600, 4, -1, SWEEP);
      expect(fs.readdirSync(dir).sort()).toEqual([`.ps-${pid}-AbCde3`, `.ps-${pid}-AbCde4`, `.ps-${pid}-toolong7`, 'a', 'b']);
      expect(fs.readFileSync(path.join(dir, `.ps-${pid}-AbCde4`, 's'), 'utf8')).toBe('not a socket');
      for (const x of [a, b]) addon.fdClose(x.fd);
    });
  });

  it('never touches the leftovers of a process that is still alive', async () => {
    const dir = freshDir();
    const child = spawnPython(`${leftovers}\nsys.stdin.read()`, [dir]);
    try {
      const pid = await firstLine(child);
      const before = fs.readdirSync(dir).sort();
      expect(before).toContain(`.ps-${pid}-AbCde1`);
      inDir(dir, (dirFd) => {
        const r = claim(dirFd, 's', 0o600, 4, -1, SWEEP);
        addon.fdClose(r.fd);
        expect(addon.claimRelease(dirFd, 's', r.dev, r.ino)).toBe(true);
      });
      expect(fs.readdirSync(dir).sort()).toEqual(before);
    } finally {
      await stop(child);
    }
  });
});

describe.runIf(isLinux)('claimRelease', () => {
  it('removes the socket only when (dev, ino) match', () => {
    const dir = freshDir();
    inDir(dir, (dirFd) => {
      const r = claim(dirFd, 's');
      expect(addon.claimRelease(dirFd, 's', r.dev + 1n, r.ino)).toBe(false);
      expect(addon.claimRelease(dirFd, 's', r.dev, r.ino + 1n)).toBe(false);
      expect(addon.claimRelease(dirFd, 'other', r.dev, r.ino)).toBe(false); // missing
      expect(ident(path.join(dir, 's')).ino).toBe(r.ino);
      expect(addon.claimRelease(dirFd, 's', r.dev, r.ino)).toBe(true);
      expect(fs.readdirSync(dir)).toEqual([]);
      expect(addon.claimRelease(dirFd, 's', r.dev, r.ino)).toBe(false); // gone already
      addon.fdClose(r.fd);
    });
  });

  it('a regular file at the name is never removed, even with its own (dev, ino)', () => {
    const dir = freshDir();
    const p = path.join(dir, 's');
    inDir(dir, (dirFd) => {
      const r = claim(dirFd, 's');
      addon.fdClose(r.fd);
      expect(addon.claimRelease(dirFd, 's', r.dev, r.ino)).toBe(true);
      fs.writeFileSync(p, 'precious'); // may even reuse the socket's inode number
      expect(addon.claimRelease(dirFd, 's', r.dev, r.ino)).toBe(false);
      const own = ident(p);
      expect(addon.claimRelease(dirFd, 's', own.dev, own.ino)).toBe(false);
    });
    expect(fs.readFileSync(p, 'utf8')).toBe('precious');
  });

  it('a socket that replaced ours, and a symlink to ours, are left alone', () => {
    const dir = freshDir();
    inDir(dir, (dirFd) => {
      const first = claim(dirFd, 's');
      addon.fdClose(first.fd); // dead: the next claim replaces it
      const second = claim(dirFd, 's');
      expect(addon.claimRelease(dirFd, 's', first.dev, first.ino)).toBe(false);
      expect(ident(path.join(dir, 's')).ino).toBe(second.ino);
      fs.symlinkSync(path.join(dir, 's'), path.join(dir, 'link'));
      expect(addon.claimRelease(dirFd, 'link', second.dev, second.ino)).toBe(false);
      expect(fs.lstatSync(path.join(dir, 'link')).isSymbolicLink()).toBe(true);
      expect(addon.claimRelease(dirFd, 's', second.dev, second.ino)).toBe(true);
      addon.fdClose(second.fd);
    });
    expect(fs.readdirSync(dir)).toEqual(['link']);
  });

  it('acts in the directory the fd names, even after the directory was renamed', () => {
    const dir = freshDir();
    const moved = dir + '-moved';
    inDir(dir, (dirFd) => {
      const r = claim(dirFd, 's');
      fs.renameSync(dir, moved);
      fs.mkdirSync(dir); // a new directory at the old path, with a socket of the same name
      const other = inDir(dir, (otherFd) => claim(otherFd, 's'));
      expect(addon.claimRelease(dirFd, 's', r.dev, r.ino)).toBe(true);
      expect(fs.readdirSync(moved)).toEqual([]);
      expect(ident(path.join(dir, 's')).ino).toBe(other.ino);
      for (const x of [r, other]) addon.fdClose(x.fd);
    });
  });
});

describe.runIf(isLinux)('dirOpen, dirMake, dirRemoveAt, dirStatAt, dirScan', () => {
  it('dirOpen follows a symlinked directory once (like /var/run -> /run)', () => {
    const real = freshDir();
    const link = real + '-link';
    fs.symlinkSync(real, link);
    inDir(link, (dirFd) => {
      const r = claim(dirFd, 's');
      expect(ident(path.join(real, 's')).ino).toBe(r.ino);
      addon.fdClose(r.fd);
    });
  });

  it('dirMake makes a new directory with exactly the mode, whatever the umask', () => {
    const dir = freshDir();
    const r = spawnSync(
      process.execPath,
      [
        '-e',
        `const [bindingPath, dir] = process.argv.slice(1);
              process.umask(0o077);
              const b = require(bindingPath), fs = require('fs'), out = {};
              for (const m of [0o700, 0o710, 0o711, 0o755, 0o777]) {
                const fd = b.dirMake(dir + '/m' + m, m);
                out[m] = [fs.lstatSync(dir + '/m' + m).mode & 0o7777, fs.fstatSync(fd).ino === fs.lstatSync(dir + '/m' + m).ino];
                b.fdClose(fd);
              }
              process.stdout.write(JSON.stringify(out));`,
        bindingPath,
        dir,
      ],
      { encoding: 'utf8' },
    );
    expect(r.stderr).toBe('');
    const got = JSON.parse(r.stdout) as Record<string, [number, boolean]>;
    for (const m of [0o700, 0o710, 0o711, 0o755, 0o777]) expect([m, got[m]]).toEqual([m, [m, true]]);
  });

  it('dirMake: EEXIST for a taken name (directory, file or symlink), ENOENT without a parent', () => {
    const dir = freshDir();
    fs.mkdirSync(path.join(dir, 'd'));
    fs.writeFileSync(path.join(dir, 'f'), '');
    fs.symlinkSync(path.join(dir, 'd'), path.join(dir, 'l'));
    for (const n of ['d', 'f', 'l']) {
      const e = caught(() => addon.dirMake(path.join(dir, n), 0o700));
      expect([n, e.code, e.syscall, e.path]).toEqual([n, 'EEXIST', 'mkdir', path.join(dir, n)]);
    }
    expect(caught(() => addon.dirMake(path.join(dir, 'missing', 'x'), 0o700)).code).toBe('ENOENT');
    expect(fs.readdirSync(dir).sort()).toEqual(['d', 'f', 'l']);
  });

  it('dirRemoveAt removes the directory the fd holds, only if it is still at the name and empty', () => {
    const dir = freshDir();
    inDir(dir, (parent) => {
      const a = addon.dirMake(path.join(dir, 'a'), 0o700);
      expect(addon.dirRemoveAt(parent, 'a', a)).toBe(true);
      expect(fs.existsSync(path.join(dir, 'a'))).toBe(false);
      expect(addon.dirRemoveAt(parent, 'a', a)).toBe(false); // gone
      addon.fdClose(a);

      const b = addon.dirMake(path.join(dir, 'b'), 0o700);
      fs.renameSync(path.join(dir, 'b'), path.join(dir, 'b-moved'));
      fs.mkdirSync(path.join(dir, 'b')); // someone else's directory at the name now
      expect(addon.dirRemoveAt(parent, 'b', b)).toBe(false);
      expect(fs.existsSync(path.join(dir, 'b'))).toBe(true);
      fs.renameSync(path.join(dir, 'b-moved'), path.join(dir, 'b2'));
      fs.writeFileSync(path.join(dir, 'b2', 'file'), ''); // ours, but not empty
      expect(addon.dirRemoveAt(parent, 'b2', b)).toBe(false);
      expect(fs.readdirSync(path.join(dir, 'b2'))).toEqual(['file']);
      addon.fdClose(b);

      const closed = addon.dirOpen(dir);
      addon.fdClose(closed);
      expect(caught(() => addon.dirRemoveAt(parent, 'b', closed)).code).toBe('EBADF');
    });
    expect(fs.readdirSync(dir).sort()).toEqual(['b', 'b2']);
  });

  it('dirStatAt is lstat relative to the fd: null when missing, symlinks not followed', () => {
    const dir = freshDir();
    fs.writeFileSync(path.join(dir, 'f'), '');
    fs.symlinkSync(path.join(dir, 'f'), path.join(dir, 'l'));
    inDir(dir, (dirFd) => {
      for (const n of ['f', 'l']) {
        const want = fs.lstatSync(path.join(dir, n), { bigint: true });
        expect(addon.dirStatAt(dirFd, n)).toEqual({ dev: want.dev, ino: want.ino, mode: Number(want.mode), uid: Number(want.uid), gid: Number(want.gid) });
      }
      expect(addon.dirStatAt(dirFd, 'missing')).toBeNull();
    });
    const fileFd = fs.openSync(path.join(dir, 'f'), 'r');
    const e = caught(() => addon.dirStatAt(fileFd, 'x'));
    expect(e.code).toBe('ENOTDIR');
    expect(e.syscall).toBe('fstatat');
    fs.closeSync(fileFd);
  });

  it('dirScan lists the directories named with the prefix, among the first maxScanned entries, and holds no fd after', () => {
    const dir = freshDir();
    for (const n of ['px-a', 'px-b', 'px-c', 'other', 'p']) fs.mkdirSync(path.join(dir, n));
    fs.writeFileSync(path.join(dir, 'px-file'), '');
    fs.symlinkSync(path.join(dir, 'px-a'), path.join(dir, 'px-link'));
    const fds = fs.readdirSync('/proc/self/fd').length;
    expect(addon.dirScan(dir, 'px-', 100).sort()).toEqual(['px-a', 'px-b', 'px-c']);
    // Bounded by entries read, whatever their names: readdir's own order decides which.
    const order = fs.readdirSync(dir).slice(0, 4);
    expect(addon.dirScan(dir, 'px-', 4).sort()).toEqual(order.filter((n) => /^px-[abc]$/.test(n)).sort());
    expect(addon.dirScan(dir, 'px-', 0)).toEqual([]);
    expect(fs.readdirSync('/proc/self/fd').length).toBe(fds);
    const missing = caught(() => addon.dirScan(path.join(dir, 'missing'), 'px-', 10));
    expect(missing.code).toBe('ENOENT');
    expect(missing.syscall).toBe('open');
    const notDir = caught(() => addon.dirScan(path.join(dir, 'px-file'), 'px-', 10));
    expect(notDir.code).toBe('ENOTDIR');
    expect(fs.readdirSync('/proc/self/fd').length).toBe(fds);
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
    fs.chmodSync(dir, 0o777); // the child may be "nobody"
    const sock = path.join(dir, 'child.sock');
    const child = spawnNode(childServer, [sock]);
    expect(await firstLine(child)).toBe('ready');
    return { child, sock };
  }

  it("peerCred of a connection to a child gives the child's pid/uid/gid", async () => {
    const { child, sock } = await childListening();
    const c = addon.socketConnect(sock);
    const cred = addon.peerCred(c);
    expect(cred.pid).toBe(child.pid);
    expect(cred.uid).toBe(isRoot ? NOBODY : process.getuid!());
    expect(cred.gid).toBe(isRoot ? NOBODY : process.getgid!());
    // libuv drops supplementary groups when it sets uid/gid.
    if (cred.groups !== null) expect(Array.isArray(cred.groups)).toBe(true);
    if (cred.groups !== null && isRoot) expect(cred.groups).toEqual([]);
    addon.fdClose(c);
    child.stdin!.end();
    await exited(child);
  });

  it('peerCred on the accepting side names the connecting child', async () => {
    const dir = freshDir();
    fs.chmodSync(dir, 0o1777); // others may enter; 0777 without the sticky bit is refused
    const r = inDir(dir, (dirFd) => claim(dirFd, 's', 0o666));
    const server = net.createServer();
    await new Promise<void>((res) => server.listen({ fd: r.fd }, res));
    const accepted = new Promise<net.Socket>((res) => server.once('connection', res));
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
    await new Promise((res) => server.close(res));
  });

  it('peerPidfd gives a pidfd that turns dead once the child exits', async () => {
    const { child, sock } = await childListening();
    const c = addon.socketConnect(sock);
    const pidfd = addon.peerPidfd(c);
    if (pidfd === -1) return; // kernel before 6.5: nothing more to check
    expect(pidfd).toBeGreaterThanOrEqual(0);
    // The kernel opens pidfds O_CLOEXEC, and /proc says which pid it is.
    expect(fs.readFileSync(`/proc/self/fdinfo/${pidfd}`, 'utf8')).toMatch(new RegExp(`^Pid:\\s+${child.pid}$`, 'm'));
    expect(addon.pidfdIsAlive(pidfd)).toBe(true);
    child.stdin!.end();
    await exited(child); // 'exit' comes after libuv reaped it
    expect(addon.pidfdIsAlive(pidfd)).toBe(false);
    addon.fdClose(pidfd);
    addon.fdClose(c);
    const e = caught(() => addon.pidfdIsAlive(c)); // a socket is no pidfd
    expect(e.code).toBe('EBADF');
  });
});

describe.runIf(isLinux)('no fd leaks, no leftovers', () => {
  it('1000 claim/connect/close/release cycles (short and long paths, error paths) leave no fd', () => {
    const short = freshDir();
    const long = longDir();
    const shortFd = addon.dirOpen(short);
    const longFd = addon.dirOpen(long);
    const before = openFdCount();
    for (let i = 0; i < 1000; i++) {
      const [dir, dirFd] = i % 2 ? [long, longFd] : [short, shortFd];
      const name = `s${i}`;
      const r = claim(dirFd, name);
      const c = addon.socketConnect(path.join(dir, name));
      if (i % 100 === 0) {
        const pidfd = addon.peerPidfd(c);
        if (pidfd >= 0) addon.fdClose(pidfd);
        addon.peerCred(c);
      }
      // Paths that refuse must close what they opened too.
      expect(addon.claimCreate(dirFd, name, 0o600, 4, -1, 0).status).toBe('live');
      addon.fdClose(c);
      addon.fdClose(r.fd);
      caught(() => addon.socketConnect(path.join(dir, name))); // ECONNREFUSED
      caught(() => addon.socketConnect(path.join(dir, `missing${i}`))); // ENOENT
      expect(addon.claimRelease(dirFd, name, r.dev, r.ino)).toBe(true);
    }
    expect(openFdCount()).toBe(before);
    addon.fdClose(shortFd);
    addon.fdClose(longFd);
    expect(fs.readdirSync(short)).toEqual([]);
    expect(fs.readdirSync(long)).toEqual([]);
  });

  it('200 claim/release cycles through every status leave no fd and no .ps-* entry', () => {
    const dir = freshDir();
    fs.writeFileSync(path.join(dir, 'file'), '');
    const before = openFdCount();
    inDir(dir, (dirFd) => {
      for (let i = 0; i < 200; i++) {
        const r = claim(dirFd, 's', 0o660, 4, -1, i % 2 ? SWEEP : 0);
        expect(addon.claimCreate(dirFd, 's', 0o660, 4, -1, SWEEP).status).toBe('live');
        expect(addon.claimCreate(dirFd, 'file', 0o660, 4, -1, 0).status).toBe('exists');
        addon.fdClose(r.fd);
        if (i % 3 === 0) {
          // Dead now: the next claim replaces it (grave stage made and removed).
          const again = claim(dirFd, 's', 0o660, 4, -1, NO_LOCK);
          addon.fdClose(again.fd);
          expect(addon.claimRelease(dirFd, 's', r.dev, r.ino)).toBe(false);
          expect(addon.claimRelease(dirFd, 's', again.dev, again.ino)).toBe(true);
        } else {
          expect(addon.claimRelease(dirFd, 's', r.dev, r.ino)).toBe(true);
        }
        expect(stagingLeftovers(dir)).toEqual([]);
      }
    });
    expect(openFdCount()).toBe(before);
    expect(fs.readdirSync(dir)).toEqual(['file']);
  });
});
