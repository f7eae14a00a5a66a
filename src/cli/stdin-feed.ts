/**
 * stdin, handed to the connections being served: each chunk is written to every attached
 * connection, stdin is paused while one of them is full (backpressure) or none is attached (so
 * nothing typed between connections is read and lost), and its end shuts down the sending side
 * of each (half-close), also of connections attached after it ended.
 */
import type { Readable, Writable } from 'node:stream';

export class StdinFeed {
  /** The attached connections and what each is told of a chunk written to it (-v, counts). */
  readonly #targets = new Map<Writable, (chunk: Buffer) => void>();
  /** Connections whose buffer is full: stdin waits for their 'drain'. */
  readonly #blocked = new Set<Writable>();
  #reading = false;
  #ended = false;
  #failed = false;
  /** Bytes read from stdin that no connection could take (they had all closed meanwhile). */
  #unsent = 0;

  constructor(
    private readonly input: Readable,
    /**
     * stdin failed (EIO when the terminal goes away, say). The connections are not ended: an
     * EOF would tell the peer that the input is complete; the caller breaks them instead.
     */
    private readonly onError: (err: NodeJS.ErrnoException) => void,
  ) {}

  /** `target` gets stdin from now on; at once its end when stdin has ended already. */
  attach(target: Writable, onSent: (chunk: Buffer) => void): void {
    if (this.#ended) {
      if (!this.#failed) target.end();
      return;
    }
    this.#targets.set(target, onSent);
    if (!this.#reading) this.#start();
    this.#flow();
  }

  /** `target` is done (closed): stdin no longer waits for it. */
  detach(target: Writable): void {
    this.#targets.delete(target);
    this.#blocked.delete(target);
    this.#flow();
  }

  /**
   * The connection closed while stdin was open: how much of stdin is known to be left unsent?
   * What was read and found nobody, and, unless stdin is a terminal (a person: not typing on
   * is no lost input), whether more comes: the first chunk within `waitMs` counts (the wait ends with
   * it), its end or silence counts 0. Decides the exit status: 0 when nothing was cut short.
   */
  leftover(waitMs: number): Promise<number> {
    if (this.#ended || !this.#reading || (this.input as { isTTY?: boolean }).isTTY) return Promise.resolve(this.#unsent);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.input.off('data', done);
        this.input.off('end', done);
        this.input.pause();
        resolve(this.#unsent);
      };
      const timer = setTimeout(done, waitMs);
      // After #write (the first 'data' listener), which counts the chunk as unsent.
      this.input.on('data', done);
      this.input.once('end', done);
      this.input.resume();
    });
  }

  /** Stops reading stdin for good, so that it does not keep the process alive. */
  stop(): void {
    this.#targets.clear();
    if (this.#reading) this.input.destroy();
  }

  #start(): void {
    this.#reading = true;
    this.input.on('data', (chunk: Buffer) => this.#write(chunk));
    this.input.once('end', () => this.#end());
    this.input.on('error', (err: NodeJS.ErrnoException) => {
      if (this.#ended) return;
      this.#ended = true;
      this.#failed = true;
      this.onError(err);
    });
  }

  #write(chunk: Buffer): void {
    let taken = false;
    for (const [target, onSent] of this.#targets) {
      if (!target.writable) continue;
      taken = true;
      onSent(chunk);
      if (!target.write(chunk) && !this.#blocked.has(target)) {
        this.#blocked.add(target);
        target.once('drain', () => {
          this.#blocked.delete(target);
          this.#flow();
        });
      }
    }
    if (!taken) this.#unsent += chunk.length;
    this.#flow();
  }

  #end(): void {
    this.#ended = true;
    this.#blocked.clear();
    for (const target of this.#targets.keys()) if (target.writable) target.end();
  }

  /** Reads while someone is attached and nobody is full. */
  #flow(): void {
    if (!this.#reading || this.#ended || this.input.destroyed) return;
    if (this.#targets.size > 0 && this.#blocked.size === 0) this.input.resume();
    else this.input.pause();
  }
}
