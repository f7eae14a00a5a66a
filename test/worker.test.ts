// The addon in worker_threads: loads in several threads at once (N-API, no global state), works
// in each alongside the main thread, and a terminated worker leaves no fds and no memory behind.
// Workers run test/fixtures/worker-echo.{js,mjs} with plain node on the built package (dist/).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { cannotRun, openFdCount, plugsock, removeDir, root, tempDir } from './helpers';

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

let dir: string;
beforeEach(() => {
  dir = tempDir('plugsock-test-worker-');
});
afterEach(() => removeDir(dir));

/** Starts a worker; resolves with its first message (rejects on 'error' or an early exit). */
function startWorker(kind: 'cjs' | 'esm', data: Record<string, unknown>): { worker: Worker; first: Promise<WorkerMessage> } {
  const worker = new Worker(ENTRY[kind], { workerData: { root, dir, ...data } });
  const first = new Promise<WorkerMessage>((resolve, reject) => {
    worker.once('message', (m: WorkerMessage) => (m.type === 'error' ? reject(new Error(`worker: ${m.message}`)) : resolve(m)));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`worker exited (${code}) before reporting`)));
  });
  return { worker, first };
}

function exited(worker: Worker): Promise<number> {
  return new Promise((resolve) => worker.once('exit', resolve));
}

/** The main thread's share of the concurrent run: the same echo loop as the workers'. */
async function mainEcho(rounds: number): Promise<number> {
  const server = new UnixSocketTransport({ path: join(dir, 'main.sock'), native: 'require' });
  server.on('connection', (s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  const socket = await new UnixSocketTransport({ native: 'require' }).connect(await server.listen());
  let done = 0;
  for (let i = 0; i < rounds; i++) {
    const msg = `main:${i}:` + 'y'.repeat(i % 64);
    const reply = new Promise<string>((resolve, reject) => {
      let got = '';
      const onData = (d: Buffer) => {
        got += d;
        if (got.length >= msg.length) {
          socket.off('data', onData);
          resolve(got);
        }
      };
      socket.on('data', onData);
      socket.once('error', reject);
    });
    socket.write(msg);
    expect(await reply).toBe(msg);
    done++;
    if (i % 16 === 0) await new Promise((r) => setImmediate(r));
  }
  expect(socket.peer?.pid).toBe(process.pid);
  socket.end();
  await new Promise((r) => socket.once('close', r));
  await server.close();
  return done;
}

/** Runs one 'hold' worker to readiness and terminates it. */
async function holdAndTerminate(kind: 'cjs' | 'esm', tag: string): Promise<void> {
  const { worker, first } = startWorker(kind, { task: 'hold', tag });
  const ready = await first;
  expect(ready.type).toBe('ready');
  expect(ready.native).toBe(true);
  const gone = exited(worker);
  await worker.terminate();
  await gone;
}

function rssMiB(): number {
  return process.memoryUsage().rss / 1024 / 1024;
}

async function settle(): Promise<void> {
  // Let libuv close handles the terminated thread released, and V8 collect what it can.
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 20));
    (globalThis as { gc?: () => void }).gc?.();
  }
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
    await Promise.all([exited(a.worker), exited(b.worker)]);
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
    expect(existsSync(join(dir, 'wa.sock'))).toBe(false);
    expect(existsSync(join(dir, 'wb.sock'))).toBe(false);
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

  it('terminating a worker with open listeners, connections and FdStreams leaks no fds', async () => {
    if (!nativeReady()) return;
    // Warm up: the first worker and the first addon load may open process-wide fds for good.
    await holdAndTerminate('cjs', 'warm1');
    await holdAndTerminate('esm', 'warm2');
    await settle();
    const before = openFdCount();
    for (let i = 0; i < 5; i++) await holdAndTerminate(i % 2 ? 'esm' : 'cjs', `fd${i}`);
    await settle();
    const after = openFdCount();
    expect(after - before, `fds before ${before}, after 5 terminated workers ${after}`).toBeLessThanOrEqual(0);
  });

  it('20 create/terminate cycles keep RSS bounded', async () => {
    if (!nativeReady()) return;
    for (let i = 0; i < 5; i++) await holdAndTerminate('cjs', `mwarm${i}`);
    await settle();
    const before = rssMiB();
    const fdsBefore = openFdCount();
    for (let i = 0; i < 20; i++) await holdAndTerminate(i % 2 ? 'esm' : 'cjs', `mem${i}`);
    await settle();
    const growth = rssMiB() - before;
    // A worker isolate is ~10 MiB; leaking one per cycle would show as 200 MiB here.
    console.log(`RSS ${before.toFixed(1)} MiB -> ${(before + growth).toFixed(1)} MiB after 20 worker cycles`);
    expect(growth).toBeLessThan(64);
    expect(openFdCount()).toBeLessThanOrEqual(fdsBefore);
  }, 60_000);
});
