/**
 * go-plugin: a plugin that knows its host, a host that cleans up after its plugin (issue 13).
 *
 * - servePlugin pins its parent at start (pid + start time): after the host dies, a process that
 *   wins the host's pid is refused, and the plugin exits (tested in a private pid namespace,
 *   where /proc/sys/kernel/ns_last_pid hands the dead host's pid to an impostor for certain).
 * - A host that launches the plugin through a wrapper that does not exec it is refused with a
 *   go-plugin (hclog JSON) line on stderr at once; the plugin exits when no admitted host
 *   connected within hostConnectTimeoutMs; `host: 'ancestors'` serves such a host; real
 *   Terraform no longer hangs on such a provider, and its orphan does not outlive it.
 * - startPlugin(...).kill(), and a host process that exits, end a wrapper's grandchild too.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cannotRun, distPath, goplugin, isRoot, removeDir, root, tempDir } from '../kit';
import { COOKIE as KV_COOKIE, goV18, itWithPeers, run as runProgram } from '../interop/peers';

const gp = goplugin;
const DIST_GP = distPath('goplugin', 'index.js');
const COOKIE = { magicCookieKey: 'PLUGSOCK_PIN_COOKIE', magicCookieValue: 'pin-5c1e' };
const TERRAFORM = '/usr/local/bin/terraform';
const TF_COOKIE = { key: 'TF_PLUGIN_MAGIC_COOKIE', value: 'd602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2' };

/** A Node go-plugin plugin: servePlugin with options from SERVE_OPTS (JSON); reports its pid. */
const PLUGIN = `
const fs = require('fs');
const { servePlugin } = require(${JSON.stringify(DIST_GP)});
if (process.env.PID_FILE) fs.writeFileSync(process.env.PID_FILE, process.pid + ' ' + process.ppid + '\\n');
process.stderr.write('PLUGIN_PID ' + process.pid + ' PPID ' + process.ppid + '\\n');
servePlugin({
  magicCookieKey: process.env.COOKIE_KEY, magicCookieValue: process.env.COOKIE_VALUE,
  versions: { 1: () => {}, 5: () => {}, 6: () => {} },
  ...JSON.parse(process.env.SERVE_OPTS || '{}'),
});
`;

/** The KV example's service (examples/kv.proto), served with options from SERVE_OPTS, for a Go host. */
const KV_PLUGIN = `
const grpc = require(${JSON.stringify(require.resolve('@grpc/grpc-js'))});
const protoLoader = require(${JSON.stringify(require.resolve('@grpc/proto-loader'))});
const { servePlugin } = require(${JSON.stringify(DIST_GP)});
process.stderr.write('PLUGIN_PID ' + process.pid + ' PPID ' + process.ppid + '\\n');
const kv = grpc.loadPackageDefinition(protoLoader.loadSync(${JSON.stringify(join(root, 'examples', 'kv.proto'))}, { defaults: true })).kv;
const store = new Map();
servePlugin({
  magicCookieKey: ${JSON.stringify(KV_COOKIE.magicCookieKey)}, magicCookieValue: ${JSON.stringify(KV_COOKIE.magicCookieValue)},
  versions: { 1: (server) => server.addService(kv.KV.service, {
    Get({ request }, cb) { const v = store.get(request.key); cb(null, { value: v ?? Buffer.alloc(0), found: v !== undefined }); },
    Put({ request }, cb) { store.set(request.key, Buffer.from(request.value)); cb(null, {}); },
    List(call) { for (const [key, value] of store) if (key.startsWith(call.request.prefix)) call.write({ key, value }); call.end(); },
  }) },
  ...JSON.parse(process.env.SERVE_OPTS || '{}'),
});
`;

/** A plugin as a Go plugin behaves to this host: serves a socket, never answers Shutdown, does not watch its host. */
const DEAF_PLUGIN = `
const net = require('net');
const p = require('path').join(process.env.PLUGIN_UNIX_SOCKET_DIR, 'plugin' + process.pid);
process.stderr.write('PLUGIN_PID ' + process.pid + ' PPID ' + process.ppid + '\\n');
process.on('SIGTERM', () => {});
net.createServer((c) => c.on('error', () => {})).listen(p, () => process.stdout.write('1|1|unix|' + p + '|grpc|\\n'));
`;

