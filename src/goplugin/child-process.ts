/**
 * Host side: the plugin's process. It is spawned detached, so it leads a process group (and
 * session) of its own whose id is its pid; ending the plugin ends that group, and the process
 * that served the plugin's socket in case it left the group. Keeps the tail of the plugin's
 * stderr for error messages and reads its first stdout line (the handshake).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { isErrno } from '../errors';
import { isRunning, isSameOrDescendant, processId, type ProcessId } from './proc';

const STDERR_TAIL = 8192;
/** The longest first stdout line read as a handshake. */
export const MAX_LINE = 64 * 1024;

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What reading the first stdout line came to. */
export type FirstLine =
  | { kind: 'line'; line: string }
  | { kind: 'eof'; partial: Buffer }
  | { kind: 'timeout' }
  | { kind: 'spawn'; err: Error }
  | { kind: 'toolong' }
  | { kind: 'aborted' };

export interface SpawnPluginOptions {
  command: string;
  args?: readonly string[];
  cwd?: string;
  env: NodeJS.ProcessEnv;
  onStderr?: (chunk: Buffer) => void;
}

export class PluginChild {
  /** Settles when the process exited. */
  readonly exited: Promise<ChildExit>;
  /** Settles when the process could not be started after all (ENOENT, EACCES, ...). */
  readonly spawnError: Promise<Error>;
  /** The tail of the plugin's stderr, for error messages. */
  readonly stderr: StderrTail;
  /** The socket the handshake names, once parsed: only a running child can show it is its own. */
  announced: string | null = null;
  readonly #child: ChildProcess;
  // The process that served the socket at start (pid and start time), killed with the group in
  // case it left it (setsid). Set once verified.
  #server: ProcessId | null = null;
  readonly #exitHook: () => void;

