/**
 * go-plugin interoperability against HashiCorp's own library (Debian's go-plugin 1.0.1):
 * Node host <-> Go plugin, Go host <-> Node plugin, Node <-> Node, and the negative cases.
 *
 * The Go peers are built by test/interop/build.sh (GOPATH mode, offline). When Go or the
 * Debian packages are missing the Go tests skip with the reason in their name, except with
 * CI=true, where they fail.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inCI, pidExists as alive, plugsock, scratchDirs } from '../kit';
import { COOKIE, NODE_PLUGIN, goV101, itWithPeers, loadGoPluginKit, run } from './peers';

const { gp, kvPkg } = loadGoPluginKit();

// ---- Build the Go peers (once; build.sh is idempotent and fast when up to date).
const build = goV101();
if (build.ok) console.log(`go-plugin interop peers ready in ${build.ms} ms: ${build.plugin}, ${build.host}`);
else console.warn(`go-plugin interop: Go peers unavailable (${build.reason}); ${inCI ? 'FAILING (CI=true)' : 'skipping the Go tests'}`);

function goIt(name: string, fn: () => Promise<void>, timeout = 30_000) {
  itWithPeers(build, 'the Go interop peers', name, fn, timeout);
}

// ---- Helpers
type KV = any;
const call = <T>(c: KV, method: string, req: object): Promise<T> =>
  new Promise((resolve, reject) => c[method](req, (e: Error | null, r: T) => (e ? reject(e) : resolve(r))));
const list = (c: KV, prefix: string): Promise<string[]> =>
  new Promise((resolve, reject) => {
    const keys: string[] = [];
    const s = c.List({ prefix });
    s.on('data', (e: { key: string }) => keys.push(e.key));
    s.on('end', () => resolve(keys));
    s.on('error', reject);
  });

async function exerciseKV(p: import('../../src/goplugin/index').PluginProcess, calls = 25): Promise<void> {
  await p.ping();
  const kv = p.client(kvPkg.kv.KV);
  for (let i = 0; i < calls; i++) {
    const key = `k${String(i).padStart(3, '0')}`;
    await call(kv, 'Put', { key, value: Buffer.from(`v${i * i}`) });
    const got = await call<{ value: Buffer; found: boolean }>(kv, 'Get', { key });
    expect(got.found).toBe(true);
    expect(got.value.toString()).toBe(`v${i * i}`);
  }
  expect((await call<{ found: boolean }>(kv, 'Get', { key: 'missing' })).found).toBe(false);
  await call(kv, 'Put', { key: 'other', value: Buffer.from('x') });
  const keys = await list(kv, 'k0');
  expect(keys).toEqual(Array.from({ length: calls }, (_, i) => `k${String(i).padStart(3, '0')}`));
}

function runGoHost(args: string[], env: NodeJS.ProcessEnv) {
  return run((build as { host: string }).host, args, env);
}

/** A directory of its own for one peer, removed after the file's tests. */
const scratch = scratchDirs('plugsock-gpi-').make;

