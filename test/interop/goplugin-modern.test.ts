/**
 * go-plugin v1.8 (current upstream, module mode) as a real peer, in both directions, plus the
 * features 1.0.1 cannot test: GRPCStdio, PLUGIN_UNIX_SOCKET_DIR/GROUP, the broker, the 7th
 * handshake field (PLUGIN_MULTIPLEX_GRPC) and AutoMTLS (also against 1.0.1's plugin).
 * Peers: test/interop/build-modern.sh (needs Go and the module proxy the first time).
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { firstLine, scratchDirs, start, until } from '../kit';
import { COOKIE, NODE_PLUGIN, goV101, goV18, itWithPeers, loadGoPluginKit, run } from './peers';

const { gp, kvPkg } = loadGoPluginKit();

const v18 = goV18();
const v101 = goV101();
if (v18.ok) console.log(`go-plugin v1.8 peers ready in ${v18.ms} ms`);

function peerIt(built: { ok: boolean; reason?: string }, name: string, fn: () => Promise<void>, timeout = 30_000) {
  itWithPeers(built, 'the go-plugin peers', name, fn, timeout);
}
const P18 = () => (v18 as { plugin: string }).plugin;
const H18 = () => (v18 as { host: string }).host;

/** A directory of its own for one peer, removed after the file's tests. */
const scratch = scratchDirs('plugsock-gpm-').make;

const call = <T>(c: any, method: string, req: object): Promise<T> =>
  new Promise((resolve, reject) => c[method](req, (e: Error | null, r: T) => (e ? reject(e) : resolve(r))));

async function exerciseKV(p: import('../../src/goplugin/index').PluginProcess, n = 10): Promise<void> {
  await p.ping();
  const kv = p.client(kvPkg.kv.KV);
  for (let i = 0; i < n; i++) {
    await call(kv, 'Put', { key: `k${String(i).padStart(3, '0')}`, value: Buffer.from(`v${i}`) });
    const got = await call<{ value: Buffer; found: boolean }>(kv, 'Get', { key: `k${String(i).padStart(3, '0')}` });
    expect(got.value.toString()).toBe(`v${i}`);
  }
}

