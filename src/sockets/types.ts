/**
 * The one seam between the transport state machine and the way sockets are made.
 * `native.ts` makes them with the addon, `net.ts` with plain Node; the transport does not care.
 */
import type * as net from 'node:net';

export interface MakerConnectOptions {
  /** Node's reuse-one-buffer read path (`net.OnReadOpts`). */
  onread?: net.OnReadOpts;
  /** Come back paused (where the maker can), for a peer check to run before any byte is read. */
  paused?: boolean;
}

/** The options of a connect() that has none: one shared object, not one per connection. */
export const NO_MAKER_OPTIONS: MakerConnectOptions = Object.freeze({});

export interface SocketMaker {
  readonly kind: 'native' | 'net';
  /**
   * One connection attempt; rejects with the system error (ENOENT, ECONNREFUSED, EAGAIN, EACCES...).
   * With `options.paused`, where the maker can, the socket comes back paused (not reading) so
   * a peer check can run first; the transport resumes it.
   */
  connect(path: string, options?: MakerConnectOptions): Promise<net.Socket>;
  /** Serves on a listening fd that came from elsewhere (a hand-off). */
  adopt(fd: number, backlog?: number): Promise<net.Server>;
}
