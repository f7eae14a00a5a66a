/**
 * `await using` on the go-plugin handles, with real processes: a plugin started with
 * startPlugin ends (Shutdown, exit 0, private socket directory removed) when its block is left,
 * normally or by a throw; a plugin served in-process stops serving (socket removed, `closed`
 * settled). The published declarations make `await using` compile (test/types/goplugin-dispose.ts,
 * whose control case shows the compiler checks it). Drives the built package (dist/).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cannotRun, goplugin as gp, pidExists, root, scratchDirs } from './kit';

const KV_PLUGIN = join(root, 'test', 'fixtures', 'goplugin-node-plugin.mjs');
const COOKIE = { magicCookieKey: 'PLUGSOCK_INTEROP_COOKIE', magicCookieValue: 'kv-3b1f9e' };
const scratch = scratchDirs('plugsock-gpdispose-').make;

// A TMPDIR of the test's own, where startPlugin's private socket directory is seen to go.
let tmp = '';
const savedTmpdir = process.env.TMPDIR;
beforeEach(() => {
  tmp = scratch();
  process.env.TMPDIR = tmp;
});
afterEach(() => {
  if (savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpdir;
});

const startKv = () => gp.startPlugin({ command: process.execPath, args: [KV_PLUGIN, '{}'], ...COOKIE });

describe('await using', () => {
  it('the key is Node’s Symbol.asyncDispose (Node 20/22: its polyfill, Symbol.for("nodejs.asyncDispose"); Node 24: the language\'s own)', async () => {
    if (Number(process.versions.node.split('.')[0]) < 24) expect(Symbol.asyncDispose).toBe(Symbol.for('nodejs.asyncDispose'));
    else expect(Symbol.asyncDispose).not.toBe(Symbol.for('nodejs.asyncDispose'));
    const p = await startKv();
    try {
      expect(typeof p[Symbol.asyncDispose]).toBe('function');
    } finally {
      await p.kill();
    }
  });

  it('startPlugin: leaving the block ends the plugin as kill() does (Shutdown, exit 0, directory removed)', async () => {
    let plugin: Awaited<ReturnType<typeof startKv>> | undefined;
    {
      await using p = await startKv();
      plugin = p;
      await p.ping();
      expect(readdirSync(tmp)).toHaveLength(1);
    }
    // Disposed by the time the block is left: the exit is already known.
    const exit = await Promise.race([plugin.exited, new Promise((r) => setTimeout(() => r('still running'), 0))]);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(pidExists(plugin.pid)).toBe(false);
    expect(readdirSync(tmp)).toEqual([]);
    // It is kill(): idempotent, one ending.
    await plugin.kill();
    await plugin[Symbol.asyncDispose]();
  });

  it('startPlugin: a throw out of the block ends the plugin too, and the error is the block’s', async () => {
    let pid = 0;
    const block = async () => {
      await using p = await startKv();
      pid = p.pid;
      throw new Error('the caller failed');
    };
    await expect(block()).rejects.toThrow('the caller failed');
    expect(pid).toBeGreaterThan(0);
    expect(pidExists(pid)).toBe(false);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('servePlugin: leaving the block stops serving (socket and directory removed, closed settled)', async () => {
    let served: Awaited<ReturnType<typeof gp.servePlugin>> | undefined;
    let reason = '';
    {
      await using s = await gp.servePlugin({
        ...COOKIE,
        versions: { 1: () => {} },
        debug: true,
        ownProcess: false,
        env: {},
        onShutdown: (r) => void (reason = r),
      });
      served = s;
      expect(existsSync(s.address)).toBe(true);
    }
    await expect(served.closed).resolves.toBeUndefined();
    expect(reason).toBe('api');
    expect(existsSync(served.address)).toBe(false);
  });

  it('the published declarations make `await using` compile (test/types/goplugin-dispose.ts)', () => {
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    if (!existsSync(tsc) && cannotRun('typescript is not installed')) return;
    if (!existsSync(join(root, 'dist', 'goplugin', 'index.d.ts')) && cannotRun('dist/ not built: run npm run build:ts')) return;
    const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'test', 'types', 'goplugin-dispose.tsconfig.json')], { encoding: 'utf8', cwd: root });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  }, 90_000);
});
