// The sweep of generated paths' private directories left by killed processes
// (src/claim/generated-sweep.ts): real processes killed with SIGKILL, real directories, a second
// user. Every process here gets its own TMPDIR, so directories that other test files leave in
// /tmp cannot use up the sweep's bound or be touched by it.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Binding } from '../src/addon';
import { cannotRun, isRoot, NOBODY, root, runNode, tempDirEach, waitForLine, type Started } from './kit';

const isLinux = process.platform === 'linux';
const addon = require('node-gyp-build')(root) as Binding;

/** A child listening on a generated path under `tmp` until its stdin ends; `path` once it listens. */
async function listener(tmp: string, user: { uid: number; gid: number } | null = null): Promise<{ started: Started; path: string }> {
  const started = runNode(
    `const t = new plugsock.UnixSocketTransport({ native: 'require', mode: 0o666 });
     t.on('connection', (s) => s.on('error', () => {}).end('alive'));
     t.listen().then(() => console.log('LISTENING ' + t.path));
     process.stdin.on('end', () => t.close());
     process.stdin.resume();`,
    { env: { ...process.env, TMPDIR: tmp }, ...(user ?? {}) },
  );
  const [, path] = await waitForLine(started.child, /^LISTENING (.*)$/);
  return { started, path };
}

/** A generated directory left behind: its listener was killed with SIGKILL. */
async function killedListener(tmp: string, user: { uid: number; gid: number } | null = null): Promise<string> {
  const { started, path } = await listener(tmp, user);
  started.child.kill('SIGKILL');
  await started.done;
  const dir = dirname(path);
  expect(readdirSync(dir)).toEqual(['plugsock.sock']);
  expect(lstatSync(join(dir, 'plugsock.sock')).isSocket()).toBe(true);
  return dir;
}

/**
 * A fresh process that listens on generated paths under `tmp` (`listens` of them, one after the
 * other, waiting for a line on stdin between them), then closes and exits.
 */
async function sweeper(tmp: string, options: { user?: { uid: number; gid: number }; between?: () => void } = {}): Promise<void> {
  const started = runNode(
    `const readline = require('readline');
     const lines = readline.createInterface({ input: process.stdin });
     const next = () => new Promise((r) => lines.once('line', r));
     (async () => {
       const a = new plugsock.UnixSocketTransport({ native: 'require' });
       await a.listen();
       console.log('FIRST');
       await next();
       const b = new plugsock.UnixSocketTransport({ native: 'require' });
       await b.listen();
       await a.close();
       await b.close();
       console.log('DONE');
       process.exit(0);
     })().catch((e) => { console.error(e); process.exit(1); });`,
    { env: { ...process.env, TMPDIR: tmp }, ...(options.user ?? {}) },
  );
  await waitForLine(started.child, /^FIRST$/);
  options.between?.();
  started.child.stdin!.write('go\n');
  const result = await started.done;
  expect(result.stdout + result.stderr).toContain('DONE');
  expect(result.code).toBe(0);
}

/** A pid no process has now: a child that already exited. */
function deadPid(): number {
  const r = spawnSync('true');
  expect(r.status).toBe(0);
  return r.pid;
}

/** The start time /proc/<pid>/stat gives (field 22). */
function startTime(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
}

/** A directory named as a generated one of `pid`/`start`, with `mode`; optionally a dead socket in it. */
function fakeGenerated(tmp: string, pid: number, start: number, options: { mode?: number; deadSocket?: boolean } = {}): string {
  const dir = join(tmp, `plugsock-${pid}-${start}-${randomBytes(12).toString('base64url')}`);
  mkdirSync(dir);
  chmodSync(dir, options.mode ?? 0o700);
  if (options.deadSocket) deadSocketAt(dir, 'plugsock.sock');
  return dir;
}