let dir = '';
const leftovers: number[] = [];
beforeEach(() => {
  dir = tempDir('plugsock-pin-');
});
afterEach(() => {
  // The code before the fix leaves grandchildren running: end them so nothing outlives a test.
  for (const pid of leftovers.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  removeDir(dir);
});

/** `#!/bin/sh\n<node> <script>`: a wrapper that does not exec, so node is the host's grandchild. */
function wrapper(name: string, script: string): string {
  const js = join(dir, `${name}.cjs`);
  writeFileSync(js, script);
  const sh = join(dir, name);
  writeFileSync(sh, `#!/bin/sh\n${JSON.stringify(process.execPath)} ${JSON.stringify(js)}\n`);
  chmodSync(sh, 0o755);
  return sh;
}

/** Gone: no such process, or a zombie (exited; its reaper has not looked yet). */
function gone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    if (gone(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return gone(pid);
}

async function waitFor<T>(what: string, get: () => T | null | undefined, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    const v = get();
    if (v !== null && v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 20));
  }
  const v = get();
  if (v === null || v === undefined) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
  return v;
}

/** The hclog JSON lines in some stderr text. */
function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

/** Starts the wrapper with startPlugin, collecting stderr and learning the grandchild's pid. */
async function startWrapped(sh: string, serveOpts: object, extra: Partial<import('../../src/goplugin/index').StartPluginOptions> = {}) {
  let stderr = '';
  const p = await gp.startPlugin({
    command: sh,
    env: { ...process.env, COOKIE_KEY: COOKIE.magicCookieKey, COOKIE_VALUE: COOKIE.magicCookieValue, SERVE_OPTS: JSON.stringify(serveOpts) },
    ...COOKIE,
    startTimeoutMs: 20_000,
    onStderr: (c) => (stderr += c),
    ...extra,
  });
  const m = await waitFor('PLUGIN_PID on stderr', () => stderr.match(/PLUGIN_PID (\d+) PPID (\d+)/), 5000);
  const grandchild = Number(m[1]);
  leftovers.push(grandchild);
  // Sanity: the wrapper really is in between (sh did not exec node).
  expect(Number(m[2])).toBe(p.pid);
  expect(grandchild).not.toBe(p.pid);
  return { p, grandchild, stderr: () => stderr };
}

