/**
 * Issue 17, AbortSignal: listen(), connect(), handOff() and takeOver() take `{ signal }`. An abort
 * rejects at once with Node's AbortError (as `events.once()` makes it: name, code, cause), stops
 * connect()'s retries, and leaves nothing behind: no socket file, fd, timer, or listener on the
 * signal. An already-aborted signal rejects before any system call. Real sockets throughout.
 */
import { EventEmitter, getEventListeners, once } from 'node:events';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectCode, fdCountSettles, type Mode, modes, nativeOption, openFdCount, plugsock, runNode, transportsPerTest } from './kit';

/** What Node's own API rejects with for an abort with `reason`: the shape to match. */
async function nodesAbortError(reason: unknown): Promise<Error & { code?: string }> {
  const ac = new AbortController();
  const pending = once(new EventEmitter(), 'never', { signal: ac.signal }).catch((err: Error) => err);
  ac.abort(reason);
  return (await pending) as Error & { code?: string };
}

/** Awaits `promise`, which must reject like Node's AbortError with `reason` as cause; returns it. */
async function expectAbortError(promise: Promise<unknown>, reason: unknown): Promise<Error & { code?: string }> {
  const err = await promise.then(
    () => {
      throw new Error('expected an AbortError, but it resolved');
    },
    (e: Error & { code?: string }) => e,
  );
  const node = await nodesAbortError(reason);
  expect(err).toBeInstanceOf(Error);
  expect({ name: err.name, code: err.code, cause: err.cause }).toEqual({ name: node.name, code: node.code, cause: node.cause });
  expect(err.cause).toBe(reason);
  expect(Object.keys(err).sort()).toEqual(Object.keys(node).sort());
  return err;
}

