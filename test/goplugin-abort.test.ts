/**
 * AbortSignal on startPlugin and attachPlugin, with real processes: plugins that stall at each
 * step of a start (test/fixtures/goplugin-stall.mjs: no handshake line; a handshake naming a
 * socket that never exists; a socket that accepts and never answers the AutoMTLS probe), aborted
 * before the start, during the handshake wait and during the connection. Each rejects at once
 * with Node's AbortError and leaves nothing: the child and its group are dead (the child reaped:
 * no /proc entry), the private socket directory is gone, the fd count, the timers and the
 * signal's listeners are back to what they were. A completed start ignores a later abort.
 * Drives the built package (dist/).
 */
import { EventEmitter, getEventListeners, once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { capabilities } from '../src/capabilities';
import { exited, fdCountSettles, goplugin as gp, openFdCount, pidExists, plugsock, root, scratchDirs, start, waitForLine, type Started } from './kit';

const STALL = join(root, 'test', 'fixtures', 'goplugin-stall.mjs');
const KV_PLUGIN = join(root, 'test', 'fixtures', 'goplugin-node-plugin.mjs');
const COOKIE = { magicCookieKey: 'PLUGSOCK_INTEROP_COOKIE', magicCookieValue: 'kv-3b1f9e' };
const scratch = scratchDirs('plugsock-gpabort-').make;
const native = capabilities().native;

// Each test gets its own TMPDIR, so the private socket directory startPlugin makes (under
// os.tmpdir()) is seen to be made and removed, whatever other suites do in /tmp; and a `work`
// directory for its other files (made before TMPDIR is set, so not inside it).
let tmp = '';
let work = '';
const savedTmpdir = process.env.TMPDIR;
beforeEach(() => {
  work = scratch();
  tmp = scratch();
  process.env.TMPDIR = tmp;
});
afterEach(() => {
  if (savedTmpdir === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmpdir;
});

/** What Node's own APIs reject with for this signal (events.once), to compare with. */
async function nodeAbortError(signal: AbortSignal): Promise<Error & { code?: string }> {
  return once(new EventEmitter(), 'never', { signal }).then(
    () => {
      throw new Error('events.once resolved');
    },
    (err: Error) => err,
  );
}

/**
 * `err` is what Node's own APIs reject with for this abort: name, code and cause alike, own
 * enumerable keys alike, and Node's message followed by what was aborted.
 */
function expectNodeAbortError(err: unknown, node: Error & { code?: string }, reason: unknown, what: string): void {
  const e = err as Error & { code?: string };
  expect(e).toBeInstanceOf(Error);
  expect({ name: e.name, code: e.code, cause: e.cause }).toEqual({ name: 'AbortError', code: 'ABORT_ERR', cause: reason });
  expect({ name: e.name, code: e.code, cause: e.cause }).toEqual({ name: node.name, code: node.code, cause: node.cause });
  expect(Object.keys(e).sort()).toEqual(Object.keys(node).sort());
  expect(e.message).toContain(`${node.message}: ${what} `);
}

/** Timers of this process (setTimeout/setInterval, ref'd or not). */
function timerCount(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

async function timersSettle(before: number, timeoutMs = 2000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (timerCount() > before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return timerCount();
}

/** Whether a process is gone for good: no /proc entry, or a zombie (dead; an orphan waits for init). */
function deadOrZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] === 'Z';
  } catch {
    return true;
  }
}

async function eventually(check: () => boolean, timeoutMs = 2000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return check();
}

/**
 * startPlugin on the stall fixture in `mode`; `stalled` resolves with the plugin's and its
 * grandchild's pids once it said them (it is running and stalls from then on).
 */
function startStall(mode: string, signal: AbortSignal | undefined, extra: Partial<Parameters<typeof gp.startPlugin>[0]> = {}) {
  let stderr = '';
  let said: () => void;
  const saidPids = new Promise<void>((r) => (said = r));
  const started = gp.startPlugin({
    command: process.execPath,
    args: [STALL, mode],
    ...COOKIE,
    signal,
    onStderr: (c) => {
      stderr += c;
      if (/GRANDCHILD \d+\n/.test(stderr)) said();
    },
    ...extra,
  });
  started.catch(() => {});
  const stalled = saidPids.then(() => ({ pid: Number(/^PID (\d+)$/m.exec(stderr)![1]), grandchild: Number(/^GRANDCHILD (\d+)$/m.exec(stderr)![1]) }));
  return { started, stalled };
}

/**
 * Aborts a start that stalls in `mode` `afterMs` after the plugin said its pids, and checks what
 * is left: nothing.
 */
async function abortMidStart(mode: string, afterMs: number, extra: Partial<Parameters<typeof gp.startPlugin>[0]> = {}) {
  const fds = openFdCount();
  const timers = timerCount();
  const ac = new AbortController();
  const { started, stalled } = startStall(mode, ac.signal, extra);
  const { pid, grandchild } = await stalled;
  expect(pidExists(pid)).toBe(true);
  await new Promise((r) => setTimeout(r, afterMs));
  const reason = new Error(`stop ${mode}`);
  const t0 = performance.now();
  ac.abort(reason);
  const err = await started.then(
    () => null,
    (e: unknown) => e,
  );
  const tookMs = performance.now() - t0;
  expectNodeAbortError(err, await nodeAbortError(ac.signal), reason, `startPlugin of plugin ${process.execPath}`);
  // At once: the handshake wait is 60 s, the connect 5 s; a SIGKILL and a reap take milliseconds.
  expect(tookMs).toBeLessThan(1000);
  // The child is dead and reaped by the time the promise rejected; its group got SIGKILL too.
  expect(existsSync(`/proc/${pid}`)).toBe(false);
  expect(await eventually(() => deadOrZombie(grandchild))).toBe(true);
  expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
  expect(await fdCountSettles(fds)).toBe(fds);
  expect(await timersSettle(timers)).toBeLessThanOrEqual(timers);
  return { pid };
}

describe('startPlugin({ signal })', () => {
  it('an already-aborted signal rejects with AbortError before anything is spawned or made', async () => {
    const marker = join(work, 'spawned');
    const ac = new AbortController();
    const reason = new Error('not now');
    ac.abort(reason);
    const err = await gp
      .startPlugin({ command: process.execPath, args: ['-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`], ...COOKIE, signal: ac.signal })
      .then(
        () => null,
        (e: unknown) => e,
      );
    expectNodeAbortError(err, await nodeAbortError(ac.signal), reason, `startPlugin of plugin ${process.execPath}`);
    // Had the child been spawned, it would have written the marker by now; no socket directory was made.
    await new Promise((r) => setTimeout(r, 300));
    expect(existsSync(marker)).toBe(false);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('during the handshake wait (a plugin that never prints one): rejects at once, the plugin and its group killed, its socket directory removed', async () => {
    await abortMidStart('silent', 150);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('during the connection (the handshake names a socket that never appears; connect would retry 5 s): rejects at once, nothing left', async () => {
    await abortMidStart('missing', 300);
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('during the AutoMTLS probe (a socket that accepts and never answers): rejects at once; the socket and its directory are removed', async () => {
    await abortMidStart('tls-stall', 500, { autoMTLS: true });
    expect(readdirSync(tmp)).toEqual([]);
  });

  it.runIf(native)('in a socketDir of the caller: the stalled plugin’s socket is removed, the directory and other files kept', async () => {
    const dir = join(work, 'sockets');
    mkdirSync(dir, { mode: 0o700 });
    const other = join(dir, 'not-the-plugins');
    mkdirSync(other);
    await abortMidStart('tls-stall', 500, { autoMTLS: true, socketDir: dir });
    expect(readdirSync(dir)).toEqual(['not-the-plugins']);
  });

  it('AbortSignal.timeout(): the cause is its TimeoutError', async () => {
    const signal = AbortSignal.timeout(300);
    const t0 = performance.now();
    const err = (await gp.startPlugin({ command: process.execPath, args: [STALL, 'silent'], ...COOKIE, signal }).then(
      () => null,
      (e: unknown) => e,
    )) as Error & { code?: string };
    expect(performance.now() - t0).toBeLessThan(1300);
    expect(err.name).toBe('AbortError');
    expect(err.code).toBe('ABORT_ERR');
    expect((err.cause as Error).name).toBe('TimeoutError');
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('after the start completed, aborting does nothing: no listener was left on the signal, the plugin keeps serving until kill()', async () => {
    const ac = new AbortController();
    const p = await gp.startPlugin({ command: process.execPath, args: [KV_PLUGIN, '{}'], ...COOKIE, signal: ac.signal });
    try {
      expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
      ac.abort();
      await new Promise((r) => setTimeout(r, 200));
      expect(pidExists(p.pid)).toBe(true);
      await p.ping();
    } finally {
      await p.kill();
    }
    expect(await p.exited).toEqual({ code: 0, signal: null });
    expect(readdirSync(tmp)).toEqual([]);
  });

  it('a signal that is not an AbortSignal is ERR_INVALID_OPTION, before anything is spawned', async () => {
    for (const signal of [{}, 'abort', null, 1, { aborted: false }]) {
      await expect(gp.startPlugin({ command: process.execPath, args: [STALL, 'silent'], ...COOKIE, signal: signal as any })).rejects.toMatchObject({
        code: 'ERR_INVALID_OPTION',
        message: expect.stringContaining('signal must be an AbortSignal'),
      });
    }
    expect(readdirSync(tmp)).toEqual([]);
  });
});

describe('startPlugin({ startTimeoutMs }) without a signal', () => {
  it('bounds the AutoMTLS probe: a socket that accepts and never answers the TLS handshake is ERR_HANDSHAKE_TIMEOUT, nothing left', async () => {
    const fds = openFdCount();
    const timers = timerCount();
    // The handshake line comes early (a node start and a certificate); the probe then stalls,
    // and only what is left of startTimeoutMs ends it (no signal: before the fix, never).
    const { started, stalled } = startStall('tls-stall', undefined, { autoMTLS: true, startTimeoutMs: 5000 });
    const { pid, grandchild } = await stalled;
    const err = (await started.then(
      () => null,
      (e: unknown) => e,
    )) as (Error & { code?: string }) | null;
    expect(err).toBeInstanceOf(plugsock.TransportError);
    expect(err!.code).toBe('ERR_HANDSHAKE_TIMEOUT');
    // The phase and the limit are named, and what to do.
    expect(err!.message).toMatch(/accepted the connection .* but did not complete the AutoMTLS \(TLS\) handshake within startTimeoutMs \(5000 ms;/);
    expect(err!.message).toMatch(/start it without autoMTLS/);
    // The child was killed and reaped before the rejection; its group is dead; its socket, its
    // directory, the probe's fds and the timer are gone.
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    expect(await eventually(() => deadOrZombie(grandchild))).toBe(true);
    expect(readdirSync(tmp)).toEqual([]);
    expect(await fdCountSettles(fds)).toBe(fds);
    expect(await timersSettle(timers)).toBeLessThanOrEqual(timers);
  }, 20_000);

  it('startTimeoutMs or killGraceMs that no timer can hold is ERR_INVALID_OPTION, before anything is spawned', async () => {
    for (const startTimeoutMs of [0, -1, 2 ** 31, Number.NaN, Number.POSITIVE_INFINITY, '5000']) {
      await expect(
        gp.startPlugin({ command: process.execPath, args: [STALL, 'silent'], ...COOKIE, startTimeoutMs: startTimeoutMs as number }),
      ).rejects.toMatchObject({
        code: 'ERR_INVALID_OPTION',
        message: expect.stringContaining('startTimeoutMs must be a number of ms from 1 to 2147483647'),
      });
    }
    for (const killGraceMs of [-1, 2 ** 31, Number.NaN, '100']) {
      await expect(gp.startPlugin({ command: process.execPath, args: [STALL, 'silent'], ...COOKIE, killGraceMs: killGraceMs as number })).rejects.toMatchObject(
        {
          code: 'ERR_INVALID_OPTION',
          message: expect.stringContaining('killGraceMs must be a number of ms from 0 to 2147483647'),
        },
      );
    }
    expect(readdirSync(tmp)).toEqual([]);
  });
});

describe('attachPlugin(config, { signal })', () => {
  const running: Started[] = [];
  afterEach(async () => {
    for (const p of running.splice(0)) {
      p.child.kill('SIGKILL');
      await exited(p.child);
    }
  });

  const config = (pid: number, path: string) =>
    ({ Protocol: 'grpc', ProtocolVersion: 1, Pid: pid, Test: true, Addr: { Network: 'unix', String: path } }) as const;

  it('an already-aborted signal rejects with AbortError', async () => {
    const ac = new AbortController();
    ac.abort('gone');
    const err = await gp.attachPlugin(config(process.pid, join(work, 'x.sock')), { signal: ac.signal }).then(
      () => null,
      (e: unknown) => e,
    );
    expectNodeAbortError(err, await nodeAbortError(ac.signal), 'gone', `attachPlugin to plugin pid ${process.pid}`);
  });

  it('during the connection (no socket yet; connect would retry 5 s): rejects at once, no fd, timer or listener left', async () => {
    const fds = openFdCount();
    const timers = timerCount();
    const ac = new AbortController();
    const attached = gp.attachPlugin(config(process.pid, join(work, 'later.sock')), { signal: ac.signal, verifyPeer: native });
    attached.catch(() => {});
    await new Promise((r) => setTimeout(r, 300));
    const t0 = performance.now();
    ac.abort();
    const err = await attached.then(
      () => null,
      (e: unknown) => e,
    );
    expect(performance.now() - t0).toBeLessThan(1000);
    expectNodeAbortError(err, await nodeAbortError(ac.signal), ac.signal.reason, `attachPlugin to plugin pid ${process.pid}`);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    expect(await fdCountSettles(fds)).toBe(fds);
    expect(await timersSettle(timers)).toBeLessThanOrEqual(timers);
  });

  it('during the health check (a socket that accepts and never answers): rejects at once, its connections closed, the process left alone', async () => {
    const path = join(work, 'mute.sock');
    const mute = start(process.execPath, [STALL, 'mute', path]);
    running.push(mute);
    await waitForLine(mute.child, /^READY$/);
    const fds = openFdCount();
    const timers = timerCount();
    const ac = new AbortController();
    const attached = gp.attachPlugin(config(mute.child.pid!, path), { signal: ac.signal, verifyPeer: native });
    attached.catch(() => {});
    // The probe connects at once; the health check then waits for an HTTP/2 answer (5 s).
    await new Promise((r) => setTimeout(r, 500));
    const t0 = performance.now();
    ac.abort();
    const err = await attached.then(
      () => null,
      (e: unknown) => e,
    );
    expect(performance.now() - t0).toBeLessThan(1000);
    expectNodeAbortError(err, await nodeAbortError(ac.signal), ac.signal.reason, `attachPlugin to plugin pid ${mute.child.pid}`);
    expect(getEventListeners(ac.signal, 'abort')).toHaveLength(0);
    expect(await fdCountSettles(fds)).toBe(fds);
    expect(await timersSettle(timers)).toBeLessThanOrEqual(timers);
    // Not ours to end: an attached plugin is never signalled.
    expect(mute.child.exitCode).toBe(null);
    expect(pidExists(mute.child.pid!)).toBe(true);
  });

  it('a signal that is not an AbortSignal is ERR_INVALID_OPTION', async () => {
    await expect(gp.attachPlugin(config(process.pid, '/tmp/x.sock'), { signal: 'stop' as any })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION' });
  });
});
