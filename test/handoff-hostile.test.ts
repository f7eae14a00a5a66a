/**
 * The hand-off against hostile or broken peers, with real processes: a control-socket peer that
 * hangs up or talks garbage (the old side must survive and keep serving), an old side that hangs
 * up, lies in its header, floods it or sends a bad one (the successor must survive, leak no fd
 * and remove nothing that is not its socket), and close() during a pending handOff().
 */
import { existsSync, lstatSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { expectCode, openFdCount, plugsock, root, runNode, type Started, start, tempDirEach, waitForLine } from './kit';

const example = join(root, 'examples', 'handoff.mjs');

const startExample = (path: string, control: string) => start(process.execPath, [example, path, control], { stdio: ['ignore', 'pipe', 'pipe'] });

/** Asks the server at `path` who serves it (examples/handoff.mjs answers each line with its pid). */
function whoServes(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(path);
    let got = '';
    s.on('connect', () => s.write('who\n'));
    s.on('data', (d) => {
      got += d;
      if (got.endsWith('\n')) {
        s.end();
        resolve(got.trim());
      }
    });
    s.on('error', reject);
  });
}

/**
 * `old` (examples/handoff.mjs) handed its listener to `next` (pid `nextPid`) and ended cleanly;
 * `next` serves `path`, and on SIGTERM exits 0 having removed both files.
 */
async function expectHandedOver(old: Started, next: Started, nextPid: string, path: string, control: string): Promise<void> {
  expect((await old.done).code).toBe(0);
  expect(old.stderr()).toBe('');
  expect(await whoServes(path)).toBe(nextPid);
  next.child.kill('SIGTERM');
  expect((await next.done).code).toBe(0);
  expect(existsSync(path)).toBe(false);
  expect(existsSync(control)).toBe(false);
}

interface FakeOldSide {
  /** Socket the fake listens on and passes (a real listening AF_UNIX stream socket). */
  listen: string;
  control: string;
  /** The header's path (default `listen`), its dev and ino (default: lstat of that path). */
  name?: string;
  dev?: string;
  ino?: string;
  mode?: unknown;
  /**
   * honest: waits for ok, stops accepting, sends done. hangup: hangs up right after the offer.
   * flood: 10 MB with no newline. slow: as honest, then keeps its control socket 500 ms before
   * it closes it and hangs up (a busy old side), printing RELEASED. stall: as honest, but never
   * hangs up after done.
   */
  behaviour: 'honest' | 'hangup' | 'flood' | 'slow' | 'stall';
}

/** A hand-off "old side" written by hand, serving one taker after another. */
async function startFakeOldSide(cfg: FakeOldSide) {
  const fake = runNode(
    `
    const fs = require('fs');
    const net = require('net');
    const cfg = JSON.parse(process.argv[1]);
    (async () => {
      const server = net.createServer((s) => s.destroy());
      // Bound under another name and linked at cfg.listen: Node's close() unlinks only the
      // name it bound, and the file must stay for the successor (as a plugsock old side's does).
      await new Promise((r) => server.listen(cfg.listen + '.bound', r));
      fs.linkSync(cfg.listen + '.bound', cfg.listen);
      const fd = server._handle.fd;
      const control = new plugsock.UnixSocketTransport({ path: cfg.control, fdPassing: true, native: 'require' });
      let handed = false;
      control.on('connection', async (stream) => {
        stream.on('error', () => {});
        // After a hand-off there is no listener left to offer (a probe of the control socket).
        if (handed) return stream.destroy();
        const name = cfg.name || cfg.listen;
        const st = fs.lstatSync(name, { bigint: true });
        const header = { plugsockHandOff: 1, path: name, mode: cfg.mode === undefined ? 0o600 : cfg.mode,
          dev: cfg.dev || String(st.dev), ino: cfg.ino || String(st.ino), confirm: 1 };
        if (cfg.behaviour === 'flood') {
          await stream.sendFds([fd], Buffer.from('{"plugsockHandOff":1,"path":"'));
          const chunk = Buffer.alloc(64 * 1024, 'x');
          for (let i = 0; i < 160 && !stream.destroyed; i++) {
            if (!stream.write(chunk)) await new Promise((r) => { stream.once('drain', r); stream.once('close', r); });
          }
          return; // and never a newline, nor a hang-up
        }
        await stream.sendFds([fd], Buffer.from(JSON.stringify(header) + '\\n'));
        if (cfg.behaviour === 'hangup') return stream.destroy();
        let reply = '';
        stream.on('data', (d) => {
          reply += d;
          if (!reply.includes('\\n')) return;
          if (reply.startsWith('ok\\n')) {
            handed = true;
            server.close();
            if (cfg.behaviour === 'stall') stream.write('done\\n');
            else if (cfg.behaviour === 'slow') {
              stream.write('done\\n');
              setTimeout(async () => {
                await control.close();
                stream.destroy();
                console.log('RELEASED');
              }, 500);
            } else stream.end('done\\n');
            console.log('HANDED OFF');
          } else stream.destroy();
        });
      });
      await control.listen();
      console.log('READY');
    })();
    `,
    { args: [JSON.stringify(cfg)] },
  );
  await waitForLine(fake.child, /^READY$/);
  return fake;
}