describe('servePlugin behind a wrapper that does not exec it', () => {
  it('refuses the grandparent host with one go-plugin error line at once, then exits when no admitted host connected in time', async () => {
    const sh = wrapper('plugin', PLUGIN);
    const t0 = Date.now();
    const { p, grandchild, stderr } = await startWrapped(sh, { hostConnectTimeoutMs: 3000 });
    try {
      // startPlugin's verifying probe was refused already; a call is refused too.
      await expect(p.ping(1500)).rejects.toThrow();
      const refusal = await waitFor('a refusal line', () => jsonLines(stderr()).find((l) => String(l['@message']).includes('refused a connection')), 2000);
      // Said at once: well before the plugin gives up.
      expect(Date.now() - t0).toBeLessThan(3000 + 2000);
      expect(refusal['@level']).toBe('error');
      expect(refusal['@timestamp']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
      expect(refusal.peer_pid).toBe(process.pid);
      expect(String(refusal['@message'])).toContain('exec');
      expect(String(refusal['@message'])).toContain("host: 'ancestors'");
      // The plugin gives up: an error line, and it exits (so does the wrapper, with its status).
      expect(await waitGone(grandchild, 3000 + 5000)).toBe(true);
      expect(jsonLines(stderr()).some((l) => l['@level'] === 'error' && String(l['@message']).includes('no admitted host connected'))).toBe(true);
      const r = await Promise.race([p.exited, new Promise<null>((res) => setTimeout(() => res(null), 3000))]);
      expect(r?.code).toBe(1);
      // Floods are cut: at most MAX_REFUSAL_LINES + 1 refusal lines.
      expect(jsonLines(stderr()).filter((l) => String(l['@message']).includes('refused')).length).toBeLessThanOrEqual(21);
    } finally {
      await p.kill();
    }
  });

  it("host: 'ancestors' serves the host behind the wrapper; kill() then ends everything", async () => {
    const sh = wrapper('plugin', PLUGIN);
    const { p, grandchild, stderr } = await startWrapped(sh, { host: 'ancestors' });
    try {
      await p.ping(3000);
      expect(jsonLines(stderr()).filter((l) => String(l['@message']).includes('refused'))).toEqual([]);
    } finally {
      await p.kill();
    }
    expect(await waitGone(grandchild, 3000)).toBe(true);
    expect((await p.exited).code).toBe(0);
  });
});

describe('servePlugin host options', () => {
  const env = () => ({ ...process.env, [COOKIE.magicCookieKey]: COOKIE.magicCookieValue, PLUGIN_PROTOCOL_VERSIONS: '1', PLUGIN_UNIX_SOCKET_DIR: dir });
  const base = () => ({ ...COOKIE, versions: { 1: () => {} }, env: env(), ownProcess: false, handshakeOut: { write: () => true }, captureStdout: false });

  it('refuses a host policy it does not know, host with peer, and a bad hostConnectTimeoutMs', async () => {
    for (const extra of [
      { host: 'grandparent' },
      { host: 'parent', peer: null },
      { host: 'ancestors', peer: { sameUser: true } },
      { hostConnectTimeoutMs: -1 },
      { hostConnectTimeoutMs: Number.NaN },
      { hostConnectTimeoutMs: '5000' },
    ]) {
      let served: Awaited<ReturnType<typeof gp.servePlugin>> | null = null;
      try {
        served = await gp.servePlugin({ ...base(), ...(extra as object) });
      } catch (err) {
        expect((err as { code?: string }).code, JSON.stringify(extra)).toBe('ERR_INVALID_OPTION');
      } finally {
        await served?.shutdown();
      }
      expect(served, `accepted ${JSON.stringify(extra)}`).toBeNull();
    }
  });

  it('ownProcess: false: `closed` rejects with ERR_PLUGIN_HOST_TIMEOUT when no host connects in time, and the socket is gone', async () => {
    const served = await gp.servePlugin({ ...base(), hostConnectTimeoutMs: 300 });
    const settled = await Promise.race([
      served.closed.then(
        () => 'resolved',
        (err: { code?: string }) => err.code,
      ),
      new Promise((r) => setTimeout(() => r('still serving'), 5000)),
    ]);
    try {
      expect(settled).toBe('ERR_PLUGIN_HOST_TIMEOUT');
      expect(existsSync(served.address)).toBe(false);
    } finally {
      await served.shutdown();
    }
  });
});

describe('startPlugin ends a wrapper plugin entirely', () => {
  it('kill() ends the grandchild that serves the socket (a plugin that ignores Shutdown and SIGTERM)', async () => {
    const sh = wrapper('deaf', DEAF_PLUGIN);
    const { p, grandchild } = await startWrapped(sh, {}, { killGraceMs: 300 });
    expect(gone(grandchild)).toBe(false);
    await p.kill();
    expect(await waitGone(grandchild, 3000)).toBe(true);
  });

  it('a host process that exits ends the grandchild too', async () => {
    const sh = wrapper('deaf', DEAF_PLUGIN);
    const host = spawn(
      process.execPath,
      [
        '-e',
        `
        const { startPlugin } = require(${JSON.stringify(DIST_GP)});
        let err = '';
        startPlugin({ command: ${JSON.stringify(sh)}, magicCookieKey: ${JSON.stringify(COOKIE.magicCookieKey)},
          magicCookieValue: ${JSON.stringify(COOKIE.magicCookieValue)}, onStderr: (c) => (err += c) }).then(async () => {
          for (let i = 0; i < 250 && !/PLUGIN_PID \\d+/.test(err); i++) await new Promise((r) => setTimeout(r, 20));
          console.log('GRANDCHILD ' + err.match(/PLUGIN_PID (\\d+)/)[1]);
          process.exit(0);
        }, (e) => { console.error(e.message); process.exit(2); });
        `,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    host.stdout!.on('data', (d) => (out += d));
    host.stderr!.on('data', (d) => (err += d));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => host.kill('SIGKILL'), 20_000);
      host.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect(code, err).toBe(0);
    const grandchild = Number(out.match(/GRANDCHILD (\d+)/)?.[1]);
    expect(grandchild).toBeGreaterThan(0);
    leftovers.push(grandchild);
    expect(await waitGone(grandchild, 3000)).toBe(true);
  });
});

describe('servePlugin pins its host', () => {
  it("refuses a process that got the dead host's pid, and exits once its host is gone", async () => {
    if (!isRoot && cannotRun('needs root for a private pid namespace (unshare) and ns_last_pid')) return;
    const probe = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true'], { encoding: 'utf8', timeout: 10_000 });
    if (probe.status !== 0 && cannotRun(`unshare --pid does not work here: ${probe.stderr || probe.error?.message}`)) return;

    // Host: launches the plugin (stderr shared with the scenario) and reports its socket.
    writeFileSync(join(dir, 'plugin.cjs'), PLUGIN);
    writeFileSync(
      join(dir, 'host.cjs'),
      `
      const { spawn } = require('child_process');
      const env = { ...process.env, COOKIE_KEY: 'K', COOKIE_VALUE: 'V', K: 'V', PLUGIN_PROTOCOL_VERSIONS: '1' };
      const p = spawn(process.execPath, [${JSON.stringify(join(dir, 'plugin.cjs'))}], { env, stdio: ['ignore', 'pipe', 'inherit'] });
      let buf = '';
      p.stdout.on('data', (d) => {
        buf += d;
        const line = buf.split('\\n')[0];
        if (buf.includes('\\n')) { console.log('READY ' + p.pid + ' ' + line.split('|')[3]); p.stdout.removeAllListeners('data'); p.stdout.resume(); }
      });
      setInterval(() => {}, 1 << 30);
      `,
    );
    // Impostor: connects; an admitted connection gets the server's HTTP/2 SETTINGS at once.
    writeFileSync(
      join(dir, 'impostor.cjs'),
      `
      const s = require('net').connect(process.argv[2]);
      let got = 0, connected = false;
      s.on('connect', () => (connected = true));
      s.on('data', (d) => (got += d.length));
      s.on('error', () => {});
      const done = () => { console.log(JSON.stringify({ pid: process.pid, connected, served: got > 0 })); process.exit(0); };
      s.on('close', done);
      setTimeout(done, 1500);
      `,
    );
    // Scenario: pid 1 of a private pid namespace, so the pid reuse is certain and everything in
    // it dies with it.
    writeFileSync(
      join(dir, 'scenario.cjs'),
      `
      const { spawn } = require('child_process');
      const fs = require('fs');
      const D = ${JSON.stringify(dir)};
      const gone = (pid) => { try { const s = fs.readFileSync('/proc/' + pid + '/stat', 'utf8'); return s.slice(s.lastIndexOf(')') + 2).startsWith('Z'); } catch { return true; } };
      const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
      (async () => {
        const host = spawn(process.execPath, [D + '/host.cjs'], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '', pluginErr = '';
        host.stdout.on('data', (d) => (out += d));
        host.stderr.on('data', (d) => (pluginErr += d));
        for (let i = 0; i < 500 && !/READY/.test(out); i++) await sleep(20);
        const m = out.match(/READY (\\d+) (\\S+)/);
        if (!m) { console.log(JSON.stringify({ error: 'no READY', out, pluginErr })); process.exit(0); }
        const pluginPid = Number(m[1]), address = m[2], hostPid = host.pid;
        // Give the plugin a moment past its handshake, then the host dies.
        await sleep(200);
        host.kill('SIGKILL');
        await new Promise((r) => host.once('exit', r));
        fs.writeFileSync('/proc/sys/kernel/ns_last_pid', String(hostPid - 1));
        const imp = spawn(process.execPath, [D + '/impostor.cjs', address], { stdio: ['ignore', 'pipe', 'inherit'] });
        let impOut = '';
        imp.stdout.on('data', (d) => (impOut += d));
        await new Promise((r) => imp.once('close', r));
        let exited = false;
        for (let i = 0; i < 300 && !(exited = gone(pluginPid)); i++) await sleep(20);
        await sleep(100);
        console.log(JSON.stringify({ hostPid, pluginPid, impostor: JSON.parse(impOut || 'null'), exited, pluginErr }));
        process.exit(0);
      })();
      `,
    );
    const r = spawnSync('unshare', ['--pid', '--fork', '--mount-proc', process.execPath, join(dir, 'scenario.cjs')], {
      encoding: 'utf8',
      timeout: 25_000,
    });
    const result = JSON.parse(r.stdout.trim().split('\n').pop() || '{}');
    expect(result.error, JSON.stringify(result)).toBeUndefined();
    // The impostor really got the dead host's pid.
    expect(result.impostor.pid, JSON.stringify(result)).toBe(result.hostPid);
    // It was not served (refused at once, or the plugin had already gone with its host).
    expect(result.impostor.served, JSON.stringify(result)).toBe(false);
    const lines = jsonLines(result.pluginErr);
    if (result.impostor.connected) {
      const refusal = lines.find((l) => String(l['@message']).includes('refused a connection'));
      expect(refusal?.peer_pid, result.pluginErr).toBe(result.hostPid);
    }
    // And the plugin whose host is gone exits, saying why.
    expect(result.exited, result.pluginErr).toBe(true);
    expect(
      lines.some((l) => l['@level'] === 'error' && String(l['@message']).includes(`host (pid ${result.hostPid}) has exited`)),
      result.pluginErr,
    ).toBe(true);
  });
});

describe('real Terraform and a provider behind a wrapper that does not exec it', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
  });

  it('terraform plan fails instead of hanging, logs the refusal, and the orphan does not outlive it', async () => {
    if (!existsSync(TERRAFORM) && cannotRun(`no terraform at ${TERRAFORM}`)) return;
    const prov = join(dir, 'prov');
    const cfg = join(dir, 'cfg');
    require('node:fs').mkdirSync(prov);
    require('node:fs').mkdirSync(cfg);
    writeFileSync(join(prov, 'plugin.cjs'), PLUGIN);
    const sh = join(prov, 'terraform-provider-fake');
    writeFileSync(sh, `#!/bin/sh\n${JSON.stringify(process.execPath)} ${JSON.stringify(join(prov, 'plugin.cjs'))}\n`);
    chmodSync(sh, 0o755);
    writeFileSync(join(dir, 'tf.rc'), `provider_installation {\n  dev_overrides { "example.com/test/fake" = ${JSON.stringify(prov)} }\n  direct {}\n}\n`);
    writeFileSync(join(cfg, 'main.tf'), 'terraform {\n  required_providers { fake = { source = "example.com/test/fake" } }\n}\nprovider "fake" {}\n');
    const pidFile = join(dir, 'plugin.pid');
    const tf = spawn(TERRAFORM, ['plan', '-input=false', '-no-color'], {
      cwd: cfg,
      env: {
        ...process.env,
        TF_CLI_CONFIG_FILE: join(dir, 'tf.rc'),
        TF_DATA_DIR: join(dir, 'tfdata'),
        TF_LOG: 'ERROR',
        TF_IN_AUTOMATION: '1',
        CHECKPOINT_DISABLE: '1',
        COOKIE_KEY: TF_COOKIE.key,
        COOKIE_VALUE: TF_COOKIE.value,
        PID_FILE: pidFile,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(tf);
    let output = '';
    tf.stdout!.on('data', (d) => (output += d));
    tf.stderr!.on('data', (d) => (output += d));
    const t0 = Date.now();
    const code = await new Promise<number | null | 'hung'>((resolve) => {
      const timer = setTimeout(() => resolve('hung'), 20_000);
      tf.on('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    const pluginPid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split(' ')[0]) : 0;
    if (pluginPid) leftovers.push(pluginPid);
    expect(code, output).not.toBe('hung');
    expect(code).not.toBe(0);
    expect(Date.now() - t0).toBeLessThan(20_000);
    // Terraform logged the plugin's line at error level (go-plugin parsed the hclog JSON).
    expect(output).toMatch(/\[ERROR\] provider\.terraform-provider-fake: plugsock: refused a connection/);
    expect(pluginPid).toBeGreaterThan(0);
    expect(await waitGone(pluginPid, 3000)).toBe(true);
  });
});

describe('a Go host (go-plugin v1.8) and a Node plugin behind a wrapper that does not exec it', () => {
  const v18 = goV18();
  const H18 = () => (v18 as { host: string }).host;

  itWithPeers(
    v18,
    'the go-plugin v1.8 peers',
    'the host logs the refusal at error level; the orphaned plugin exits in time',
    async () => {
      const sh = wrapper('kv', KV_PLUGIN);
      const t0 = Date.now();
      const r = await runProgram(H18(), ['-calls', '1', sh], { ...process.env, SERVE_OPTS: JSON.stringify({ hostConnectTimeoutMs: 3000 }) }, 30_000);
      const grandchild = Number(r.stderr.match(/PLUGIN_PID (\d+)/)?.[1]);
      if (grandchild) leftovers.push(grandchild);
      expect(r.code, r.stderr).toBe(1);
      // go-plugin parsed the plugin's hclog JSON line and logged it at error level.
      expect(r.stderr).toMatch(/\[ERROR\] kv-host\.kv: plugsock: refused a connection to the plugin socket from pid \d+ \(uid \d+\): .*host: 'ancestors'/);
      expect(grandchild).toBeGreaterThan(0);
      // The host exited without killing it (os.Exit); the plugin still ends within its limit.
      expect(await waitGone(grandchild, Math.max(0, 3000 - (Date.now() - t0)) + 5000)).toBe(true);
    },
    40_000,
  );

  itWithPeers(
    v18,
    'the go-plugin v1.8 peers',
    "host: 'ancestors' serves it",
    async () => {
      const sh = wrapper('kv', KV_PLUGIN);
      const r = await runProgram(H18(), ['-calls', '3', sh], { ...process.env, SERVE_OPTS: JSON.stringify({ host: 'ancestors' }) }, 30_000);
      const grandchild = Number(r.stderr.match(/PLUGIN_PID (\d+)/)?.[1]);
      if (grandchild) leftovers.push(grandchild);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^OK /m);
      expect(r.stderr).not.toMatch(/refused a connection/);
      expect(await waitGone(grandchild, 5000)).toBe(true);
    },
    40_000,
  );
});
