/**
 * Shared test helpers: temp dirs, fd/socket-file counting, child processes.
 * Tests import the built package (dist/), exactly what users get.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, chmodSync, lstatSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const root = resolve(__dirname, '..');
const require = createRequire(__filename);

/** The built package, as `require('plugsock')` gives it. */
export const plugsock: typeof import('../src/index') = require(join(root, 'dist', 'index.js'));

export const modes = ['native', 'net'] as const;
export type Mode = (typeof modes)[number];

/** Transport option `native` for a test mode. */
export function nativeOption(mode: Mode): 'require' | 'off' {
  return mode === 'native' ? 'require' : 'off';
}

/** A fresh directory that other users may enter (children run as nobody in some tests). */
export function tempDir(prefix = 'plugsock-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

type TransportOptions = NonNullable<ConstructorParameters<typeof plugsock.UnixSocketTransport>[0]>;

/**
 * Transports for one test file: `make()` creates one with the file's defaults, `closeAll()`
 * (in afterEach) closes every one made since, so no test leaks a socket into the next.
 */
export function transportFactory(defaults: TransportOptions) {
  const open: Array<InstanceType<typeof plugsock.UnixSocketTransport>> = [];
  return {
    make(options: TransportOptions = {}) {
      const t = new plugsock.UnixSocketTransport({ ...defaults, ...options });
      open.push(t);
      return t;
    },
    closeAll: () => Promise.all(open.splice(0).map((t) => t.close())),
  };
}

export function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Socket files (and leftover staging dirs) under a directory, recursively. */
export function socketFilesUnder(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isSocket() || name.startsWith('.ps-')) found.push(p);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return found;
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node -e script` (CommonJS, `plugsock` bound to the built package) and collects output. */
export function runNode(script: string, options: SpawnOptions & { args?: string[] } = {}): { child: ChildProcess; done: Promise<ChildResult> } {
  const prelude = `const plugsock = require(${JSON.stringify(join(root, 'dist', 'index.js'))});\n`;
  const child = spawn(process.execPath, ['-e', prelude + script, ...(options.args ?? [])], {
    stdio: ['pipe', 'pipe', 'pipe'],
    ...options,
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<ChildResult>((resolveDone) => {
    child.on('close', (code, signal) => resolveDone({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

/** Resolves with the first stdout line that matches. */
export function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
  return new Promise((resolveLine, reject) => {
    let buffer = '';
    let stderr = '';
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; stderr: ${stderr}`)), timeoutMs);
    child.stderr?.on('data', (d) => (stderr += d));
    const onData = (d: Buffer | string) => {
      buffer += d.toString();
      for (const line of buffer.split('\n')) {
        const m = line.match(pattern);
        if (m) {
          clearTimeout(timer);
          child.stdout?.off('data', onData);
          resolveLine(m);
          return;
        }
      }
    };
    child.stdout?.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child exited (${code}) before printing ${pattern}; stderr: ${stderr}`));
    });
  });
}

/** The uid/gid of `nobody` for two-user tests; tests needing it run as root. */
export const NOBODY = { uid: 65534, gid: 65534 };
export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/**
 * A test that cannot run locally may skip with a reason; in CI it must fail instead.
 * Returns true when the caller should skip.
 */
export function cannotRun(reason: string): boolean {
  if (process.env.CI === 'true') throw new Error(`required test cannot run in CI: ${reason}`);
  console.warn(`skipping: ${reason}`);
  return true;
}

export async function expectCode(promise: Promise<unknown>, code: string): Promise<Error & { code: string }> {
  try {
    await promise;
  } catch (err) {
    const e = err as Error & { code: string };
    if (e.code !== code) throw new Error(`expected ${code}, got ${e.code}: ${e.message}`);
    return e;
  }
  throw new Error(`expected rejection with ${code}, but it resolved`);
}

/**
 * Leaves a dead socket file at `path`: a child binds it and dies by SIGKILL, so nothing
 * unlinks it and nothing accepts on it (connect gives ECONNREFUSED).
 */
export function makeDeadSocket(path: string): void {
  const script = `require('net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'));`;
  const r = spawnSync(process.execPath, ['-e', script, path], { encoding: 'utf8', timeout: 10_000 });
  if (r.signal !== 'SIGKILL' || !lstatSync(path).isSocket()) throw new Error(`makeDeadSocket(${path}) failed: ${r.stderr}`);
}