interface SuccessorResult {
  codes: string[];
  fdsBefore: number;
  fdsAfter: number;
  /** Longest single takeOver(), ms. */
  slowestMs: number;
  rssGrowth: number;
  warnings: string[];
  connections: number;
  /** Whether the successor's own listener file was still there after the take-over's close(). */
  ownLeft: boolean | null;
}

/**
 * takeOver() in a child process, `tries` times (after one warm-up try that loads everything, so
 * the fd count compares like with like). A successful take-over is closed again at once.
 */
async function successor(
  control: string,
  tries: number,
  warmUp = true,
  ownListener?: string,
): Promise<SuccessorResult & { exit: number | null; stderr: string }> {
  const child = runNode(
    `
    const fs = require('fs');
    const [control, tries, warmUp, ownListener] = JSON.parse(process.argv[1]);
    const warnings = [];
    process.on('warning', (w) => warnings.push(w.code || w.name));
    let connections = 0;
    async function attempt() {
      const t0 = Date.now();
      try {
        const t = await plugsock.UnixSocketTransport.takeOver(control, { connectTimeoutMs: 2000 });
        t.on('connection', (s) => { connections++; s.destroy(); });
        await new Promise((r) => setTimeout(r, 200));
        await t.close();
        return ['ok', Date.now() - t0];
      } catch (err) {
        return [err.code || String(err), Date.now() - t0];
      }
    }
    (async () => {
      // A listener of this process's own (never closed, so its file stays after exit).
      if (ownListener) await new Promise((r) => require('net').createServer().listen(ownListener, r).unref());
      if (warmUp) await attempt();
      const fdsBefore = openFdCount();
      const rss0 = process.memoryUsage().rss;
      const codes = [];
      let slowestMs = 0;
      for (let i = 0; i < tries; i++) {
        const [code, ms] = await attempt();
        codes.push(code);
        slowestMs = Math.max(slowestMs, ms);
      }
      const rssGrowth = process.memoryUsage().rss - rss0;
      // (Node removes its own listener's file when the process exits: look before that.)
      const ownLeft = ownListener ? fs.existsSync(ownListener) : null;
      console.log('RESULT ' + JSON.stringify({ codes, fdsBefore, fdsAfter: openFdCount(), slowestMs, rssGrowth, warnings, connections, ownLeft }));
    })();
    `,
    { args: [JSON.stringify([control, tries, warmUp, ownListener])] },
  );
  const result = await child.done;
  const line = result.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`successor printed no result (exit ${result.code}, signal ${result.signal}): ${result.stderr}`);
  return { ...(JSON.parse(line.slice(7)) as SuccessorResult), exit: result.code, stderr: result.stderr };
}