/** Starts `cmd`, returns the first line it prints (its handshake) and kills it. */
async function handshakeOf(cmd: string, env: NodeJS.ProcessEnv): Promise<string> {
  const { child } = start(cmd, [], { env, stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    return await firstLine(child);
  } finally {
    child.kill('SIGKILL');
  }
}

describe('Node host launches the Go plugin (go-plugin v1.8)', () => {
  peerIt(v18, 'calls it; its stdout and stderr arrive over GRPCStdio (onStdio); socket in PLUGIN_UNIX_SOCKET_DIR; clean kill', async () => {
    const stdio: string[] = [];
    const p = await gp.startPlugin({ command: P18(), ...COOKIE, onStdio: (ch, d) => stdio.push(`${ch}:${d}`) });
    const dir = dirname(p.address);
    expect(dir.startsWith(join(tmpdir(), 'plugsock-gp-'))).toBe(true); // v1.8 honours PLUGIN_UNIX_SOCKET_DIR
    await exerciseKV(p, 5);
    // The plugin's output comes on its own stream: wait for its last line, however slow.
    await until(() => stdio.join('').includes('put-err k004'));
    const all = stdio.join('');
    expect(all).toMatch(/stdout:kv-plugin\(go\): put k004/);
    expect(all).toMatch(/stderr:kv-plugin\(go\): put-err k004/);
    await p.kill();
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(existsSync(dir)).toBe(false);
  });

  peerIt(v18, "AutoMTLS: the Go plugin answers with go-plugin's P-521 certificate in the 6th field; every call goes over mutual TLS", async () => {
    const p = await gp.startPlugin({ command: P18(), ...COOKIE, autoMTLS: true });
    try {
      expect(p.tls).toBe(true);
      expect(p.handshake.serverCert).toMatch(/^[A-Za-z0-9+/]{51,}$/);
      const cert = new X509Certificate(Buffer.from(p.handshake.serverCert!, 'base64'));
      expect(cert.subjectAltName).toBe('DNS:localhost');
      expect(cert.ca).toBe(true);
      expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('secp521r1');
      await exerciseKV(p, 5);
    } finally {
      await p.kill();
    }
  });

  peerIt(v18, 'PLUGIN_UNIX_SOCKET_GROUP: the Go plugin chgrps and makes the socket 0660', async () => {
    const gid = process.getuid?.() === 0 ? 1 : process.getgid!();
    const p = await gp.startPlugin({ command: P18(), ...COOKIE, socketGroup: gid });
    try {
      const st = statSync(p.address);
      expect([st.mode & 0o777, st.gid]).toEqual([0o660, gid]);
      await p.ping();
    } finally {
      await p.kill();
    }
  });

  peerIt(v18, 'PLUGIN_MULTIPLEX_GRPC: the plugin adds a 7th field `true`; startPlugin never passes an inherited one on', async () => {
    const dir = scratch();
    const line = await handshakeOf(P18(), {
      ...process.env,
      [COOKIE.magicCookieKey]: COOKIE.magicCookieValue,
      PLUGIN_PROTOCOL_VERSIONS: '1',
      PLUGIN_MULTIPLEX_GRPC: 'true',
      PLUGIN_UNIX_SOCKET_DIR: dir,
      KV_PLUGIN_QUIET: '1',
    });
    expect(line.split('|')).toHaveLength(7);
    expect(gp.parseHandshakeLine(line, { multiplexRequested: true }).multiplex).toBe(true);
    expect(() => gp.parseHandshakeLine(line)).toThrow(/7th field/);
    // Inherited from the caller's environment, it would make the plugin speak yamux: stripped.
    const p = await gp.startPlugin({ command: P18(), ...COOKIE, env: { ...process.env, PLUGIN_MULTIPLEX_GRPC: 'true' } });
    try {
      expect(p.handshake.multiplex).toBe(null);
      await exerciseKV(p, 2);
    } finally {
      await p.kill();
    }
  });

  peerIt(v18, 'negative cases: wrong cookie, unsupported version', async () => {
    const e1 = await gp.startPlugin({ command: P18(), ...COOKIE, magicCookieValue: 'wrong' }).catch((e) => e);
    expect(e1.code).toBe('ERR_PLUGIN_EXITED');
    expect(e1.message).toMatch(/This binary is a plugin/);
    const e2 = await gp.startPlugin({ command: P18(), env: { ...process.env, KV_PLUGIN_VERSION: '7' }, ...COOKIE, versions: [1, 2] }).catch((e) => e);
    expect(e2.code).toBe('ERR_UNSUPPORTED_VERSION');
  });

  peerIt(v101, "AutoMTLS against go-plugin 1.0.1's plugin too", async () => {
    const tmp = scratch();
    const p = await gp.startPlugin({ command: (v101 as { plugin: string }).plugin, env: { ...process.env, TMPDIR: tmp }, ...COOKIE, autoMTLS: true });
    try {
      expect(p.tls).toBe(true);
      await exerciseKV(p, 3);
    } finally {
      await p.kill();
    }
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('AutoMTLS: a plugin that prints no certificate is refused (no silent plaintext)', async () => {
    const script = `console.log('1|1|unix|/tmp/none.sock|grpc|'); setInterval(() => {}, 1000);`;
    const err = await gp.startPlugin({ command: process.execPath, args: ['-e', script], ...COOKIE, autoMTLS: true }).catch((e) => e);
    expect(err.code).toBe('ERR_HANDSHAKE_INVALID');
    expect(err.message).toMatch(/no AutoMTLS certificate/);
  });
});

describe('Go host (go-plugin v1.8) launches the Node plugin', () => {
  peerIt(v18, "calls it; the Node plugin's stdout reaches the host over GRPCStdio and its stderr over the pipe; socket in PLUGIN_UNIX_SOCKET_DIR", async () => {
    const dir = scratch();
    const r = await run(
      H18(),
      ['-calls', '10', '-expect-stdout', 'kv-plugin(node): put k009', '-expect-stderr', 'kv-plugin(node): put-err k009', process.execPath, NODE_PLUGIN],
      { ...process.env, PLUGIN_UNIX_SOCKET_DIR: dir },
    );
    expect(r.stderr).not.toMatch(/FAIL/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`SOCKET ${dir}/plugin\\d+ mode=600 `));
    expect(r.stdout).toMatch(/OK calls=10 streamed=10/);
    expect(readdirSync(dir)).toEqual([]);
  });

  peerIt(v18, "captureStderr: the Node plugin's stderr also goes over GRPCStdio", async () => {
    const r = await run(H18(), ['-calls', '3', '-expect-stderr', 'put-err k002', process.execPath, NODE_PLUGIN], { ...process.env, KV_CAPTURE_STDERR: '1' });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/stderr_bytes=[1-9]/);
  });

  peerIt(v18, 'PLUGIN_UNIX_SOCKET_GROUP: the Node plugin chgrps its socket and makes it 0660', async () => {
    const gid = process.getuid?.() === 0 ? 1 : process.getgid!();
    const r = await run(H18(), ['-calls', '2', '-group', String(gid), process.execPath, NODE_PLUGIN], { ...process.env, KV_PLUGIN_QUIET: '1' });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`mode=660 gid=${gid} `));
  });

  peerIt(v18, "AutoMTLS (as Terraform) and the broker: the Node plugin serves mutual TLS and dials the host's brokered Callback", async () => {
    const r = await run(H18(), ['-calls', '5', '-automtls', '-broker', process.execPath, NODE_PLUGIN], { ...process.env, KV_PLUGIN_QUIET: '1' });
    expect(r.stderr).not.toMatch(/FAIL/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/tls=true/);
    expect(r.stdout).toMatch(/brokered="node plugin adds 40\+2"/);
  });

  peerIt(v18, 'broker without TLS', async () => {
    const r = await run(H18(), ['-calls', '1', '-broker', process.execPath, NODE_PLUGIN], { ...process.env, KV_PLUGIN_QUIET: '1' });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/brokered="node plugin adds 40\+2"/);
  });

  peerIt(v18, 'GRPCBrokerMultiplex: the Node plugin answers `false` in the 7th field and the host reports it clearly', async () => {
    const r = await run(H18(), ['-mode', 'expect-start-error', '-multiplex', process.execPath, NODE_PLUGIN], { ...process.env, KV_PLUGIN_QUIET: '1' });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/EXPECTED-FAILURE expect-start-error: client requested gRPC broker multiplexing but plugin does not support the feature/);
  });

  peerIt(v18, 'wrong cookie and wrong version fail as go-plugin expects', async () => {
    const a = await run(H18(), ['-mode', 'wrong-cookie', process.execPath, NODE_PLUGIN]);
    expect(a.code).toBe(0);
    expect(a.stdout).toMatch(/EXPECTED-FAILURE wrong-cookie/);
    const b = await run(H18(), ['-mode', 'wrong-version', process.execPath, NODE_PLUGIN]);
    expect(b.code).toBe(0);
    expect(b.stdout).toMatch(/incompatible API version with plugin/i); // v1.8 lower-cased the message
  });

  peerIt(v18, 'sanity: Go v1.8 host and plugin with AutoMTLS, broker and multiplexing', async () => {
    const r = await run(H18(), ['-calls', '3', '-automtls', '-broker', '-multiplex', '-expect-stdout', 'put k002', P18()]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/brokered="go plugin adds 40\+2"/);
  });
});
