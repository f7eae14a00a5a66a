/**
 * servePlugin fails closed: its default parent-only peer policy needs the native addon; without
 * the addon (PLUGSOCK_DISABLE_ADDON=1) it refuses with ERR_NATIVE_REQUIRED unless the caller
 * opts out with `peer: null`.
 */
import { describe, expect, it } from 'vitest';
import { distPath, goplugin, runNode } from './kit';
import { COOKIE, NODE_PLUGIN } from './interop/peers';

const gp = goplugin;

const serveScript = (peer: string) => `
  const { servePlugin } = require(${JSON.stringify(distPath('goplugin', 'index.js'))});
  servePlugin({ ...${JSON.stringify(COOKIE)}, register: () => {}, ownProcess: false, ${peer}
    handshakeOut: { write: (s) => console.log('HANDSHAKE ' + s.trim()) }, captureStdout: false,
    env: { ...process.env, ${JSON.stringify(COOKIE.magicCookieKey)}: ${JSON.stringify(COOKIE.magicCookieValue)} } })
    .then((s) => { console.log('SERVING'); return s.shutdown(); })
    .catch((e) => { console.log('REFUSED ' + e.code + ' ' + e.message); });`;
const noAddon = { ...process.env, PLUGSOCK_DISABLE_ADDON: '1' };

describe('servePlugin without the native addon', () => {
  it('refuses with ERR_NATIVE_REQUIRED by default (no handshake printed)', async () => {
    const r = await runNode(serveScript(''), { env: noAddon }).done;
    expect(r.stdout).toMatch(/REFUSED ERR_NATIVE_REQUIRED .*parent-only peer policy.*peer: null/);
    expect(r.stdout).not.toMatch(/HANDSHAKE/);
  });

  it('refuses an explicit policy too', async () => {
    const r = await runNode(serveScript('peer: { uids: [process.getuid()] },'), { env: noAddon }).done;
    expect(r.stdout).toMatch(/REFUSED ERR_NATIVE_REQUIRED/);
  });

  it('serves when the caller opts out explicitly with peer: null', async () => {
    const r = await runNode(serveScript('peer: null,'), { env: noAddon }).done;
    expect(r.stdout).toMatch(/HANDSHAKE 1\|1\|unix\|\/.*\|grpc\|/);
    expect(r.stdout).toMatch(/SERVING/);
  });

  it('a host launching such a plugin gets ERR_PLUGIN_EXITED naming ERR_NATIVE_REQUIRED', async () => {
    const err = await gp.startPlugin({ command: process.execPath, args: [NODE_PLUGIN], env: noAddon, ...COOKIE, startTimeoutMs: 10_000 }).catch((e) => e);
    expect(err.code).toBe('ERR_PLUGIN_EXITED');
    expect(err.message).toMatch(/ERR_NATIVE_REQUIRED|native addon is not loaded/);
  });
});
