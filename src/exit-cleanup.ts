/**
 * Removes the socket files of transports still listening when the process exits normally.
 * One 'exit' listener, installed only while some transport listens; no signal handlers (what a
 * signal means is the host's decision, and after a crash the next listen() recovers anyway).
 * A listener never keeps the process alive, so an unref()'d transport, whose process exits
 * while it listens, still has its file removed here.
 */
type Cleanup = () => void;

class ExitCleanup {
  #entries = new Map<object, Cleanup>();
  #installed = false;
  readonly #onExit = (): void => {
    for (const cleanup of this.#entries.values()) {
      try {
        cleanup();
      } catch {
        // Exiting: nothing useful to do with a failure here.
      }
    }
    this.#entries.clear();
  };

  add(owner: object, cleanup: Cleanup): void {
    this.#entries.set(owner, cleanup);
    if (!this.#installed) {
      process.on('exit', this.#onExit);
      this.#installed = true;
    }
  }

  delete(owner: object): void {
    this.#entries.delete(owner);
    if (this.#entries.size === 0 && this.#installed) {
      process.off('exit', this.#onExit);
      this.#installed = false;
    }
  }
}

export const exitCleanup = new ExitCleanup();