  /**
   * Spawns the plugin. `atHostExit` runs, after the group is killed, when this process exits
   * while the plugin's group still has members. Throws what spawn() throws.
   */
  constructor(o: SpawnPluginOptions, atHostExit: () => void) {
    this.#child = spawn(o.command, [...(o.args ?? [])], {
      cwd: o.cwd,
      env: o.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group (and session), whose id is its pid: kill() and the exit hook end
      // the whole group, so a wrapper script's children do not outlive the plugin.
      detached: true,
    });
    const child = this.#child;
    this.#exitHook = () => {
      this.killAll();
      atHostExit();
    };
    process.on('exit', this.#exitHook);
    this.exited = new Promise<ChildExit>((resolve) => {
      child.once('exit', (code, signal) => {
        this.#dropExitHookOnceEmpty();
        resolve({ code, signal });
      });
    });
    this.spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    void this.spawnError.then(() => process.removeListener('exit', this.#exitHook));
    this.stderr = new StderrTail(child.stderr!, o.onStderr);
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Whether `pid` is the plugin or one of its descendants. */
  readonly isOwn = (pid: number): boolean => this.#child.pid !== undefined && isSameOrDescendant(pid, this.#child.pid);

  /** Pins the process that serves the plugin's socket (verified to be the plugin's own). */
  pinServer(pid: number): void {
    this.#server = processId(pid);
  }

  /**
   * Reads the first stdout line (at most MAX_LINE bytes); what follows goes to `onStdout`.
   * Resolves `aborted` at once when `signal` fires (its listener and the timer are gone then).
   */
  firstLine(timeoutMs: number, onStdout?: (chunk: Buffer) => void, signal?: AbortSignal): Promise<FirstLine> {
    return readFirstLine(this.#child.stdout!, this.spawnError, timeoutMs, onStdout, signal);
  }

  /** Ends the plugin: its process group, and the process that served its socket. Synchronous. */
  killAll(): void {
    killGroup(this.#child);
    const server = this.#server;
    if (server && server.pid !== this.#child.pid && isRunning(server)) {
      try {
        process.kill(server.pid, 'SIGKILL');
      } catch {
        /* gone meanwhile */
      }
    }
  }

  /** killAll(), then waits until the plugin and the process that served its socket are dead. */
  async end(): Promise<void> {
    this.killAll();
    await Promise.race([this.exited, this.spawnError]);
    await serverGone(this.#server);
    process.removeListener('exit', this.#exitHook);
  }

  /**
   * The exit hook stays while the group has members (a wrapper's orphans): a host that exits
   * still ends them. Looked at again each second (unref'd, bounded) until it is empty.
   */
  #dropExitHookOnceEmpty(): void {
    const child = this.#child;
    if (!groupAlive(child)) {
      process.removeListener('exit', this.#exitHook);
      return;
    }
    let checks = 0;
    const recheck = setInterval(() => {
      if (!groupAlive(child) || ++checks >= 600) {
        clearInterval(recheck);
        if (!groupAlive(child)) process.removeListener('exit', this.#exitHook);
      }
    }, 1000);
    recheck.unref();
  }
}

/** The last STDERR_TAIL bytes of a stderr pipe (a little more is kept), passed on as they come. */
export class StderrTail {
  readonly #chunks: Buffer[] = [];
  #length = 0;
  readonly #closed: Promise<void>;

  constructor(stderr: Readable, onStderr?: (chunk: Buffer) => void) {
    stderr.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#length += chunk.length;
      while (this.#length > STDERR_TAIL * 2 && this.#chunks.length > 1) this.#length -= this.#chunks.shift()!.length;
      onStderr?.(chunk);
    });
    this.#closed = new Promise<void>((r) => stderr.once('close', () => r()));
  }

  text(): string {
    return Buffer.concat(this.#chunks).toString('utf8').slice(-STDERR_TAIL);
  }

  /** `msg` with the plugin's last words on stderr appended. */
  async appendTo(msg: string): Promise<string> {
    // Let the plugin's last words arrive (bounded: a grandchild may hold the pipe open).
    await Promise.race([this.#closed, new Promise((r) => setTimeout(r, 200))]);
    const tail = this.text().trimEnd();
    return tail ? `${msg}\n--- plugin stderr (last ${Math.min(tail.length, STDERR_TAIL)} chars) ---\n${tail}` : `${msg} (the plugin wrote nothing to stderr)`;
  }
}

/** Reads the first line of `stdout` (at most MAX_LINE bytes); what follows goes to `onStdout`. */
function readFirstLine(
  stdout: Readable,
  spawnError: Promise<Error>,
  timeoutMs: number,
  onStdout?: (chunk: Buffer) => void,
  signal?: AbortSignal,
): Promise<FirstLine> {
  let buffered = Buffer.alloc(0);
  let gotLine = false;
  return new Promise<FirstLine>((resolve) => {
    if (signal?.aborted) return resolve({ kind: 'aborted' });
    const onAbort = () => done({ kind: 'aborted' });
    const timer = setTimeout(() => done({ kind: 'timeout' }), timeoutMs);
    const done = (f: FirstLine) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      resolve(f);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    stdout.on('data', (chunk: Buffer) => {
      if (gotLine) {
        onStdout?.(chunk);
        return;
      }
      buffered = Buffer.concat([buffered, chunk]);
      const nl = buffered.indexOf(0x0a);
      if (nl >= 0) {
        gotLine = true;
        const rest = buffered.subarray(nl + 1);
        if (rest.length) onStdout?.(rest);
        done({ kind: 'line', line: buffered.subarray(0, nl).toString('utf8') });
      } else if (buffered.length > MAX_LINE) {
        gotLine = true;
        done({ kind: 'toolong' });
      }
    });
    stdout.once('end', () => {
      if (!gotLine) done({ kind: 'eof', partial: buffered });
    });
    spawnError.then((err) => done({ kind: 'spawn', err }));
  });
}

/**
 * SIGKILLs the child's process group (its id is the child's pid: the child is spawned detached).
 * A pid is not reused while a process group of that id has members, so while the child runs or
 * any of its group does, this reaches only the plugin's processes; once the child has exited and
 * its pid belongs to a new process, the group is known to be empty and nothing is sent.
 */
function killGroup(child: ChildProcess): void {
  const pid = child.pid;
  if (pid === undefined) return;
  const exited = child.exitCode !== null || child.signalCode !== null;
  if (exited && existsSync(`/proc/${pid}`)) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* ESRCH: the group is empty */
  }
}

/** Whether the child's process group still has members (zombies included). */
function groupAlive(child: ChildProcess): boolean {
  const pid = child.pid;
  if (pid === undefined) return false;
  const exited = child.exitCode !== null || child.signalCode !== null;
  if (exited && existsSync(`/proc/${pid}`)) return false;
  try {
    process.kill(-pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'denied'); // EPERM: members exist, not ours to signal
  }
}

/**
 * Waits (at most 2 s) until the process that served the socket has died (a zombie has: its
 * reaper, often not this process, may take its time), so its socket is no longer served when
 * the leftovers are removed. The rest of the group got SIGKILL, which nothing survives.
 */
async function serverGone(server: ProcessId | null): Promise<void> {
  const deadline = Date.now() + 2000;
  for (let i = 0; i < 200 && server && Date.now() < deadline; i++) {
    if (!isRunning(server)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}
