/**
 * Debug mode and reattach: a Node plugin served with `debug: true`, started by hand (a fixture
 * process, no magic cookie), whose reattach config is read from its stdout; Node hosts attach
 * to it with attachPlugin, session after session, and so does go-plugin v1.8's own host
 * (ClientConfig.Reattach), while the plugin keeps serving. Fail-closed cases: another pid in the
 * config, another user (root: a host running as nobody), malformed configs and options.
 * Drives the built package (dist/).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterEach, describe, expect, it } from 'vitest';
import { NOBODY, cannotRun, distPath, exited, goplugin as gp, isRoot, root, runNode, scratchDirs, start, waitForLine, type Started } from './kit';

const FIXTURE = join(root, 'test', 'fixtures', 'goplugin-node-plugin.mjs');
const GO_HOST_BUILD = join(root, 'test', 'fixtures', 'goplugin-v18-host', 'build.sh');
const scratch = scratchDirs('plugsock-gpdebug-').make;

/**
 * The plugin processes a test started; each is ended after it: SIGTERM, which a plugin in debug
 * mode answers by removing its socket and directory, then SIGKILL if it is still there after 5 s.
 */
const running: Started[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) {
    if (p.child.exitCode !== null || p.child.signalCode !== null) continue;
    p.child.kill('SIGTERM');
    const timer = setTimeout(() => p.child.kill('SIGKILL'), 5000);
    await exited(p.child);
    clearTimeout(timer);
  }
});

/** The environment a person's shell would give: no magic cookie, no go-plugin variables. */
function handEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const k of Object.keys(env)) if (k === 'PLUGSOCK_INTEROP_COOKIE' || (k.startsWith('PLUGIN_') && !(k in extra))) delete env[k];
  return env;
}

/** Starts the fixture plugin in debug mode by hand and reads its reattach config from stdout. */
async function startDebugPlugin(config: object = {}, env: NodeJS.ProcessEnv = {}) {
  const p = start(process.execPath, [FIXTURE, JSON.stringify({ debug: true, ...config })], { env: handEnv(env) });
  running.push(p);
  // The fixture's last line; both may come in one chunk, and `start` has collected all of stdout.
  const [, tf] = await waitForLine(p.child, /^TF_REATTACH_PROVIDERS (.*)$/);
  const json = /^REATTACH (.*)$/m.exec(p.stdout())![1]!;
  return { p, config: JSON.parse(json) as import('../src/goplugin/index').ReattachConfig, tfValue: tf! };
}

const call = <T>(c: any, method: string, req: object): Promise<T> =>
  new Promise((resolve, reject) => c[method](req, (e: Error | null, r: T) => (e ? reject(e) : resolve(r))));

const kv = (grpc.loadPackageDefinition(protoLoader.loadSync(join(root, 'examples', 'kv.proto'), { defaults: true })) as any).kv;
const kvClient = (plugin: import('../src/goplugin/index').PluginProcess) => plugin.client(kv.KV);

async function rejection(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected a rejection');
}

