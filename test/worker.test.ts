// The addon in worker_threads: loads in several threads at once (N-API, no global state), works
// in each alongside the main thread, and a terminated worker leaves no fds and no memory behind.
// Workers run test/fixtures/worker-echo.{js,mjs} with plain node on the built package (dist/).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { cannotRun, plugsock, root, run, tempDirEach } from './kit';

const { UnixSocketTransport, capabilities } = plugsock;
const FIXTURES = join(__dirname, 'fixtures');
const ENTRY = { cjs: join(FIXTURES, 'worker-echo.js'), esm: join(FIXTURES, 'worker-echo.mjs') };

interface WorkerMessage {
  type: 'done' | 'ready' | 'error';
  threadId: number;
  native: boolean;
  reason: string | null;
  sourceHash: string | null;
  message?: string;
  rounds?: number;
  endpoint?: string;
  peer?: { pid: number; uid: number; gid: number } | null;
  serverMaker?: string;
}

const dir = tempDirEach('plugsock-test-worker-');

/** Starts a worker; resolves with its first message (rejects on 'error' or an early exit). */
function startWorker(kind: 'cjs' | 'esm', data: Record<string, unknown>): { worker: Worker; first: Promise<WorkerMessage>; exit: Promise<number> } {
  const worker = new Worker(ENTRY[kind], { workerData: { root, dir: dir(), ...data } });
  const exit = new Promise<number>((resolve) => worker.once('exit', resolve));
  const first = new Promise<WorkerMessage>((resolve, reject) => {
    worker.once('message', (m: WorkerMessage) => (m.type === 'error' ? reject(new Error(`worker: ${m.message}`)) : resolve(m)));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker exited (${code}) before reporting`)));
  });
  return { worker, first, exit };
}

/** The main thread's share of the concurrent run: the same echo loop as the workers'. */
async function mainEcho(rounds: number): Promise<number> {
  const server = new UnixSocketTransport({ path: join(dir(), 'main.sock'), native: 'require' });
  server.on('connection', (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  const socket = await new UnixSocketTransport({ native: 'require' }).connect(await server.listen());
  let failed: Error | null = null;
  socket.on('error', (err) => (failed = err));
  let done = 0;
  for (let i = 0; i < rounds; i++) {
    const msg = `main:${i}:` + 'y'.repeat(i % 64);
    const reply = new Promise<string>((resolve) => {
      let got = '';
      const onData = (d: Buffer) => {
        got += d;
        if (got.length >= msg.length) {
          socket.off('data', onData);
          resolve(got);
        }
      };
      socket.on('data', onData);
    });
    socket.write(msg);
    expect(await reply).toBe(msg);
    done++;
    if (i % 16 === 0) await new Promise((r) => setImmediate(r));
  }
  expect(failed).toBeNull();
  expect(socket.peer?.pid).toBe(process.pid);
  socket.end();
  await new Promise((r) => socket.once('close', r));
  await server.close();
  return done;
}

describe('worker_threads', () => {
  const nativeReady = (): boolean => {
    const caps = capabilities();
    if (caps.native) return true;
    return !cannotRun(`native addon did not load in the main thread: ${caps.reason}`);
  };

  it('loads in two workers at once (CommonJS and ESM entries) while the main thread uses it too', async () => {
    if (!nativeReady()) return;
    const rounds = 200;
    const a = startWorker('cjs', { task: 'echo', tag: 'wa', mode: 'native', rounds });
    const b = startWorker('esm', { task: 'echo', tag: 'wb', mode: 'native', rounds });
    const [ra, rb, main] = await Promise.all([a.first, b.first, mainEcho(rounds)]);
    expect(await Promise.all([a.exit, b.exit])).toEqual([0, 0]);
    expect(main).toBe(rounds);
    for (const r of [ra, rb]) {
      expect(r.type).toBe('done');
      expect(r.native).toBe(true);
      expect(r.reason).toBeNull();
      expect(r.serverMaker).toBe('native');
      expect(r.rounds).toBe(rounds);
      // Same binary as the main thread's, and peer credentials work from a worker.
      expect(r.sourceHash).toBe(capabilities().addonSourceHash);
      expect(r.peer?.pid).toBe(process.pid);
    }
    expect(ra.threadId).not.toBe(rb.threadId);
    // Both workers closed their transports: their socket files are gone.
    expect(existsSync(join(dir(), 'wa.sock'))).toBe(false);
    expect(existsSync(join(dir(), 'wb.sock'))).toBe(false);
  });

  it('keeps working in one worker while another is terminated mid-use', async () => {
    if (!nativeReady()) return;
    const holder = startWorker('cjs', { task: 'hold', tag: 'held' });
    await holder.first;
    const busy = startWorker('esm', { task: 'echo', tag: 'busy', mode: 'native', rounds: 300 });
    const main = mainEcho(100);
    await holder.worker.terminate();
    const [r, m] = await Promise.all([busy.first, main]);
    expect(r.rounds).toBe(300);
    expect(m).toBe(100);
    // The addon still loads and works in a fresh worker after one was torn down.
    const again = startWorker('cjs', { task: 'echo', tag: 'again', mode: 'native', rounds: 10 });
    expect((await again.first).rounds).toBe(10);
  });

  it('fallback mode (native: off) works in a worker too', async () => {
    const w = startWorker('cjs', { task: 'echo', tag: 'net', mode: 'net', rounds: 20 });
    const r = await w.first;
    expect(r.serverMaker).toBe('net');
    expect(r.rounds).toBe(20);
    expect(r.peer).toBeNull();
  });

  // Create/terminate cycles run in a child process: fd counts there are free of vitest's own
  // noise, gc is exposed, and an addon crash at worker teardown fails one test, not the run.
  async function cycles(fdStream: boolean, n: number, mainLoads = true) {
    const args = ['--expose-gc', join(FIXTURES, 'worker-cycles.js'), root, dir(), String(n), '3', fdStream ? '1' : '0', mainLoads ? '1' : '0'];
    const { code, signal, stdout, stderr } = await run(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const firstLines = stderr.split('\n').filter(Boolean).slice(0, 4).join(' | ');
    expect({ code, signal, stderr: firstLines }).toEqual({ code: 0, signal: null, stderr: '' });
    return JSON.parse(stdout.trim().split('\n').pop()!) as {
      cycles: number;
      fdsBefore: number;
      fdsAfter: number;
      rssBeforeMiB: number;
      rssAfterMiB: number;
    };
  }

  it('20 create/terminate cycles of workers holding a listener and a connection: no fds or memory leaked', async () => {
    if (!nativeReady()) return;
    const r = await cycles(false, 20);
    console.log(`transport workers: fds ${r.fdsBefore} -> ${r.fdsAfter}, RSS ${r.rssBeforeMiB.toFixed(1)} -> ${r.rssAfterMiB.toFixed(1)} MiB`);
    expect(r.fdsAfter).toBeLessThanOrEqual(r.fdsBefore);
    // A worker isolate is ~10 MiB: leaking one per cycle would show as ~200 MiB here.
    expect(r.rssAfterMiB - r.rssBeforeMiB).toBeLessThan(48);
  }, 60_000);

  for (const mainLoads of [true, false]) {
    const where = mainLoads ? 'addon also loaded in the main thread' : 'addon loaded only by the workers (unloaded with each)';
    it(`20 create/terminate cycles of workers holding an FdStream pair with data in flight, ${where}: no crash, no leaks`, async () => {
      if (!nativeReady()) return;
      const r = await cycles(true, 20, mainLoads);
      console.log(`FdStream workers (${where}): fds ${r.fdsBefore} -> ${r.fdsAfter}, RSS ${r.rssBeforeMiB.toFixed(1)} -> ${r.rssAfterMiB.toFixed(1)} MiB`);
      expect(r.fdsAfter).toBeLessThanOrEqual(r.fdsBefore);
      expect(r.rssAfterMiB - r.rssBeforeMiB).toBeLessThan(48);
    }, 60_000);
  }
});
