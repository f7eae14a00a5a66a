/**
 * startPlugin removes only a socket its own child made in the directory it gave the child
 * (issue 12). Hostile plugins name third parties' sockets, dead and live (racing a symlink flip),
 * in another directory and in the caller's socketDir: none is removed. Every error path (the
 * AutoMTLS version mismatch included) leaves no private directory, and kill() removes what a
 * plugin left without holding an fd after. The fallback (no addon) keeps to the same rules.
 */
import { spawn } from 'node:child_process';
import { existsSync, linkSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { distPath, fdCountSettles, goplugin, makeDeadSocket, openFdCount, plugsock, removeDir, runNode, tempDir } from '../kit';
import { COOKIE, NODE_PLUGIN } from '../interop/peers';

const gp = goplugin;
type StartOptions = import('../../src/goplugin/index').StartPluginOptions;

// A TMPDIR of this file's own, so "no plugsock-gp-* left" is exact while other files run.
let tmp = '';
const savedTmp = process.env.TMPDIR;
beforeAll(() => {
  tmp = tempDir('plugsock-cleanup-');
  process.env.TMPDIR = tmp;
});
afterAll(() => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  removeDir(tmp);
});
const privateDirs = () => readdirSync(tmp).filter((n) => n.startsWith('plugsock-gp-'));

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A live socket served by this process (a third party to the plugin). */
async function liveSocket(path: string): Promise<void> {
  const server = createServer((c) => c.destroy());
  servers.push(server);
  await new Promise<void>((r) => server.listen(path, r));
}

