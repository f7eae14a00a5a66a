/**
 * pyvider-rpcplugin (the Python original, from PyPI) as a real peer: a pyvider host launches the
 * Node plugin; a Node host launches a pyvider plugin (plain and AutoMTLS).
 * Peers: test/interop/build-pyvider.sh (a venv in test/interop/.build/, PyPI the first time).
 */
import { describe, expect } from 'vitest';
import { COOKIE, NODE_PLUGIN, itWithPeers, loadGoPluginKit, pyvider, run } from './peers';

const { gp, kvPkg } = loadGoPluginKit();

const py = pyvider();
type Py = { python: string; pbDir: string; plugin: string; host: string };
const P = () => py as unknown as Py;

function pyIt(name: string, fn: () => Promise<void>, timeout = 60_000) {
  itWithPeers(py, 'pyvider', name, fn, timeout);
}
const call = <T>(c: any, method: string, req: object): Promise<T> =>
  new Promise((resolve, reject) => c[method](req, (e: Error | null, r: T) => (e ? reject(e) : resolve(r))));

describe('pyvider host launches the Node plugin', () => {
  pyIt('calls it (Put/Get x10, List stream), then shuts it down', async () => {
    const r = await run(P().python, [P().host, '--calls', '10', process.execPath, NODE_PLUGIN], {
      ...process.env,
      KV_PB_DIR: P().pbDir,
      PLUGIN_AUTO_MTLS: 'false',
      KV_PLUGIN_QUIET: '1',
    });
    expect(r.stderr).not.toMatch(/FAIL/);
    expect(r.stdout).toMatch(/OK calls=10 streamed=10 tls=False/);
    expect(r.code).toBe(0);
  });
});

describe('Node host launches a pyvider plugin', () => {
  for (const autoMTLS of [false, true]) {
    pyIt(`calls it${autoMTLS ? ' over AutoMTLS' : ''}, then kill() is graceful`, async () => {
      const p = await gp.startPlugin({
        command: P().python,
        args: [P().plugin],
        env: { ...process.env, KV_PB_DIR: P().pbDir },
        ...COOKIE,
        autoMTLS,
        startTimeoutMs: 30_000,
      });
      try {
        expect(p.tls).toBe(autoMTLS);
        await p.ping();
        const kv = p.client(kvPkg.kv.KV) as ReturnType<typeof p.client> & { List(req: object): NodeJS.EventEmitter };
        for (let i = 0; i < 10; i++) await call(kv, 'Put', { key: `k${i}`, value: Buffer.from(`v${i}`) });
        expect((await call<{ value: Buffer }>(kv, 'Get', { key: 'k7' })).value.toString()).toBe('v7');
        const keys: string[] = [];
        await new Promise<void>((resolve, reject) => {
          const s = kv.List({ prefix: 'k' });
          s.on('data', (e: { key: string }) => keys.push(e.key));
          s.on('end', resolve);
          s.on('error', reject);
        });
        expect(keys).toHaveLength(10);
      } finally {
        await p.kill();
      }
      expect((await p.exited).signal).toBe(null);
    });
  }
});
