/** Child processes: start one and collect its output, wait for a line, run node with the built package. */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { distPath } from './package';

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Started {
  child: ChildProcess;
  /** Resolves once the child exited and its output is closed ('close'), with all its output. */
  done: Promise<ChildResult>;
  /** Output so far. */
  stdout(): string;
  stderr(): string;
}

export interface StartOptions extends SpawnOptions {
  /** Written to stdin, which is then closed. */
  input?: string;
  /** A child still running after this many ms is killed with SIGKILL (its result says so). */
  timeoutMs?: number;
}

/**
 * Spawns `command` (stdio piped unless `stdio` says otherwise) and collects stdout and stderr.
 * A child that exits before reading its stdin does not fail the test with EPIPE.
 */
export function start(command: string, args: readonly string[] = [], options: StartOptions = {}): Started {
  const { input, timeoutMs, ...spawnOptions } = options;
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], ...spawnOptions });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin?.on('error', () => {});
  if (input !== undefined) child.stdin?.end(input);
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const done = new Promise<ChildResult>((resolve, reject) => {
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
  // A spawn error reaches whoever awaits `done`; a caller that only uses `child` sees it there.
  done.catch(() => {});
  return { child, done, stdout: () => stdout, stderr: () => stderr };
}

/** Runs `command` to completion; its exit and output. */
export function run(command: string, args: readonly string[] = [], options: StartOptions = {}): Promise<ChildResult> {
  return start(command, args, options).done;
}

/** What every runNode script starts with: the built package, and its own fd count. */
function prelude(): string {
  return (
    `const plugsock = require(${JSON.stringify(distPath('index.js'))});\n` + `const openFdCount = () => require('fs').readdirSync('/proc/self/fd').length;\n`
  );
}

/**
 * Runs `node -e script` (CommonJS; `plugsock` is the built package and `openFdCount()` counts
 * the child's fds) and collects its output. `args` are the script's `process.argv[1..]`.
 */
export function runNode(script: string, options: StartOptions & { args?: string[] } = {}): Started {
  const { args = [], ...rest } = options;
  return start(process.execPath, ['-e', prelude() + script, ...args], rest);
}

/**
 * Resolves with the match of the first complete stdout line (from now on) that matches; rejects
 * after `timeoutMs`, or when the child's output closes first, with its stderr.
 */
export function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs = 10_000): Promise<RegExpMatchArray> {
  return new Promise((resolveLine, reject) => {
    let partial = '';
    let stderr = '';
    const onStderr = (d: Buffer | string) => (stderr += d);
    const finish = () => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onStderr);
      child.off('close', onClose);
    };
    const timer = setTimeout(() => {
      finish();
      reject(new Error(`timed out waiting for ${pattern}; stderr: ${stderr}`));
    }, timeoutMs);
    const onData = (d: Buffer | string) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        const m = line.match(pattern);
        if (m) {
          finish();
          resolveLine(m);
          return;
        }
      }
    };
    const onClose = (code: number | null, signal: NodeJS.Signals | null) => {
      finish();
      reject(new Error(`child exited (${code ?? signal}) before printing ${pattern}; stderr: ${stderr}`));
    };
    child.stderr?.on('data', onStderr);
    child.stdout?.on('data', onData);
    child.once('close', onClose);
  });
}

/** The child's next complete stdout line. */
export async function firstLine(child: ChildProcess, timeoutMs?: number): Promise<string> {
  const m = await waitForLine(child, /^/, timeoutMs);
  return m.input!;
}

/** Resolves once `check()` is true (polled every 10 ms); rejects after `timeoutMs`. */
export async function until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms: ${check.toString()}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Whether a process `pid` exists (a zombie counts: signal 0 reaches it). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Resolves once the child has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once('exit', () => resolve());
  });
}
