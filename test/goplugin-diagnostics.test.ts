/**
 * diagnostics_channel `plugsock:plugin-start`, with real launches: a subscriber gets one message
 * per completed startPlugin (command, args, pid, app version, socket, AutoMTLS, time to the
 * handshake); failed and aborted starts publish nothing. Drives the built package (dist/).
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { PluginStartMessage } from '../src/diagnostics';
import { goplugin as gp, root } from './kit';

const KV_PLUGIN = join(root, 'test', 'fixtures', 'goplugin-node-plugin.mjs');
const STALL = join(root, 'test', 'fixtures', 'goplugin-stall.mjs');
const COOKIE = { magicCookieKey: 'PLUGSOCK_INTEROP_COOKIE', magicCookieValue: 'kv-3b1f9e' };

const seen: PluginStartMessage[] = [];
const onStart = (message: unknown) => void seen.push(message as PluginStartMessage);
const subscribe = () => diagnostics_channel.subscribe('plugsock:plugin-start', onStart);
afterEach(() => {
  diagnostics_channel.unsubscribe('plugsock:plugin-start', onStart);
  seen.length = 0;
});

describe('plugsock:plugin-start', () => {
  it('one message per launch, once the plugin answered: command, args, pid, appVersion, address, tls, durationMs', async () => {
    subscribe();
    const args = [KV_PLUGIN, '{}'];
    const t0 = performance.now();
    const p = await gp.startPlugin({ command: process.execPath, args, ...COOKIE, versions: [1, 2] });
    const elapsed = performance.now() - t0;
    try {
      expect(seen).toHaveLength(1);
      const m = seen[0]!;
      expect(m).toEqual({ command: process.execPath, args, pid: p.pid, appVersion: 1, address: p.address, tls: false, durationMs: expect.any(Number) });
      expect(m.args).not.toBe(args); // a copy: the caller's array stays theirs
      expect(m.durationMs).toBeGreaterThan(0);
      expect(m.durationMs).toBeLessThanOrEqual(elapsed);
    } finally {
      await p.kill();
    }
  });

  it('AutoMTLS: tls is true', async () => {
    subscribe();
    const p = await gp.startPlugin({ command: process.execPath, args: [KV_PLUGIN, '{}'], ...COOKIE, autoMTLS: true });
    try {
      expect(seen.map((m) => [m.pid, m.tls])).toEqual([[p.pid, true]]);
    } finally {
      await p.kill();
    }
  });

  it('a start that fails or is aborted publishes nothing', async () => {
    subscribe();
    await expect(gp.startPlugin({ command: process.execPath, args: ['-e', 'process.exit(3)'], ...COOKIE })).rejects.toMatchObject({
      code: 'ERR_PLUGIN_EXITED',
    });
    await expect(gp.startPlugin({ command: process.execPath, args: [STALL, 'silent'], ...COOKIE, signal: AbortSignal.timeout(200) })).rejects.toMatchObject({
      name: 'AbortError',
    });
    expect(seen).toEqual([]);
  });
});
