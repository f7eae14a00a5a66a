/**
 * Plugin side: how a served plugin ends. Once, whatever asks (the Shutdown RPC, shutdown(),
 * SIGTERM, the host watch); with `ownProcess` it behaves like go-plugin's `Serve()` owning the
 * process: SIGINT is ignored (the host handles Ctrl-C), SIGTERM cleans up and re-raises, and the
 * process exits once cleaned up (1 when it stopped on its own account).
 */
import type { TransportError } from '../errors';

export class ServeLifetime {
  /** Settles when the plugin stopped serving; rejects with the failure that stopped it, if any. */
  readonly closed: Promise<void>;
  #resolveClosed!: () => void;
  #rejectClosed!: (err: TransportError) => void;
  /** What shutdown() cleans up, given by start() once everything to clean up exists. */
  #teardown: () => Promise<void> = async () => {};
  #shuttingDown: Promise<void> | null = null;
  // Why the plugin stopped on its own (host gone, or never connected), or null.
  #failure: TransportError | null = null;
  #terminated = false;
  readonly #onSigint = () => {};
  readonly #onSigterm = () => {
    this.#terminated = true;
    void this.shutdown();
  };

  constructor(readonly ownProcess: boolean) {
    this.closed = new Promise<void>((res, rej) => {
      this.#resolveClosed = res;
      this.#rejectClosed = rej;
    });
    this.closed.catch(() => {}); // a caller that never looks at `closed` gets no unhandled rejection
  }

  get stopping(): boolean {
    return this.#shuttingDown !== null;
  }

  /** From now on shutdown() runs `teardown`; with ownProcess, the signals are handled. */
  start(teardown: () => Promise<void>): void {
    this.#teardown = teardown;
    if (this.ownProcess) {
      process.on('SIGINT', this.#onSigint);
      process.on('SIGTERM', this.#onSigterm);
    }
  }

  /** Stops the plugin on its own account: `closed` rejects with `err` (the process exits 1). */
  fail(err: TransportError): void {
    this.#failure = err;
    void this.shutdown();
  }

  /** Stops serving and cleans up, once; then, with ownProcess, ends the process. */
  readonly shutdown = (): Promise<void> => {
    if (!this.#shuttingDown) {
      this.#shuttingDown = (async () => {
        await this.#teardown();
        process.removeListener('SIGINT', this.#onSigint);
        if (!this.ownProcess) process.removeListener('SIGTERM', this.#onSigterm);
        if (this.#failure) this.#rejectClosed(this.#failure);
        else this.#resolveClosed();
      })();
      if (this.ownProcess)
        void this.#shuttingDown.then(
          () => this.#exit(),
          (err) => this.#exitFailed(err as Error),
        );
    }
    return this.#shuttingDown;
  };

  #exit(): void {
    if (this.#terminated) {
      // Cleaned up; now die of the signal as the host expects.
      process.removeListener('SIGTERM', this.#onSigterm);
      process.kill(process.pid, 'SIGTERM');
    } else {
      process.exit(this.#failure ? 1 : 0);
    }
  }

  #exitFailed(err: Error): void {
    process.stderr.write(`plugsock: shutdown failed: ${err.message}\n`);
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