describe('hand-off against hostile peers', () => {
  const dir = tempDirEach();
  const children: Array<{ kill(): boolean }> = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill();
  });

  it('a control-socket peer that hangs up, talks garbage or floods cannot end handOff(): the old side keeps serving and a real successor still takes over', async () => {
    const path = join(dir(), 'app.sock');
    const control = join(dir(), 'app.control');
    const a = startExample(path, control);
    children.push(a.child);
    const [, aPid] = await waitForLine(a.child, /^LISTENING unix:\S+ pid (\d+)/);

    const hostile = (send: (s: net.Socket) => void) =>
      new Promise<void>((resolve) => {
        const s = net.connect(control);
        s.resume(); // read (and drop) what the old side offers, so its hang-up is seen
        s.on('connect', () => send(s));
        s.on('error', () => resolve());
        s.on('close', () => resolve());
      });
    for (let i = 0; i < 20; i++) await hostile((s) => s.destroy()); // connects and hangs up
    await hostile((s) => s.end('no thanks\n')); // answers garbage
    await hostile((s) => {
      // a reply that never ends: the old side must drop it after 4 KiB, not buffer 10 MB
      s.write(Buffer.alloc(10 * 1024 * 1024, 'x'), () => s.destroy());
      setTimeout(() => s.destroy(), 3000);
    });

    expect(await whoServes(path)).toBe(aPid);
    const b = startExample(path, control);
    children.push(b.child);
    const [, bPid] = await waitForLine(b.child, /^TOOK OVER unix:\S+ pid (\d+)/);
    await expectHandedOver(a, b, bPid, path, control);
  }, 60_000);

  it('an old side that hangs up before "ok": the successor survives with ERR_HANDOFF and leaks no fd', async () => {
    const control = join(dir(), 'c');
    const fake = await startFakeOldSide({ listen: join(dir(), 'fake.sock'), control, behaviour: 'hangup' });
    children.push(fake.child);
    const r = await successor(control, 20);
    expect(r.exit).toBe(0);
    expect(r.codes).toEqual(Array(20).fill('ERR_HANDOFF'));
    expect(r.fdsAfter).toBe(r.fdsBefore);
  }, 60_000);

  it('the successor serves once the old side has given its control socket up: it offers the next hand-off on the same path at once', async () => {
    const path = join(dir(), 'app.sock');
    const control = join(dir(), 'app.control');
    const fake = await startFakeOldSide({ listen: path, control, behaviour: 'slow' });
    children.push(fake.child);
    const released = waitForLine(fake.child, /^RELEASED$/);
    // The example offers the next hand-off on `control` as soon as takeOver() resolves.
    const b = startExample(path, control);
    children.push(b.child);
    const [, bPid] = await waitForLine(b.child, /^TOOK OVER unix:\S+ pid (\d+)/);
    await released;
    expect((await fake.done).code).toBe(0);
    expect(await whoServes(path)).toBe(bPid);
    const c = startExample(path, control);
    children.push(c.child);
    const [, how, cPid] = await waitForLine(c.child, /^(TOOK OVER|LISTENING) unix:\S+ pid (\d+)/);
    expect(how, `the first successor could not offer on ${control}: ${b.stderr()}`).toBe('TOOK OVER');
    await expectHandedOver(b, c, cPid, path, control);
  }, 60_000);

  it('an old side that never hangs up after "done" holds the successor 1 s at most, then it serves', async () => {
    const control = join(dir(), 'c');
    const fake = await startFakeOldSide({ listen: join(dir(), 'fake.sock'), control, behaviour: 'stall' });
    children.push(fake.child);
    const r = await successor(control, 1, false);
    expect(r.exit).toBe(0);
    expect(r.codes).toEqual(['ok']);
    // takeOver() waited for the hang-up that never came (1 s), then the try's own 200 ms.
    expect(r.slowestMs).toBeGreaterThanOrEqual(1000 + 200);
    expect(r.slowestMs).toBeLessThan(6000);
  }, 60_000);

  it('the old side removes its control socket before it hangs up on the successor, even when it is slow to (300 ms stall after each hang-up)', async () => {
    const path = join(dir(), 'app.sock');
    const control = join(dir(), 'app.control');
    // The old side stalls right after every FdStream it destroys has hung up: were the control
    // socket removed after that hang-up, the taker below would find it still there.
    const stall = join(dir(), 'stall.cjs');
    writeFileSync(
      stall,
      `const { FdStream } = require(${JSON.stringify(join(root, 'dist', 'fd-stream.js'))});
       const destroy = FdStream.prototype.destroy;
       FdStream.prototype.destroy = function (...args) {
         const r = destroy.apply(this, args);
         const until = Date.now() + 300; while (Date.now() < until);
         return r;
       };`,
    );
    const a = start(process.execPath, ['-r', stall, example, path, control], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(a.child);
    await waitForLine(a.child, /^LISTENING /);
    // A taker by hand: says ok to the offer, and looks for the control socket at the hang-up.
    const taker = runNode(
      `
      const fs = require('fs');
      const control = process.argv[1];
      (async () => {
        const t = new plugsock.UnixSocketTransport({ native: 'require' });
        const s = await t.connect(control, { fdPassing: true, peer: { sameUser: true } });
        s.on('fds', (fds) => fds.forEach((fd) => fs.closeSync(fd)));
        let got = '';
        s.on('data', (d) => {
          if (!got.includes('\\n') && (got += d).includes('\\n')) s.write('ok\\n');
          else got += d;
        });
        s.on('end', () => {
          console.log('RESULT ' + JSON.stringify({ controlLeft: fs.existsSync(control), lines: got.split('\\n').slice(1) }));
          t.close();
        });
      })();
      `,
      { args: [control] },
    );
    const [, json] = await waitForLine(taker.child, /^RESULT (.*)$/);
    expect(JSON.parse(json)).toEqual({ controlLeft: false, lines: ['done', ''] });
    expect((await taker.done).code).toBe(0);
    expect((await a.done).code).toBe(0);
    expect(a.stderr()).toBe('');
  }, 60_000);

  // What the lying header names, and the file that must survive the successor's close().
  const lies: Array<[string, (dir: string) => { name: string; ino?: (name: string) => string; ownListener?: boolean }]> = [
    ['a regular file', (d) => ({ name: join(d, 'precious.txt') })],
    ["another process's live socket", (d) => ({ name: join(d, 'victim.sock') })],
    ['a socket of the successor itself', (d) => ({ name: join(d, 'own.sock'), ownListener: true })],
    ['the right kind of file with the wrong (dev, ino)', (d) => ({ name: join(d, 'victim.sock'), ino: (name) => String(lstatSync(name).ino + 1) })],
  ];
  for (const [what, lie] of lies) {
    it(`an old side whose header names ${what}: the successor serves, warns, and its close() removes nothing`, async () => {
      const { name, ino, ownListener } = lie(dir());
      writeFileSync(join(dir(), 'precious.txt'), 'keep me\n');
      const victim = join(dir(), 'victim.sock');
      const victimServer = net.createServer((s) => s.destroy());
      await new Promise<void>((r) => victimServer.listen(victim, () => r()));
      try {
        const control = join(dir(), 'c');
        const fake = await startFakeOldSide({ listen: join(dir(), 'fake.sock'), control, behaviour: 'honest', name, ino: ino?.(name) });
        children.push(fake.child);
        const r = await successor(control, 1, false, ownListener ? name : undefined);
        expect(r.exit).toBe(0);
        expect(r.codes).toEqual(['ok']);
        expect(ownListener ? r.ownLeft : existsSync(name), `${name} is left`).toBe(true);
        expect(lstatSync(join(dir(), 'precious.txt')).isFile()).toBe(true);
        expect(lstatSync(victim).isSocket()).toBe(true);
        expect(r.warnings).toContain('PLUGSOCK_HANDOFF_UNVERIFIED');
        // The other process still serves on its socket.
        await new Promise<void>((resolve, reject) => {
          const s = net.connect(victim, () => {
            s.destroy();
            resolve();
          });
          s.on('error', reject);
        });
      } finally {
        victimServer.close();
      }
    }, 60_000);
  }

  it('a verified take-over removes its socket on close, with no warning, and its probe connections are never handed out', async () => {
    const path = join(dir(), 'app.sock');
    const control = join(dir(), 'app.control');
    const a = startExample(path, control);
    children.push(a.child);
    await waitForLine(a.child, /^LISTENING unix:\S+ pid (\d+)/);
    const r = await successor(control, 1, false);
    expect(r.codes).toEqual(['ok']);
    expect(r.warnings).toEqual([]);
    expect(r.connections).toBe(0);
    expect((await a.done).code).toBe(0);
    expect(existsSync(path)).toBe(false);
  }, 60_000);

  it('headers with a bad mode are refused with ERR_HANDOFF and the received listener is closed (fd count unchanged over 20 tries)', async () => {
    for (const [i, mode] of [0o7777, -1, 1.5, '0600'].entries()) {
      const control = join(dir(), `c${i}`);
      const fake = await startFakeOldSide({ listen: join(dir(), `fake${i}.sock`), control, behaviour: 'honest', mode });
      children.push(fake.child);
      const r = await successor(control, 20);
      expect(r.exit).toBe(0);
      expect(r.fdsAfter, `mode ${String(mode)}: fds after 20 tries`).toBe(r.fdsBefore);
      expect(r.codes).toEqual(Array(20).fill('ERR_HANDOFF'));
      fake.child.kill();
    }
  }, 60_000);

  it('a 10 MB header without a newline is ERR_HANDOFF at once, in bounded memory, with no fd left', async () => {
    const control = join(dir(), 'c');
    const fake = await startFakeOldSide({ listen: join(dir(), 'fake.sock'), control, behaviour: 'flood' });
    children.push(fake.child);
    const r = await successor(control, 1);
    expect(r.exit).toBe(0);
    expect(r.codes).toEqual(['ERR_HANDOFF']);
    expect(r.slowestMs).toBeLessThan(2000);
    expect(r.fdsAfter).toBe(r.fdsBefore);
    expect(r.rssGrowth).toBeLessThan(32 * 1024 * 1024);
  }, 60_000);

  it('close() during a pending handOff() rejects it at once with ERR_TRANSPORT_CLOSED, removes the control socket and leaks no fd', async () => {
    const { UnixSocketTransport } = plugsock;
    const round = async (i: number) => {
      const control = join(dir(), `c${i}`);
      const t = new UnixSocketTransport({ path: join(dir(), `s${i}.sock`) });
      await t.listen();
      const pending = t.handOff(control);
      pending.catch(() => {});
      for (let n = 0; n < 200 && !existsSync(control); n++) await new Promise((r) => setTimeout(r, 5));
      expect(lstatSync(control).isSocket()).toBe(true);
      const t0 = Date.now();
      const settled = Promise.race([
        expectCode(pending, 'ERR_TRANSPORT_CLOSED'),
        new Promise((_, reject) => setTimeout(() => reject(new Error('handOff() still pending 1 s after close()')), 1000)),
      ]);
      await t.close();
      await settled;
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(existsSync(control)).toBe(false);
    };
    await round(0); // warm-up
    await new Promise((r) => setTimeout(r, 200)); // let fds of earlier tests' children close
    const before = openFdCount();
    for (let i = 1; i <= 5; i++) await round(i);
    expect(openFdCount()).toBe(before);
  });
});
