/**
 * Plugin side: who the host is. servePlugin admits only the process that launched it (or, with
 * `host: 'ancestors'`, the parent and its ancestors, for hosts that start the plugin through a
 * wrapper that does not `exec`), each pinned at start by its pid *and* its start time, so a
 * process that later gets one of those pids is never admitted; and it notices when the host is
 * gone. What the plugin does about it (refusals logged, time-outs) is in host-watch.ts.
 */
import { MAX_ANCESTORS, isRunning, readProcStat } from './proc';

/** Which processes a plugin serves by default: its parent, or its parent and their ancestors. */
export type HostPolicy = 'parent' | 'ancestors';

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
    return isRunning({ pid: pin.pid, startTime: pin.startTime });
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
