/**
 * servePlugin's onShutdown hook and its time limit, with real processes: a Node host
 * (startPlugin) and go-plugin v1.8's host send Shutdown to the fixture plugin, whose hook writes
 * a file after 200 ms; the process exits 0 once the file is there. A hook that never settles is
 * cut at shutdownTimeoutMs (exit status 1 and an error line, before the host's SIGKILL); SIGTERM
 * runs the hook too. Drives the built package (dist/).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { describe, expect, it } from 'vitest';
import { cannotRun, goplugin as gp, root, scratchDirs } from './kit';

const FIXTURE = join(root, 'test', 'fixtures', 'goplugin-node-plugin.mjs');
const GO_HOST_BUILD = join(root, 'test', 'fixtures', 'goplugin-v18-host', 'build.sh');
const COOKIE = { magicCookieKey: 'PLUGSOCK_INTEROP_COOKIE', magicCookieValue: 'kv-3b1f9e' };
const scratch = scratchDirs('plugsock-gpshut-').make;
const kv = (grpc.loadPackageDefinition(protoLoader.loadSync(join(root, 'examples', 'kv.proto'), { defaults: true })) as any).kv;

function startFixture(config: object) {
  let stderr = '';
  return gp
    .startPlugin({ command: process.execPath, args: [FIXTURE, JSON.stringify(config)], ...COOKIE, onStderr: (c) => (stderr += c) })
    .then((p) => ({ p, stderr: () => stderr }));
}

describe('onShutdown', () => {
  it('runs after the host’s Shutdown and before the exit: the file its hook writes after 200 ms exists, exit status 0', async () => {
    const file = join(scratch(), 'hook-done');
    const { p } = await startFixture({ hookFile: file, hookMs: 200 });
    const t0 = Date.now();
    await p.kill();
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(200);
    expect(readFileSync(file, 'utf8')).toBe('done rpc\n');
  });

  it('a hook that never settles is cut at shutdownTimeoutMs: an error line, exit status 1, long before the host’s SIGKILL', async () => {
    const { p, stderr } = await startFixture({ hookNever: true, shutdownTimeoutMs: 300 });
    const t0 = Date.now();
    await p.kill();
    const took = Date.now() - t0;
    // killGraceMs is 2000: a SIGKILL would show as the signal.
    expect(await p.exited).toEqual({ code: 1, signal: null });
    expect(took).toBeGreaterThanOrEqual(300);
    expect(took).toBeLessThan(1900);
    const line = stderr()
      .split('\n')
      .find((l) => l.includes('onShutdown hook did not finish'));
    expect(JSON.parse(line!)).toMatchObject({
      '@level': 'error',
      '@message': 'plugsock: the onShutdown hook did not finish within 300 ms (shutdownTimeoutMs); stopping anyway',
      '@module': 'plugsock',
    });
  });

  it('runs on SIGTERM too (reason "signal"), then the plugin dies of the signal', async () => {
    const file = join(scratch(), 'hook-term');
    const { p } = await startFixture({ hookFile: file, hookMs: 200 });
    process.kill(p.pid, 'SIGTERM');
    expect(await p.exited).toEqual({ code: null, signal: 'SIGTERM' });
    expect(readFileSync(file, 'utf8')).toBe('done signal\n');
    await p.kill();
  });

  it('with ownProcess: false: `closed` settles after the hook (reason "api"), and rejects with ERR_PLUGIN_SHUTDOWN_HOOK when it throws', async () => {
    const reasons: string[] = [];
    const base = { ...COOKIE, versions: { 1: () => {} }, debug: true, ownProcess: false, env: {} } as const;
    const a = await gp.servePlugin({ ...base, onShutdown: async (r) => void reasons.push(r) });
    await a.shutdown();
    await a.closed;
    expect(reasons).toEqual(['api']);
    const b = await gp.servePlugin({
      ...base,
      onShutdown: () => {
        throw new Error('cannot flush');
      },
    });
    await b.shutdown();
    await expect(b.closed).rejects.toMatchObject({ code: 'ERR_PLUGIN_SHUTDOWN_HOOK', message: expect.stringContaining('cannot flush') });
    await expect(gp.servePlugin({ ...base, onShutdown: 'later' as any })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
    await expect(gp.servePlugin({ ...base, shutdownTimeoutMs: 0 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
    await expect(gp.servePlugin({ ...base, shutdownTimeoutMs: 1.5 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
  });

  it('go-plugin v1.8’s host: Kill() sends Shutdown; the hook’s file is written and the plugin exits 0 within its 2 s grace', async () => {
    const out = scratch();
    const built = spawnSync('bash', [GO_HOST_BUILD, out], { encoding: 'utf8', timeout: 300_000 });
    if (built.status !== 0 && cannotRun(`go-plugin v1.8 host not built: ${built.stderr.trim().split('\n').slice(-2).join(' | ')}`)) return;
    const file = join(out, 'hook-go');
    const r = spawnSync(built.stdout.trim(), ['-launch', process.execPath, FIXTURE], {
      encoding: 'utf8',
      env: { ...process.env, GP_FIXTURE: JSON.stringify({ hookFile: file, hookMs: 200 }) },
      timeout: 60_000,
    });
    expect(r.stdout).toBe('OK\n');
    expect(existsSync(file) && readFileSync(file, 'utf8')).toBe('done rpc\n');
    // Exit 0 is logged at info ("plugin process exited" without an error); a forced kill would say so.
    expect(r.stderr).toMatch(/\[INFO\] +host: plugin process exited: plugin=\S+ id=\d+\n/);
    expect(r.stderr).not.toMatch(/plugin failed to exit gracefully/);
  }, 320_000);
});

describe('kill() after a client was closed', () => {
  it('closing a client shuts the shared channel, yet kill() still sends Shutdown (the hook runs), the plugin exits and kill() resolves', async () => {
    const file = join(scratch(), 'hook-closed');
    const { p } = await startFixture({ hookFile: file, hookMs: 0 });
    try {
      const client = p.client<any>(kv.KV);
      const got = await new Promise<any>((res, rej) => client.Get({ key: 'k' }, (err: Error | null, r: any) => (err ? rej(err) : res(r))));
      expect(got.found).toBe(false);
      client.close();
      // The shared channel is gone: no client of it can call, and ping says so as a TransportError.
      expect(() => p.client<any>(kv.KV).Get({ key: 'k' }, () => {})).toThrow('Channel has been shut down');
      await expect(p.ping()).rejects.toMatchObject({ code: 'ERR_PLUGIN_CALL', message: expect.stringContaining('Channel has been shut down') });
      const t0 = Date.now();
      await expect(p.kill()).resolves.toBeUndefined();
      // Stopped through Shutdown: exit status 0 and the hook's file, before the 2 s grace would end in a SIGKILL.
      expect(await p.exited).toEqual({ code: 0, signal: null });
      expect(Date.now() - t0).toBeLessThan(1900);
      expect(readFileSync(file, 'utf8')).toBe('done rpc\n');
      expect(existsSync(`/proc/${p.pid}`)).toBe(false);
      expect(existsSync(p.address)).toBe(false);
    } finally {
      // Before the fix kill() rejected and left the plugin running.
      if (existsSync(`/proc/${p.pid}`)) process.kill(p.pid, 'SIGKILL');
    }
  });
});