describe('servePlugin({ debug: true }) + attachPlugin', () => {
  it('serves without a magic cookie, prints nothing but what the caller prints, and gives a JSON-ready reattach config', async () => {
    const { p, config, tfValue } = await startDebugPlugin();
    expect(config).toEqual({
      Protocol: 'grpc',
      ProtocolVersion: 1,
      Pid: p.child.pid,
      Test: true,
      Addr: { Network: 'unix', String: expect.stringMatching(/^\//) },
    });
    expect(existsSync(config.Addr.String)).toBe(true);
    // What Terraform's TF_REATTACH_PROVIDERS expects, and what parseReattachEnv reads back.
    expect(JSON.parse(tfValue)).toEqual({ 'registry.terraform.io/example/x': config });
    expect(gp.parseReattachEnv(tfValue)).toEqual({ 'registry.terraform.io/example/x': config });
    // No handshake line on stdout: the first line is the fixture's own REATTACH line.
    expect(p.stdout().split('\n')[0]).toMatch(/^REATTACH /);
  });

  it('two successive host sessions (and one that sends Shutdown) call it; it keeps serving; Ctrl-C ends it cleanly', async () => {
    const { p, config } = await startDebugPlugin();
    const first = await gp.attachPlugin(config);
    expect(first.pid).toBe(p.child.pid);
    expect(first.stderrTail()).toBe('');
    await call(kvClient(first), 'Put', { key: 'k', value: Buffer.from('from session 1') });
    await first.kill();

    const second = await gp.attachPlugin(config, { versions: [1] });
    const got = await call<{ value: Buffer; found: boolean }>(kvClient(second), 'Get', { key: 'k' });
    expect(got.value.toString()).toBe('from session 1');
    // A host that asks for Shutdown (as go-plugin's does for a config that is not Test): debug mode answers and keeps serving.
    const third = await gp.attachPlugin(config, { shutdown: true, killGraceMs: 300 });
    await third.kill();
    await second.ping();
    await second.kill();
    expect(p.child.exitCode).toBe(null);
    expect(p.stderr()).toMatch(/"@level":"info","@message":"plugsock: debug mode: the host asked the plugin to shut down; it keeps serving/);

    const fourth = await gp.attachPlugin(config);
    await fourth.ping();
    p.child.kill('SIGINT');
    const r = await p.done;
    expect(r.signal).toBe('SIGINT');
    expect(await Promise.race([fourth.exited, new Promise((res) => setTimeout(() => res('still running'), 3000))])).toEqual({ code: null, signal: null });
    expect(existsSync(config.Addr.String)).toBe(false);
    expect(existsSync(dirname(config.Addr.String))).toBe(false);
    await fourth.kill();
  });

  it('refuses a config whose Pid is not the process serving the socket (ERR_PEER_MISMATCH), and a pid that runs no process', async () => {
    const { p, config } = await startDebugPlugin();
    const err = await rejection(gp.attachPlugin({ ...config, Pid: process.pid }));
    expect(err.code).toBe('ERR_PEER_MISMATCH');
    expect(err.message).toContain(`named in the reattach config (pid ${process.pid}) is served by another process`);
    const gone = start(process.execPath, ['-e', '0']);
    await gone.done;
    const dead = await rejection(gp.attachPlugin({ ...config, Pid: gone.child.pid! }));
    expect(dead.code).toBe('ERR_PLUGIN_EXITED');
    // The plugin itself is fine.
    const ok = await gp.attachPlugin(config);
    await ok.ping();
    await ok.kill();
    expect(p.child.exitCode).toBe(null);
  });

  it('checks configs and options strictly', async () => {
    const config = {
      Protocol: 'grpc',
      ProtocolVersion: 1,
      Pid: process.pid,
      Test: true,
      Addr: { Network: 'unix', String: '/nonexistent/plugin.sock' },
    } as const;
    const code = async (c: unknown, o?: unknown) => (await rejection(gp.attachPlugin(c as any, o as any))).code;
    expect(await code({ ...config, pid: 1 })).toBe('ERR_INVALID_OPTION');
    expect(await code({ ...config, Pid: 0 })).toBe('ERR_INVALID_OPTION');
    expect(await code({ ...config, Addr: { Network: 'unix', String: 'relative.sock' } })).toBe('ERR_INVALID_OPTION');
    expect(await code({ ...config, Addr: { Network: 'unix', String: '/x', Name: '/x' } })).toBe('ERR_INVALID_OPTION');
    expect(await code({ ...config, Protocol: 'netrpc' })).toBe('ERR_UNSUPPORTED_PROTOCOL');
    expect(await code({ ...config, Addr: { Network: 'tcp', String: '127.0.0.1:1234' } })).toBe('ERR_UNSUPPORTED_PROTOCOL');
    expect(await code(config, { versions: [5] })).toBe('ERR_UNSUPPORTED_VERSION');
    expect(await code(config, { shutdwn: true })).toBe('ERR_INVALID_OPTION');
    expect(await code(config, { killGraceMs: -1 })).toBe('ERR_INVALID_OPTION');
    expect(() => gp.reattachEnv({ '': config })).toThrow(/address is empty/);
    expect(() => gp.reattachEnv({ a: { ...config, Test: 'yes' } as any })).toThrow(/Test must be a boolean/);
    expect(() => gp.parseReattachEnv('[]')).toThrow(/expected an object/);
  });

  it('refuses a host of another user by default (the plugin runs as root, the host as nobody)', async () => {
    if (!isRoot && cannotRun('needs root to run a host as another user')) return;
    // A directory and a socket mode that let nobody connect, so the plugin's peer policy is what refuses.
    const dir = scratch();
    chmodSync(dir, 0o755);
    const { p, config } = await startDebugPlugin({ mode: 0o666 }, { PLUGIN_UNIX_SOCKET_DIR: dir });
    expect(dirname(config.Addr.String)).toBe(dir);
    const host = runNode(
      `const gp = require(${JSON.stringify(distPath('goplugin', 'index.js'))});
       gp.attachPlugin(JSON.parse(process.argv[1])).then((pl) => { console.log('ATTACHED'); return pl.kill(); }, (e) => console.log('REFUSED ' + e.code));`,
      { args: [JSON.stringify(config)], uid: NOBODY.uid, gid: NOBODY.gid, timeoutMs: 20_000 },
    );
    const r = await host.done;
    expect(r.stdout.trim()).toBe('REFUSED ERR_PLUGIN_CALL');
    expect(p.stderr()).toMatch(
      new RegExp(`"@level":"error","@message":"plugsock: refused a connection to the plugin socket from pid \\d+ \\(uid ${NOBODY.uid}\\)`),
    );
    // The plugin's own user still gets in.
    const ok = await gp.attachPlugin(config);
    await ok.ping();
    await ok.kill();
  });

  it('serves the lowest offered version when no host lists versions (as go-plugin), the highest common one otherwise', async () => {
    const versions = { 1: () => {}, 2: () => {}, 3: () => {} };
    const base = { magicCookieKey: 'K', magicCookieValue: 'V', versions, debug: true, ownProcess: false } as const;
    const a = await gp.servePlugin({ ...base, env: {} });
    expect(a.appVersion).toBe(1);
    expect(a.reattachConfig.ProtocolVersion).toBe(1);
    await a.shutdown();
    const b = await gp.servePlugin({ ...base, env: { PLUGIN_PROTOCOL_VERSIONS: '2,3,7' } });
    expect(b.appVersion).toBe(3);
    await b.shutdown();
    // `host` has no meaning without a launching host.
    await expect(gp.servePlugin({ ...base, env: {}, host: 'parent' })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
  });
});

describe('go-plugin v1.8 host (ClientConfig.Reattach) attaches to the Node debug plugin', () => {
  it('reattaches twice with Test: true; each time reads what a Node host stored; the plugin keeps serving', async () => {
    const out = scratch();
    const built = spawnSync('bash', [GO_HOST_BUILD, out], { encoding: 'utf8', timeout: 300_000 });
    if (built.status !== 0 && cannotRun(`go-plugin v1.8 host not built: ${built.stderr.trim().split('\n').slice(-2).join(' | ')}`)) return;
    const goHost = built.stdout.trim();
    const { p, config } = await startDebugPlugin();
    const node = await gp.attachPlugin(config);
    await call(kvClient(node), 'Put', { key: 'shared', value: Buffer.from('stored by node') });
    await node.kill();
    for (let i = 0; i < 2; i++) {
      const r = spawnSync(goHost, ['-reattach', JSON.stringify(config), 'shared'], { encoding: 'utf8', timeout: 30_000 });
      expect(r.stderr).not.toMatch(/FAIL/);
      expect(r.stdout).toBe('GOT stored by node\nOK\n');
      expect(r.status).toBe(0);
    }
    expect(p.child.exitCode).toBe(null);
    const again = await gp.attachPlugin(config);
    await again.ping();
    await again.kill();
  }, 320_000);
});