/** A socket file nobody listens on (bound and listened, then the socket closed, the name kept). */
function deadSocketAt(dir: string, name: string): void {
  const dirFd = addon.dirOpen!(dir);
  try {
    const r = addon.claimCreate!(dirFd, name, 0o600, 1, -1, 0);
    if (r.status !== 'ok') throw new Error(JSON.stringify(r));
    addon.fdClose(r.fd);
  } finally {
    addon.fdClose(dirFd);
  }
  expect(lstatSync(join(dir, name)).isSocket()).toBe(true);
}

function entries(tmp: string): string[] {
  return readdirSync(tmp).sort();
}

function connectReply(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const s = createConnection(path);
    s.on('data', (d) => (got += d));
    s.on('end', () => resolve(got));
    s.on('error', reject);
  });
}

describe.runIf(isLinux)('generated paths: the sweep of directories that killed processes left', () => {
  const tmp = tempDirEach('plugsock-gsweep-');

  it('a generated path is named after its creator: plugsock-<pid>-<start time>-<random>', async () => {
    const { started, path } = await listener(tmp());
    const m = basename(dirname(path)).match(/^plugsock-(\d+)-(\d+)-([A-Za-z0-9_-]{16})$/);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBe(started.child.pid);
    expect(Number(m![2])).toBe(startTime(started.child.pid!));
    started.child.stdin!.end();
    await started.done;
    expect(entries(tmp())).toEqual([]);
  });

  it("the directory of a listener killed with SIGKILL stays, and the next process's first generated listen() removes it", async () => {
    const left = await killedListener(tmp());
    expect(entries(tmp())).toEqual([basename(left)]);
    await sweeper(tmp());
    expect(existsSync(left)).toBe(false);
    expect(entries(tmp())).toEqual([]); // the sweeper's own directories went with close()
  });

  it('a live listener keeps its directory and keeps serving', async () => {
    const live = await listener(tmp());
    const left = await killedListener(tmp());
    await sweeper(tmp());
    expect(existsSync(left)).toBe(false);
    expect(readdirSync(dirname(live.path))).toEqual(['plugsock.sock']);
    expect(await connectReply(live.path)).toBe('alive');
    live.started.child.stdin!.end();
    expect((await live.started.done).code).toBe(0);
    expect(entries(tmp())).toEqual([]);
  });

  it('a dead creator whose socket still listens (a listener handed to another process) keeps its directory', async () => {
    const dir = fakeGenerated(tmp(), deadPid(), 0);
    const server: Server = createServer((s) => s.on('error', () => {}).end('handed on'));
    await new Promise<void>((r) => server.listen(join(dir, 'plugsock.sock'), r));
    try {
      await sweeper(tmp());
      expect(readdirSync(dir)).toEqual(['plugsock.sock']);
      expect(await connectReply(join(dir, 'plugsock.sock'))).toBe('handed on');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("another user's directory is kept; that user's own next listen() removes it", async () => {
    if (!isRoot && cannotRun('needs root to run a child as another user')) return;
    chmodSync(tmp(), 0o1777); // like /tmp: both users may create, neither may remove the other's
    const theirs = await killedListener(tmp(), NOBODY);
    expect(lstatSync(theirs).uid).toBe(NOBODY.uid);
    await sweeper(tmp()); // root
    expect(readdirSync(theirs)).toEqual(['plugsock.sock']);
    const ours = await killedListener(tmp());
    await sweeper(tmp(), { user: NOBODY });
    expect(existsSync(theirs)).toBe(false);
    expect(readdirSync(ours)).toEqual(['plugsock.sock']); // root's, so not nobody's to remove
    await sweeper(tmp());
    expect(entries(tmp())).toEqual([]);
  });

  it.each([
    ['a regular file', (dir: string) => writeFileSync(join(dir, 'notes.txt'), 'keep me')],
    ['a directory', (dir: string) => mkdirSync(join(dir, 'sub'))],
    ['a socket of another name', (dir: string) => deadSocketAt(dir, 'other.sock')],
    ['a symlink named as the socket', (dir: string) => symlinkSync('/dev/null', join(dir, '.ps-1-abcdef'))],
  ])('a directory holding %s besides its socket is kept, all of it', async (_what, add) => {
    const left = await killedListener(tmp());
    add(left);
    const before = entries(left);
    await sweeper(tmp());
    expect(entries(left)).toEqual(before);
    expect(lstatSync(join(left, 'plugsock.sock')).isSocket()).toBe(true);
  });

  it('a symlink named like a generated directory is not followed: neither it nor what it points to is touched', async () => {
    const left = await killedListener(tmp());
    const target = join(tmp(), 'target');
    renameSync(left, target);
    symlinkSync(target, left); // plugsock-<dead pid>-<start>-<random> -> a dead generated directory
    await sweeper(tmp());
    expect(lstatSync(left).isSymbolicLink()).toBe(true);
    expect(readdirSync(target)).toEqual(['plugsock.sock']);
    expect(lstatSync(join(target, 'plugsock.sock')).isSocket()).toBe(true);
  });

  it('a live pid that started over a second apart is a reused pid: its directory goes; with its own start time (within a second), or none recorded, it stays', async () => {
    const me = process.pid;
    const reused = fakeGenerated(tmp(), me, startTime(me) + 101, { deadSocket: true });
    const reusedEmpty = fakeGenerated(tmp(), me, 1);
    const mine = fakeGenerated(tmp(), me, startTime(me), { deadSocket: true });
    // Within a second (100 ticks) counts as the same process: emulators report a few ticks off.
    const near = fakeGenerated(tmp(), me, startTime(me) - 100, { deadSocket: true });
    const unknown = fakeGenerated(tmp(), me, 0, { deadSocket: true });
    await sweeper(tmp());
    expect(existsSync(reused)).toBe(false);
    expect(existsSync(reusedEmpty)).toBe(false);
    for (const dir of [mine, near, unknown]) expect(readdirSync(dir)).toEqual(['plugsock.sock']);
  });

  it('only the modes a generated directory has (0700, 0710, 0701, 0711) qualify', async () => {
    const pid = deadPid();
    const kept = [0o755, 0o770, 0o600, 0o1700, 0o2710].map((mode) => fakeGenerated(tmp(), pid, 0, { mode, deadSocket: true }));
    const removed = [0o700, 0o710, 0o701, 0o711].map((mode) => fakeGenerated(tmp(), pid, 0, { mode, deadSocket: true }));
    await sweeper(tmp());
    for (const dir of kept) expect(readdirSync(dir)).toEqual(['plugsock.sock']);
    for (const dir of removed) expect(existsSync(dir)).toBe(false);
  });

  it('names not exactly of the generated form are never examined', async () => {
    const pid = deadPid();
    const random = randomBytes(12).toString('base64url');
    const names = [
      `plugsock-${random}`,
      `plugsock-${pid}-0-${random}x`,
      `plugsock-${pid}-0-${random.slice(1)}`,
      `plugsock-0${pid}-0-${random}`,
      `xplugsock-${pid}-0-${random}`,
    ];
    for (const name of names) {
      mkdirSync(join(tmp(), name), { mode: 0o700 });
      deadSocketAt(join(tmp(), name), 'plugsock.sock');
    }
    await sweeper(tmp());
    expect(entries(tmp())).toEqual([...names].sort());
  });

  it('bounded: one process removes at most 16, and sweeps once (its later listen() does not)', async () => {
    const pid = deadPid();
    for (let i = 0; i < 20; i++) fakeGenerated(tmp(), pid, 0, { deadSocket: i % 2 === 0 });
    let late = '';
    await sweeper(tmp(), { between: () => (late = fakeGenerated(tmp(), pid, 0)) });
    expect(existsSync(late)).toBe(true);
    expect(entries(tmp())).toHaveLength(4 + 1);
    await sweeper(tmp());
    expect(entries(tmp())).toEqual([]);
  });
});