// ---- Node host -> Go plugin
describe('Node host launches the Go plugin (go-plugin 1.0.1)', () => {
  goIt('calls it (unary x50, streaming), then kill() leaves nothing behind', async () => {
    const tmp = scratch(); // go-plugin 1.0.1 puts its socket in $TMPDIR
    const p = await gp.startPlugin({ command: (build as any).plugin, env: { ...process.env, TMPDIR: tmp }, ...COOKIE, startTimeoutMs: 10_000 });
    expect(p.handshake).toMatchObject({ coreVersion: 1, appVersion: 1, network: 'unix', protocol: 'grpc' });
    expect(p.address.startsWith(`${tmp}/plugin`)).toBe(true);
    await exerciseKV(p);
    await p.kill();
    expect(await p.exited).toEqual({ code: 0, signal: null }); // graceful: the Shutdown RPC worked
    expect(alive(p.pid)).toBe(false);
    expect(existsSync(p.address)).toBe(false);
    expect(readdirSync(tmp)).toEqual([]);
  });

  goIt("wrong magic cookie: ERR_PLUGIN_EXITED with go-plugin's explanation from stderr", async () => {
    const err = await gp.startPlugin({ command: (build as any).plugin, ...COOKIE, magicCookieValue: 'wrong' }).catch((e) => e);
    expect(err.code).toBe('ERR_PLUGIN_EXITED');
    expect(err.message).toMatch(/exited with code 1/);
    expect(err.message).toMatch(/This binary is a plugin/);
  });

  goIt('unsupported app version: ERR_UNSUPPORTED_VERSION', async () => {
    const tmp = scratch();
    const err = await gp
      .startPlugin({ command: (build as any).plugin, env: { ...process.env, TMPDIR: tmp, KV_PLUGIN_VERSION: '7' }, ...COOKIE, versions: [1, 2] })
      .catch((e) => e);
    expect(err.code).toBe('ERR_UNSUPPORTED_VERSION');
    expect(err.message).toMatch(/version 7/);
    expect(err.message).toMatch(/kv-plugin: starting/); // stderr tail
    // go-plugin 1.0.1 ignores PLUGIN_UNIX_SOCKET_DIR: its socket in $TMPDIR is outside the
    // directory startPlugin gave it, so the killed plugin's socket stays (issue 12).
    expect(readdirSync(tmp)).toEqual([expect.stringMatching(/^plugin\d+$/)]);
  });

  goIt('garbage on stdout: ERR_HANDSHAKE_INVALID', async () => {
    const err = await gp.startPlugin({ command: (build as any).plugin, env: { ...process.env, KV_PLUGIN_MODE: 'garbage' }, ...COOKIE }).catch((e) => e);
    expect(err.code).toBe('ERR_HANDSHAKE_INVALID');
    expect(err.message).toMatch(/hello from a plugin/);
  });

  goIt('exits before the handshake: ERR_PLUGIN_EXITED with the stderr tail', async () => {
    const err = await gp.startPlugin({ command: (build as any).plugin, env: { ...process.env, KV_PLUGIN_MODE: 'exit' }, ...COOKIE }).catch((e) => e);
    expect(err.code).toBe('ERR_PLUGIN_EXITED');
    expect(err.message).toMatch(/exited with code 3/);
    expect(err.message).toMatch(/disk on fire/);
  });

  goIt('silent plugin: ERR_HANDSHAKE_TIMEOUT, and the child is killed', async () => {
    const err = await gp
      .startPlugin({ command: (build as any).plugin, env: { ...process.env, KV_PLUGIN_MODE: 'hang' }, ...COOKIE, startTimeoutMs: 300 })
      .catch((e) => e);
    expect(err.code).toBe('ERR_HANDSHAKE_TIMEOUT');
  });
});

// ---- Go host -> Node plugin
describe('Go host (go-plugin 1.0.1) launches the Node plugin', () => {
  goIt('calls it (Put/Get x40, List stream, health Ping), Kill is graceful; exit status 0', async () => {
    const dir = scratch();
    const r = await runGoHost(['-calls', '40', process.execPath, NODE_PLUGIN], { ...process.env, PLUGIN_UNIX_SOCKET_DIR: dir });
    expect(r.stderr).not.toMatch(/FAIL/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/OK calls=40 streamed=40/);
    expect(r.stderr).not.toMatch(/failed to exit gracefully/);
    expect(readdirSync(dir)).toEqual([]); // the Node plugin removed its socket on Shutdown
  });

  goIt('wrong cookie: the Node plugin explains on stderr and exits 1 (host fails as expected)', async () => {
    const r = await runGoHost(['-mode', 'wrong-cookie', process.execPath, NODE_PLUGIN], process.env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/EXPECTED-FAILURE wrong-cookie/);
    expect(r.stderr).toMatch(/This binary is a plugin/);
  });

  goIt('wrong version: the Node plugin answers its lowest version and the host refuses', async () => {
    const dir = scratch();
    const r = await runGoHost(['-mode', 'wrong-version', process.execPath, NODE_PLUGIN], { ...process.env, PLUGIN_UNIX_SOCKET_DIR: dir });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Incompatible API version with plugin. Plugin version: 1, Client versions: \[99\]/);
  });

  goIt('sanity: Go host launches the Go plugin', async () => {
    const tmp = scratch();
    const r = await runGoHost([(build as any).plugin], { ...process.env, TMPDIR: tmp });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/OK calls=20/);
  });
});