const abortListeners = (signal: AbortSignal) => getEventListeners(signal, 'abort').length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(modes)('AbortSignal (%s)', (mode: Mode) => {
  const native = nativeOption(mode);
  const { dir, make } = transportsPerTest({ native });

  describe('connect()', () => {
    it('an already-aborted signal rejects before any system call: a live server sees no connection', async () => {
      const server = make({ path: join(dir(), 's.sock') });
      let accepted = 0;
      server.on('connection', (s) => {
        accepted++;
        s.destroy();
      });
      await server.listen();
      const reason = new Error('gave up before starting');
      const signal = AbortSignal.abort(reason);
      const client = make();
      await expectAbortError(client.connect(server.path, { signal }), reason);
      await sleep(100);
      expect(accepted).toBe(0);
      expect(client.connectionCount).toBe(0);
      // The same client connects fine without the signal: the server was reachable all along.
      const socket = await client.connect(server.path);
      socket.destroy();
    });

    it('an abort during the retries (socket missing) rejects at once, not at the time-out, and leaves no timer, fd or listener', async () => {
      const path = join(dir(), 'missing.sock');
      const client = make({ connectTimeoutMs: 10_000 });
      const fds = openFdCount();
      const ac = new AbortController();
      const reason = new Error('user cancelled');
      const pending = client.connect(path, { signal: ac.signal });
      await sleep(150); // several retries in
      expect(abortListeners(ac.signal)).toBeGreaterThan(0);
      const aborted = Date.now();
      ac.abort(reason);
      await expectAbortError(pending, reason);
      expect(Date.now() - aborted).toBeLessThan(1000); // not the 10 s wait it cut short (a loaded machine may delay a turn)
      expect(abortListeners(ac.signal)).toBe(0);
      expect(await fdCountSettles(fds)).toBe(fds);
      // No retry keeps running behind the rejection: a server that appears now sees nobody.
      const server = make({ path });
      let accepted = 0;
      server.on('connection', () => accepted++);
      await server.listen();
      await sleep(200);
      expect(accepted).toBe(0);
    });

    it('in a process of its own: after the abort no timer or handle is left, and the process exits by itself at once', async () => {
      const { done } = runNode(
        `
        const [path, native] = process.argv.slice(1);
        const t = new plugsock.UnixSocketTransport({ native, connectTimeoutMs: 20000 });
        const ac = new AbortController();
        const started = Date.now();
        setTimeout(() => ac.abort(), 200);
        t.connect(path, { signal: ac.signal }).catch((e) => {
          console.log(JSON.stringify({ name: e.name, ms: Date.now() - started, timers: process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length }));
          process.on('exit', () => console.log('EXIT ' + (Date.now() - started)));
        });
      `,
        { args: [join(dir(), 'never.sock'), native], timeoutMs: 15_000 },
      );
      const r = await done;
      expect(r.code, r.stderr).toBe(0);
      const report = JSON.parse(r.stdout.split('\n')[0]) as { name: string; ms: number; timers: number };
      expect(report.name).toBe('AbortError');
      expect(report.ms).toBeLessThan(5000); // the abort came at 200 ms; the time-out is 20 s
      expect(report.timers).toBe(0);
      // Nothing kept it alive: it exited right after the rejection, not at the 20 s time-out.
      const exitedAt = Number(/EXIT (\d+)/.exec(r.stdout)?.[1]);
      expect(exitedAt).toBeLessThan(5000);
    });

    it('an abort with the default reason has a DOMException AbortError as cause, as Node gives', async () => {
      const ac = new AbortController();
      const pending = make({ connectTimeoutMs: 5000 }).connect(join(dir(), 'nope.sock'), { signal: ac.signal });
      await sleep(30);
      ac.abort();
      const err = await expectAbortError(pending, ac.signal.reason);
      expect((err.cause as Error).name).toBe('AbortError');
    });

    it('a signal that never fires is let go once connect() resolves or rejects', async () => {
      const server = make({ path: join(dir(), 's.sock') });
      server.on('connection', (s) => s.destroy());
      await server.listen();
      const ac = new AbortController();
      const socket = await make().connect(server.path, { signal: ac.signal });
      expect(abortListeners(ac.signal)).toBe(0);
      socket.destroy();
      await expectCode(make().connect(join(dir(), 'none.sock'), { signal: ac.signal, timeoutMs: 50 }), 'ERR_CONNECT_TIMEOUT');
      expect(abortListeners(ac.signal)).toBe(0);
      ac.abort(); // nothing left to abort: no unhandled rejection, no throw
    });

    it('signal must be an AbortSignal (ERR_INVALID_OPTION)', async () => {
      const client = make();
      for (const signal of [null, {}, 'abort', 5, { aborted: false }]) {
        await expectCode(client.connect(join(dir(), 'x.sock'), { signal: signal as unknown as AbortSignal }), 'ERR_INVALID_OPTION');
      }
    });
  });

  describe('listen()', () => {
    it('an already-aborted signal rejects before any system call: no file, no generated directory', async () => {
      const reason = new Error('not now');
      const explicit = make({ path: join(dir(), 'a.sock') });
      await expectAbortError(explicit.listen({ signal: AbortSignal.abort(reason) }), reason);
      expect(existsSync(explicit.path)).toBe(false);
      const generated = make();
      await expectAbortError(generated.listen({ signal: AbortSignal.abort(reason) }), reason);
      expect(existsSync(dirname(generated.path))).toBe(false);
      // Nothing was made, so the transport may listen now.
      await explicit.listen();
      expect(existsSync(explicit.path)).toBe(true);
    });

    it('an abort in the middle of the claim undoes it: the file (and a generated directory) is gone when listen() rejects', async () => {
      for (const path of [join(dir(), 'mid.sock'), undefined]) {
        const t = make(path === undefined ? {} : { path });
        const fds = openFdCount();
        const ac = new AbortController();
        const reason = new Error('changed my mind');
        const listening = t.listen({ signal: ac.signal });
        // The claim has begun (natively the socket is already published by now).
        if (mode === 'native') expect(existsSync(t.path)).toBe(true);
        ac.abort(reason);
        await expectAbortError(listening, reason);
        expect(existsSync(t.path)).toBe(false);
        if (path === undefined) expect(existsSync(dirname(t.path))).toBe(false);
        expect(await fdCountSettles(fds)).toBe(fds);
        expect(t.endpoint).toBeNull();
        // An aborted listen() may be tried again.
        const endpoint = await t.listen();
        expect(endpoint).toBe(`unix:${t.path}`);
        const socket = await make().connect(endpoint);
        socket.destroy();
        await t.close();
      }
    });

    it('once listening, the signal is let go: a later abort changes nothing', async () => {
      const t = make({ path: join(dir(), 'l.sock') });
      const ac = new AbortController();
      await t.listen({ signal: ac.signal });
      expect(abortListeners(ac.signal)).toBe(0);
      ac.abort();
      const socket = await make().connect(t.path);
      socket.destroy();
      expect(existsSync(t.path)).toBe(true);
    });

    it('signal must be an AbortSignal (ERR_INVALID_OPTION), and nothing is claimed', async () => {
      const t = make({ path: join(dir(), 'bad.sock') });
      await expectCode(t.listen({ signal: {} as AbortSignal }), 'ERR_INVALID_OPTION');
      expect(existsSync(t.path)).toBe(false);
    });
  });
});

