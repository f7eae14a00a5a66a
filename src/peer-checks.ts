/**
 * Bounds on asynchronous peer checks. While a policy's `verify` runs, the accepted socket stays
 * paused and holds an fd; a flood of connections against a slow (or never settling) `verify`
 * would otherwise hold any number of them. Here every check has a deadline, at most `max` run
 * at once (the rest are refused at once), and a peer that hangs up while its check runs is let
 * go without waiting for the verdict.
 */
import type * as net from 'node:net';

/** Defaults of the transport options `maxPendingPeerChecks` and `peerCheckTimeoutMs`. */
export const DEFAULT_MAX_PENDING_CHECKS = 256;
export const DEFAULT_CHECK_TIMEOUT_MS = 10_000;
/** How often pending checks are looked at for deadlines and hang-ups. */
const SWEEP_MS = 100;

interface Pending {
  fd: number;
  deadline: number;
  finish(reason: string | null): void;
}

export class PendingChecks {
  readonly #pending = new Map<net.Socket, Pending>();
  #sweep: NodeJS.Timeout | null = null;

  constructor(
    private readonly max: number,
    private readonly timeoutMs: number,
    /** Whether the peer of `fd` has hung up (poll for POLLRDHUP, without reading). */
    private readonly socketIsHungUp: (fd: number) => boolean,
  ) {}

  get size(): number {
    return this.#pending.size;
  }

  /**
   * Waits for `verdict` on `socket` within the limits and calls `settle` exactly once: with the
   * verdict, or with the reason the check was cut short.
   */
  run(socket: net.Socket, fd: number, verdict: Promise<string | null>, settle: (reason: string | null) => void): void {
    if (this.#pending.size >= this.max) {
      settle(`too many peer checks in flight (maxPendingPeerChecks is ${this.max})`);
      return;
    }
    let done = false;
    const finish = (reason: string | null) => {
      if (done) return;
      done = true;
      this.#pending.delete(socket);
      if (this.#pending.size === 0) this.#stopSweep();
      settle(reason);
    };
    this.#pending.set(socket, { fd, deadline: Date.now() + this.timeoutMs, finish });
    verdict.then(finish);
    this.#sweep ??= setInterval(() => this.#check(), Math.min(SWEEP_MS, this.timeoutMs)).unref();
  }

  /** Ends every pending check with `reason` (the transport is closing). */
  abandonAll(reason: string): void {
    for (const p of [...this.#pending.values()]) p.finish(reason);
  }

  #check(): void {
    const now = Date.now();
    for (const [socket, p] of [...this.#pending]) {
      if (now >= p.deadline) p.finish(`the peer check took longer than ${this.timeoutMs} ms (peerCheckTimeoutMs)`);
      else if (socket.destroyed || this.#hungUp(p.fd)) p.finish('the peer hung up before its check ended');
    }
  }

  #hungUp(fd: number): boolean {
    try {
      return this.socketIsHungUp(fd);
    } catch {
      return true; // the fd is gone: so is the connection
    }
  }

  #stopSweep(): void {
    if (this.#sweep) clearInterval(this.#sweep);
    this.#sweep = null;
  }
}