function connectable(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** A plugin that prints `line` as its handshake and waits to be killed (sh execs sleep: one process). */
function hostile(line: string, extra: Partial<StartOptions> = {}): StartOptions {
  return {
    command: '/bin/sh',
    args: ['-c', 'printf "%s\\n" "$LINE"; exec sleep 60'],
    env: { ...process.env, LINE: line },
    ...COOKIE,
    startTimeoutMs: 10_000,
    ...extra,
  };
}

/**
 * A plugin that makes a real socket in the directory it was given and answers with app version
 * 99 (and an AutoMTLS certificate when the host sent one); it reports the socket on stderr.
 */
function versionMismatch(extra: Partial<StartOptions> = {}): StartOptions {
  const cert = gp.generateAutoMtlsCert().handshakeField;
  const script = `
    const p = require('path').join(process.env.PLUGIN_UNIX_SOCKET_DIR, 'plugin4242');
    require('net').createServer().listen(p, () => {
      console.error('SOCKET ' + p);
      console.log('1|99|unix|' + p + '|grpc|' + (process.env.PLUGIN_CLIENT_CERT ? ${JSON.stringify(cert)} : ''));
    });`;
  return { command: process.execPath, args: ['-e', script], ...COOKIE, startTimeoutMs: 10_000, ...extra };
}

/** Removal in the caller's socketDir needs the addon's confirmation: say so, not a file list. */
function expectNative(): void {
  const caps = plugsock.capabilities();
  expect(caps.native, `native addon not loaded: ${caps.reason}`).toBe(true);
}

const reportedSocket = (err: Error): string => /SOCKET (\S+)/.exec(err.message)![1]!;

async function rejection(p: Promise<unknown>): Promise<Error & { code: string }> {
  const err = await p.then(
    () => null,
    (e: Error & { code: string }) => e,
  );
  if (!err) throw new Error('startPlugin resolved; expected a rejection');
  return err;
}

describe('startPlugin never removes a socket outside the directory it gave the child', () => {
  it.each([99, 1])(
    'a handshake (app version %i) naming a dead socket in another directory leaves it',
    async (version) => {
      const dir = tempDir();
      try {
        const path = join(dir, 'dead.sock');
        makeDeadSocket(path);
        const ino = lstatSync(path).ino;
        const err = await rejection(gp.startPlugin(hostile(`1|${version}|unix|${path}|grpc|`)));
        expect(err.code).toBe(version === 99 ? 'ERR_UNSUPPORTED_VERSION' : 'ERR_CONNECT_TIMEOUT');
        expect(lstatSync(path).ino).toBe(ino);
        expect(privateDirs()).toEqual([]);
      } finally {
        removeDir(dir);
      }
    },
    20_000,
  );

  it('a live socket survives hostile handshakes racing a symlink flip between it and a dead one', async () => {
    const live = tempDir();
    const attack = tempDir();
    const racer = spawn(
      process.execPath,
      [
        '-e',
        `
      const fs = require('fs');
      const [flip, a, b] = process.argv.slice(1);
      for (let i = 0; ; i++) {
        try { fs.symlinkSync(i % 2 ? b : a, flip + '.tmp'); fs.renameSync(flip + '.tmp', flip); } catch {}
      }`,
        join(attack, 'd'),
        join(attack, 'deaddir'),
        live,
      ],
      { stdio: 'ignore' },
    );
    try {
      const livePath = join(live, 's.sock');
      await liveSocket(livePath);
      const ino = lstatSync(livePath).ino;
      // The attacker's dead socket, under the same name, and a spare link to put it back with.
      mkdirSync(join(attack, 'deaddir'));
      const deadPath = join(attack, 'deaddir', 's.sock');
      makeDeadSocket(deadPath);
      linkSync(deadPath, join(attack, 'spare.sock'));
      const line = `1|99|unix|${join(attack, 'd', 's.sock')}|grpc|`;
      const deadline = Date.now() + 15_000;
      let starts = 0;
      while (starts < 400 && Date.now() < deadline) {
        const round = await Promise.all(Array.from({ length: 4 }, () => rejection(gp.startPlugin(hostile(line)))));
        starts += round.length;
        for (const err of round) expect(err.code).toBe('ERR_UNSUPPORTED_VERSION');
        expect(existsSync(livePath) && lstatSync(livePath).ino).toBe(ino);
        if (!existsSync(deadPath)) linkSync(join(attack, 'spare.sock'), deadPath);
      }
      expect(starts).toBeGreaterThanOrEqual(40);
      expect(await connectable(livePath)).toBe(true);
      expect(privateDirs()).toEqual([]);
    } finally {
      racer.kill('SIGKILL');
      removeDir(attack);
      removeDir(live);
    }
  }, 40_000);

  it("in the caller's socketDir, a handshake naming a socket the plugin did not make leaves it", async () => {
    const socketDir = tempDir();
    try {
      const dead = join(socketDir, 'plugin-dead');
      const live = join(socketDir, 'plugin-live');
      makeDeadSocket(dead);
      await liveSocket(live);
      const before = [lstatSync(dead).ino, lstatSync(live).ino];
      for (const [path, version, code] of [
        [dead, 99, 'ERR_UNSUPPORTED_VERSION'],
        [live, 99, 'ERR_UNSUPPORTED_VERSION'],
        [live, 1, 'ERR_PEER_MISMATCH'],
      ] as const) {
        const err = await rejection(gp.startPlugin(hostile(`1|${version}|unix|${path}|grpc|`, { socketDir })));
        expect(err.code).toBe(code);
      }
      expect([lstatSync(dead).ino, lstatSync(live).ino]).toEqual(before);
      expect(await connectable(live)).toBe(true);
    } finally {
      removeDir(socketDir);
    }
  });
});

describe('every error path cleans up what the child made', () => {
  it('AutoMTLS and a version mismatch: no plugsock-gp-* directory and no socket are left', async () => {
    const err = await rejection(gp.startPlugin(versionMismatch({ autoMTLS: true })));
    expect(err.code).toBe('ERR_UNSUPPORTED_VERSION');
    const socket = reportedSocket(err);
    expect(dirname(socket)).toMatch(/\/plugsock-gp-[^/]+$/);
    expect(existsSync(socket)).toBe(false);
    expect(existsSync(dirname(socket))).toBe(false);
    expect(privateDirs()).toEqual([]);
  });

  it("AutoMTLS and a version mismatch in the caller's socketDir: the child's socket is removed, the directory stays", async () => {
    expectNative();
    const socketDir = tempDir();
    try {
      const err = await rejection(gp.startPlugin(versionMismatch({ autoMTLS: true, socketDir })));
      expect(err.code).toBe('ERR_UNSUPPORTED_VERSION');
      expect(dirname(reportedSocket(err))).toBe(socketDir);
      expect(readdirSync(socketDir)).toEqual([]);
    } finally {
      removeDir(socketDir);
    }
  });
});

describe('kill() removes what a well-behaved plugin left, and holds no fd after', () => {
  const start = (extra: Partial<StartOptions> = {}) =>
    gp.startPlugin({ command: process.execPath, args: [NODE_PLUGIN], ...COOKIE, startTimeoutMs: 10_000, ...extra });

  beforeAll(async () => {
    // Warm-up: the first start loads grpc-js and opens what a process keeps for good.
    await (await start()).kill();
  });

  it.each([
    ['SIGKILLed after a zero grace period', 0],
    ['shut down gracefully', 2000],
  ])('private directory, plugin %s: socket and directory are gone', async (_how, killGraceMs) => {
    const fds = openFdCount();
    const p = await start({ killGraceMs });
    expect(lstatSync(p.address).isSocket()).toBe(true);
    await p.kill();
    expect((await p.exited).signal).toBe(killGraceMs === 0 ? 'SIGKILL' : null);
    expect(existsSync(p.address)).toBe(false);
    expect(existsSync(dirname(p.address))).toBe(false);
    expect(privateDirs()).toEqual([]);
    expect(await fdCountSettles(fds)).toBe(fds);
  });

  it("caller's socketDir, plugin SIGKILLed: its socket is removed, the directory and a neighbour stay", async () => {
    expectNative();
    const socketDir = tempDir();
    try {
      const neighbour = join(socketDir, 'plugin-neighbour');
      makeDeadSocket(neighbour);
      const fds = openFdCount();
      const p = await start({ killGraceMs: 0, socketDir });
      expect(dirname(p.address)).toBe(socketDir);
      await p.kill();
      expect(await p.exited).toEqual({ code: null, signal: 'SIGKILL' });
      expect(readdirSync(socketDir)).toEqual(['plugin-neighbour']);
      expect(await fdCountSettles(fds)).toBe(fds);
    } finally {
      removeDir(socketDir);
    }
  });
});

describe('without the addon (PLUGSOCK_DISABLE_ADDON=1 in the host)', () => {
  it("removes the private directory's socket by path, and nothing in the caller's socketDir", async () => {
    const socketDir = tempDir();
    try {
      const dead = join(socketDir, 'plugin-dead');
      makeDeadSocket(dead);
      const ino = lstatSync(dead).ino;
      const script = `
        const gp = require(${JSON.stringify(distPath('goplugin', 'index.js'))});
        const cookie = ${JSON.stringify(COOKIE)};
        const env = { ...process.env }; delete env.PLUGSOCK_DISABLE_ADDON; // the plugin has it
        (async () => {
          const hostile = await gp.startPlugin({ command: '/bin/sh', args: ['-c', 'printf "%s\\\\n" "$LINE"; exec sleep 60'],
            env: { ...env, LINE: '1|99|unix|${dead}|grpc|' }, socketDir: ${JSON.stringify(socketDir)}, ...cookie }).catch((e) => e.code);
          const p = await gp.startPlugin({ command: process.execPath, args: [${JSON.stringify(NODE_PLUGIN)}], env, ...cookie, killGraceMs: 0 });
          await p.kill();
          console.log(JSON.stringify({ hostile, address: p.address, signal: (await p.exited).signal }));
        })().catch((e) => console.log('FAILED ' + e.code + ' ' + e.message));`;
      const r = await runNode(script, { env: { ...process.env, PLUGSOCK_DISABLE_ADDON: '1' } }).done;
      const out = JSON.parse(r.stdout.trim()) as { hostile: string; address: string; signal: string };
      expect(out).toMatchObject({ hostile: 'ERR_UNSUPPORTED_VERSION', signal: 'SIGKILL' });
      expect(lstatSync(dead).ino).toBe(ino);
      expect(existsSync(out.address)).toBe(false);
      expect(existsSync(dirname(out.address))).toBe(false);
      expect(privateDirs()).toEqual([]);
    } finally {
      removeDir(socketDir);
    }
  });
});