describe('AbortSignal on the hand-off (native)', () => {
  const { dir, make, track } = transportsPerTest({ native: 'require' });

  it('handOff(): an already-aborted signal rejects before the control socket is made', async () => {
    const t = make({ path: join(dir(), 'app.sock') });
    await t.listen();
    const control = join(dir(), 'app.ctl');
    const reason = new Error('no hand-off today');
    await expectAbortError(t.handOff(control, { signal: AbortSignal.abort(reason) }), reason);
    expect(existsSync(control)).toBe(false);
    await expectCode(t.handOff(control, { signal: new AbortController() as unknown as AbortSignal }), 'ERR_INVALID_OPTION');
    expect(existsSync(control)).toBe(false);
  });

  it('handOff(): an abort while waiting for a taker rejects once the control socket is gone; the transport keeps serving and can hand off later', async () => {
    const t = make({ path: join(dir(), 'app.sock') });
    t.on('connection', (s) => s.end('still here'));
    await t.listen();
    const control = join(dir(), 'app.ctl');
    const ac = new AbortController();
    const reason = new Error('maintenance window over');
    const handing = t.handOff(control, { signal: ac.signal });
    for (let i = 0; i < 100 && !existsSync(control); i++) await sleep(10);
    expect(existsSync(control)).toBe(true);
    const aborted = Date.now();
    ac.abort(reason);
    await expectAbortError(handing, reason);
    expect(Date.now() - aborted).toBeLessThan(1000); // not the 10 s wait it cut short (a loaded machine may delay a turn)
    expect(existsSync(control)).toBe(false);
    expect(abortListeners(ac.signal)).toBe(0);
    const socket = await make().connect(t.path);
    const [reply] = await once(socket, 'data');
    expect(String(reply)).toBe('still here');
    // Not stuck in a half-state: a new handOff() waits again (and close() ends it).
    const again = t.handOff(control).catch((e: Error & { code?: string }) => e.code);
    for (let i = 0; i < 100 && !existsSync(control); i++) await sleep(10);
    expect(existsSync(control)).toBe(true);
    await t.close();
    expect(await again).toBe('ERR_TRANSPORT_CLOSED');
  });

  it("connect(): an abort during the client's own asynchronous peer check rejects at once and closes the connection", async () => {
    const server = make({ path: join(dir(), 's.sock') });
    const closedOnServer = new Promise<void>((resolve) => server.on('connection', (s) => s.on('close', () => resolve()).resume()));
    await server.listen();
    const client = make({ peerCheckTimeoutMs: 10_000 });
    const ac = new AbortController();
    const reason = new Error('verify takes too long for me');
    let verifying = false;
    const pending = client.connect(server.path, {
      signal: ac.signal,
      peer: {
        verify: () => {
          verifying = true;
          return new Promise<boolean>(() => {}); // never settles
        },
      },
    });
    for (let i = 0; i < 100 && !verifying; i++) await sleep(5);
    expect(verifying).toBe(true);
    const aborted = Date.now();
    ac.abort(reason);
    await expectAbortError(pending, reason);
    expect(Date.now() - aborted).toBeLessThan(1000); // not the 10 s wait it cut short (a loaded machine may delay a turn)
    await closedOnServer;
    // (A destroyed socket leaves the count at its 'close' event, a tick after destroy().)
    await new Promise((r) => setImmediate(r));
    expect(client.connectionCount).toBe(0);
    expect(abortListeners(ac.signal)).toBe(0);
  });

  it('takeOver(): an already-aborted signal rejects before connecting: the old side sees no taker', async () => {
    const control = make({ path: join(dir(), 'fake.ctl'), fdPassing: true });
    let takers = 0;
    control.on('connection', (s) => {
      takers++;
      s.destroy();
    });
    await control.listen();
    const reason = new Error('not taking');
    await expectAbortError(takeOver(control.path, AbortSignal.abort(reason)), reason);
    await sleep(100);
    expect(takers).toBe(0);
  });

  it('takeOver(): an abort while the control socket is missing stops the retries at once', async () => {
    const fds = openFdCount();
    const ac = new AbortController();
    const reason = new Error('stop');
    const pending = takeOver(join(dir(), 'none.ctl'), ac.signal, 10_000);
    await sleep(100);
    const aborted = Date.now();
    ac.abort(reason);
    await expectAbortError(pending, reason);
    expect(Date.now() - aborted).toBeLessThan(1000); // not the 10 s wait it cut short (a loaded machine may delay a turn)
    expect(abortListeners(ac.signal)).toBe(0);
    expect(await fdCountSettles(fds)).toBe(fds);
  });

  it('takeOver(): an abort while waiting for the offer rejects at once and hangs up on the old side', async () => {
    // An "old side" that accepts the taker and never sends the offer (its wait is 10 s).
    const control = make({ path: join(dir(), 'silent.ctl'), fdPassing: true });
    const hungUp = new Promise<void>((resolve) =>
      control.on('connection', (s) => {
        s.on('data', () => {});
        s.on('close', () => resolve());
      }),
    );
    await control.listen();
    const fds = openFdCount();
    const ac = new AbortController();
    const reason = new Error('too slow');
    const pending = takeOver(control.path, ac.signal);
    await sleep(200);
    expect(control.connectionCount).toBe(1);
    const aborted = Date.now();
    ac.abort(reason);
    const err = await expectAbortError(pending, reason);
    expect(err.message).toContain('takeOver()');
    expect(Date.now() - aborted).toBeLessThan(1000); // not the 10 s wait it cut short (a loaded machine may delay a turn)
    await hungUp;
    expect(abortListeners(ac.signal)).toBe(0);
    expect(await fdCountSettles(fds)).toBe(fds);
  });

  it('takeOver(): signal must be an AbortSignal (ERR_INVALID_OPTION)', async () => {
    await expectCode(takeOver(join(dir(), 'x.ctl'), 'soon' as unknown as AbortSignal), 'ERR_INVALID_OPTION');
  });

  /** UnixSocketTransport.takeOver with `signal`; a transport it resolves is closed after the test. */
  function takeOver(control: string, signal: AbortSignal, connectTimeoutMs = 2000) {
    return plugsock.UnixSocketTransport.takeOver(control, { signal, connectTimeoutMs }).then(track);
  }
});
