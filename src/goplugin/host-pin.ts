/**
 * Plugin side: who the host is. servePlugin admits only the process that launched it (or, with
 * `host: 'ancestors'`, the parent and its ancestors, for hosts that start the plugin through a
 * wrapper that does not `exec`), each pinned at start by its pid *and* its start time, so a
 * process that later gets one of those pids is never admitted; and it notices when the host is
 * gone. Also go-plugin's log format for the lines the plugin prints on stderr.
 */
import { readFileSync } from 'node:fs';

/** Which processes a plugin serves by default: its parent, or its parent and their ancestors. */
export type HostPolicy = 'parent' | 'ancestors';

/** How many ancestors `'ancestors'` pins at most (the chain up to pid 1 is rarely over 20). */
export const MAX_ANCESTORS = 64;

interface ProcStat {
  ppid: number;
  state: string;
  /** Field 22: clock ticks after boot; with the pid, names one process for the boot's life. */
  startTime: string;
}

/** /proc/<pid>/stat's state, parent and start time, or null (no such process, or no /proc). */
export function readProcStat(pid: number): ProcStat | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces and ')'; fields after the
  // last ')' are space separated, field 3 (state) first, so field N is at index N - 3.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = rest[0] ?? '';
  const ppid = Number(rest[1]);
  const startTime = rest[19] ?? '';
  if (state === '' || !Number.isInteger(ppid) || !/^\d+$/.test(startTime)) return null;
  return { ppid, state, startTime };
}

/** A process pinned by pid and start time (null where /proc cannot tell: not Linux). */
export interface PinnedProcess {
  readonly pid: number;
  readonly startTime: string | null;
}

/**
 * The plugin's host, pinned when the plugin starts.
 *
 * Why the start time suffices: a pid is not reused while its process exists (zombies
 * included), and a process's (pid, start time) pair is unique for the boot. When the process
 * at a pinned pid still has the pinned start time, the pinned process has held that pid without
 * a break since before the plugin's socket existed, so a connection whose SO_PEERCRED pid is
 * that pid was made by it. The parent is checked with getppid() too, which changes the moment
 * the parent exits (the plugin is re-parented), on every platform.
 */
export class PinnedHost {
  readonly policy: HostPolicy;
  /** The parent first, then (`'ancestors'`) its ancestors, nearest first. */
  readonly pins: readonly PinnedProcess[];
  #host: PinnedProcess | null = null;

  private constructor(policy: HostPolicy, pins: PinnedProcess[]) {
    this.policy = policy;
    this.pins = pins;
  }

  /**
   * Pins the parent (and its ancestors). Returns null when `'ancestors'` cannot be pinned
   * because /proc is unreadable (the caller refuses to serve rather than trust bare pids).
   */
  static pin(policy: HostPolicy, ppid: number = process.ppid): PinnedHost | null {
    const pins: PinnedProcess[] = [];
    let pid = ppid;
    for (let i = 0; i < (policy === 'parent' ? 1 : MAX_ANCESTORS) && pid > 0; i++) {
      const stat = readProcStat(pid);
      if (!stat) {
        // No /proc: the parent is still pinned (by getppid()); ancestors cannot be.
        if (i === 0 && policy === 'parent') pins.push({ pid, startTime: null });
        if (policy === 'ancestors' && i === 0) return null;
        break;
      }
      pins.push({ pid, startTime: stat.startTime });
      if (pid === 1) break;
      pid = stat.ppid;
    }
    return pins.length ? new PinnedHost(policy, pins) : null;
  }

  /** The process that connected first and so is the host (null until then). */
  get host(): PinnedProcess | null {
    return this.#host;
  }

  /** Whether a pinned process still runs (same pid and start time, not a zombie). */
  alive(pin: PinnedProcess): boolean {
    if (pin === this.pins[0] && process.ppid !== pin.pid) return false;
    if (pin.startTime === null) return pin === this.pins[0];
    const stat = readProcStat(pin.pid);
    return stat !== null && stat.startTime === pin.startTime && stat.state !== 'Z' && stat.state !== 'X' && stat.state !== 'x';
  }

  /**
   * Why a connection from `pid` is refused, or null when it comes from the host. Once a pinned
   * process has been admitted, only that one is (a go-plugin host connects from one process).
   */
  rejection(pid: number): string | null {
    const candidates = this.#host ? [this.#host] : this.pins;
    const pin = candidates.find((p) => p.pid === pid);
    if (!pin) {
      const who = this.#host
        ? `the host (pid ${this.#host.pid}), which connected first`
        : this.policy === 'parent'
          ? `the plugin's parent (pid ${this.pins[0]!.pid})`
          : `the plugin's parent or one of its ancestors (pids ${this.pins.map((p) => p.pid).join(', ')})`;
      return `pid ${pid} is not ${who}`;
    }
    if (!this.alive(pin)) {
      return `pid ${pid} is no longer the process that launched the plugin (that process has exited; the pid was reused)`;
    }
    return null;
  }

  /** Records the process behind the first admitted connection as the host. */
  admitted(pid: number): void {
    if (this.#host) return;
    this.#host = this.pins.find((p) => p.pid === pid) ?? null;
  }

  /**
   * The pinned process whose exit means the host is gone, when it has exited: the host once one
   * connected, the parent before that. Null while it runs.
   */
  gone(): PinnedProcess | null {
    const watched = this.#host ?? this.pins[0]!;
    return this.alive(watched) ? null : watched;
  }
}

/** Whether `pid`'s chain of parents reaches `ancestor` (bounded; false without /proc). */
export function isAncestorOf(ancestor: number, pid: number): boolean {
  let p: number = pid;
  for (let i = 0; i < MAX_ANCESTORS && p > 1; i++) {
    const stat = readProcStat(p);
    if (!stat) return false;
    p = stat.ppid;
    if (p === ancestor) return true;
  }
  return false;
}

/**
 * One line in hclog's JSON format, which go-plugin hosts parse from a plugin's stderr and log
 * at the line's level (`@timestamp` must have 6 fractional digits, or go-plugin logs the raw
 * line at debug level). Extra fields become key/value pairs in the host's log.
 */
export function goPluginLogLine(level: 'error' | 'warn' | 'info', message: string, fields: Record<string, string | number> = {}): string {
  const timestamp = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
  return `${JSON.stringify({ '@level': level, '@message': message, '@module': 'plugsock', '@timestamp': timestamp, ...fields })}\n`;
}
