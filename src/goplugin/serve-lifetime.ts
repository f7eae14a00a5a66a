/**
 * Plugin side: how a served plugin ends. Once, whatever asks (the Shutdown RPC, shutdown(), a
 * signal, the host watch): the server is torn down, then the plugin's `onShutdown` hook runs
 * (bounded by its time limit). With `ownProcess` it behaves like go-plugin's `Serve()` owning the
 * process: SIGINT is ignored (the host handles Ctrl-C; in debug mode, where a person started
 * the plugin, SIGINT ends it like SIGTERM), SIGTERM cleans up and re-raises, and the process
 * exits once cleaned up (1 when it stopped on its own account or its hook failed).
 */
import { TransportError } from '../errors';
import { GoPluginErrorCodes } from './errors';
import type { PluginLogger } from './log';

/** Why the plugin stops: the host's Shutdown RPC, a signal, the host gone or never there, or shutdown() called. */
export type ShutdownReason = 'rpc' | 'signal' | 'host-gone' | 'host-timeout' | 'api';

export interface ServeLifetimeOptions {
  ownProcess: boolean;
  /** Debug mode: SIGINT ends the plugin (cleanly) instead of being ignored. */
  debug: boolean;
  onShutdown?: (reason: ShutdownReason) => void | Promise<void>;
  shutdownTimeoutMs: number;
  log: PluginLogger;
}

export class ServeLifetime {
  /** Settles when the plugin stopped serving; rejects with the failure that stopped it, if any. */
  readonly closed: Promise<void>;
  #resolveClosed!: () => void;
  #rejectClosed!: (err: TransportError) => void;
  /** What shutdown() cleans up, given by start() once everything to clean up exists. */
  #teardown: () => Promise<void> = async () => {};
  #shuttingDown: Promise<void> | null = null;
  // Why the plugin stopped on its own (host gone, or never connected), or a failed hook, or null.
  #failure: TransportError | null = null;
  #signal: NodeJS.Signals | null = null;
  readonly #o: ServeLifetimeOptions;
  readonly #onSigint = () => {
    if (this.#o.debug) this.#onSignal('SIGINT');
  };
  readonly #onSigterm = () => this.#onSignal('SIGTERM');

  constructor(o: ServeLifetimeOptions) {
    this.#o = o;
    this.closed = new Promise<void>((res, rej) => {
      this.#resolveClosed = res;
      this.#rejectClosed = rej;
    });
    this.closed.catch(() => {}); // a caller that never looks at `closed` gets no unhandled rejection
  }

  get ownProcess(): boolean {
    return this.#o.ownProcess;
  }

  get stopping(): boolean {
    return this.#shuttingDown !== null;
  }

  /** From now on shutdown() runs `teardown`; with ownProcess, the signals are handled. */
  start(teardown: () => Promise<void>): void {
    this.#teardown = teardown;
    if (this.#o.ownProcess) {
      process.on('SIGINT', this.#onSigint);
      process.on('SIGTERM', this.#onSigterm);
    }
  }

  /** Stops the plugin on its own account: `closed` rejects with `err` (the process exits 1). */
  fail(err: TransportError): void {
    this.#failure = err;
    void this.shutdown(err.code === GoPluginErrorCodes.HOST_TIMEOUT ? 'host-timeout' : 'host-gone');
  }

  /** Stops serving and cleans up, once; then, with ownProcess, ends the process. */
  readonly shutdown = (reason: ShutdownReason = 'api'): Promise<void> => {
    if (!this.#shuttingDown) {
      this.#shuttingDown = (async () => {
        try {
          await this.#teardown();
        } finally {
          await this.#runHook(reason);
        }
        process.removeListener('SIGINT', this.#onSigint);
        if (!this.#o.ownProcess) process.removeListener('SIGTERM', this.#onSigterm);
        if (this.#failure) this.#rejectClosed(this.#failure);
        else this.#resolveClosed();
      })();
      if (this.#o.ownProcess)
        void this.#shuttingDown.then(
          () => this.#exit(),
          (err) => this.#exitFailed(err as Error),
        );
    }
    return this.#shuttingDown;
  };

  #onSignal(signal: NodeJS.Signals): void {
    this.#signal ??= signal;
    void this.shutdown('signal');
  }

  /**
   * The plugin's hook, at most shutdownTimeoutMs. A hook that throws or is cut is logged as an
   * error and counts as a failure (exit status 1; `closed` rejects with ERR_PLUGIN_SHUTDOWN_HOOK
   * unless the plugin already stopped on a failure of its own).
   */
  async #runHook(reason: ShutdownReason): Promise<void> {
    const hook = this.#o.onShutdown;
    if (!hook) return;
    const limit = this.#o.shutdownTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    try {
      const cut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), limit);
      });
      const outcome = await Promise.race([Promise.resolve().then(() => hook(reason)), cut]);
      if (outcome === 'timeout') this.#hookFailed(`plugsock: the onShutdown hook did not finish within ${limit} ms (shutdownTimeoutMs); stopping anyway`);
    } catch (err) {
      this.#hookFailed('plugsock: the onShutdown hook failed', err);
    } finally {
      clearTimeout(timer);
    }
  }

  #hookFailed(message: string, err?: unknown): void {
    this.#o.log.error(message, err === undefined ? {} : { error: err });
    const why = err === undefined ? message : `${message}: ${err instanceof Error ? err.message : String(err)}`;
    this.#failure ??= new TransportError(GoPluginErrorCodes.SHUTDOWN_HOOK, why, err === undefined ? {} : { cause: err });
  }

  #exit(): void {
    if (this.#signal) {
      // Cleaned up; now die of the signal as the host (or the shell) expects.
      process.removeListener('SIGINT', this.#onSigint);
      process.removeListener('SIGTERM', this.#onSigterm);
      process.kill(process.pid, this.#signal);
    } else {
      process.exit(this.#failure ? 1 : 0);
    }
  }

  #exitFailed(err: Error): void {
    this.#o.log.error('plugsock: shutdown failed', { error: err });
    process.exit(1);
  }
}

/**
 * A plugin that cannot start: with ownProcess, says `text` on stderr and exits 1 as go-plugin's
 * Serve() does; otherwise throws `err`.
 */
export function cannotServe(ownProcess: boolean, text: string, err: unknown): never {
  if (ownProcess) {
    process.stderr.write(text);
    process.exit(1);
  }
  throw err;
}