// ---- Node host -> Node plugin (no Go needed)
describe('Node host launches the Node plugin', () => {
  it('calls it, receives its stdout over GRPCStdio, kill() leaves nothing behind', async () => {
    const p = await gp.startPlugin({ command: process.execPath, args: [NODE_PLUGIN], ...COOKIE, startTimeoutMs: 10_000 });
    const stdio: string[] = [];
    const streaming = p.streamStdio((ch, data) => stdio.push(`${ch}:${data.toString()}`));
    await exerciseKV(p);
    const dir = join(p.address, '..');
    expect(existsSync(p.address)).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    expect(stdio.join('')).toMatch(/stdout:kv-plugin \(node\): hello over GRPCStdio/);
    await p.kill();
    await streaming;
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(alive(p.pid)).toBe(false);
    expect(existsSync(p.address)).toBe(false);
    expect(existsSync(dir)).toBe(false); // startPlugin's private PLUGIN_UNIX_SOCKET_DIR
  });

  it('the Node plugin refuses connections from processes other than its parent', async () => {
    const p = await gp.startPlugin({ command: process.execPath, args: [NODE_PLUGIN], ...COOKIE, startTimeoutMs: 10_000 });
    try {
      const code = `
        const s = require('net').connect(${JSON.stringify(p.address)});
        let got = 0; s.on('data', (d) => got += d.length);
        s.on('connect', () => s.write('PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n'));
        s.on('close', () => { console.log('closed got=' + got); process.exit(0); });
        s.on('error', () => {});
        setTimeout(() => { console.log('still open'); process.exit(0); }, 2000);`;
      const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8' });
      expect(r.stdout).toMatch(/closed got=0/);
      await p.ping(); // the parent still gets in
    } finally {
      await p.kill();
    }
  });

  it('peer mismatch: a handshake naming a socket served by another process gives ERR_PEER_MISMATCH', async () => {
    const impostor = new plugsock.UnixSocketTransport();
    await impostor.listen();
    try {
      const script = `console.log('1|1|unix|' + process.env.ADDR + '|grpc|'); setInterval(() => {}, 1000);`;
      const err = await gp
        .startPlugin({
          command: process.execPath,
          args: ['-e', script],
          env: { ...process.env, ADDR: impostor.path },
          ...COOKIE,
        })
        .catch((e) => e);
      expect(err.code).toBe('ERR_PEER_MISMATCH');
      expect(err.message).toMatch(new RegExp(`pid ${process.pid}|${process.pid}`));
    } finally {
      await impostor.close();
    }
  });

  it('PLUGIN_UNIX_SOCKET_GROUP: the Node plugin chgrps its socket and makes it 0660 (else 0600)', async () => {
    const gid = process.getuid?.() === 0 ? 1 : process.getgid!();
    const p = await gp.startPlugin({ command: process.execPath, args: [NODE_PLUGIN], ...COOKIE, socketGroup: gid });
    try {
      const st = statSync(p.address);
      expect([st.mode & 0o777, st.gid]).toEqual([0o660, gid]);
    } finally {
      await p.kill();
    }
    const q = await gp.startPlugin({ command: process.execPath, args: [NODE_PLUGIN], ...COOKIE });
    try {
      expect(statSync(q.address).mode & 0o777).toBe(0o600);
    } finally {
      await q.kill();
    }
  });

  it('netrpc plugin: ERR_UNSUPPORTED_PROTOCOL', async () => {
    const script = `console.log('1|1|unix|/tmp/x.sock|netrpc|'); setInterval(() => {}, 1000);`;
    const err = await gp.startPlugin({ command: process.execPath, args: ['-e', script], ...COOKIE }).catch((e) => e);
    expect(err.code).toBe('ERR_UNSUPPORTED_PROTOCOL');
  });

  it('plugin that is not executable: ERR_PLUGIN_EXITED', async () => {
    const err = await gp.startPlugin({ command: '/nonexistent/plugin', ...COOKIE }).catch((e) => e);
    expect(err.code).toBe('ERR_PLUGIN_EXITED');
  });
});
