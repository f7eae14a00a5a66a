/**
 * The one seam between the transport state machine and the way sockets are made.
 * `native.ts` makes them with the addon, `net.ts` with plain Node; the transport does not care.
 */
import type * as net from 'node:net';

export interface MakerConnectOptions {
  /** Node's reuse-one-buffer read path (`net.OnReadOpts`). */
  onread?: net.OnReadOpts;
}

/** What a probe connect found at a path. */
export type ProbeResult = 'live' | 'busy' | 'refused' | 'missing' | 'denied';

export interface SocketMaker {
  readonly kind: 'native' | 'net';
  /**
   * Binds and listens at `dir/name`, leaving the socket file with exactly `mode`.
   * `dir` is a private 0700 directory owned by the caller, so nobody can reach the socket
   * before the caller publishes it. The server is created with `pauseOnConnect`.
   */
  listen(dir: string, name: string, mode: number, backlog: number): Promise<net.Server>;
  /**
   * One connection attempt; rejects with the system error (ENOENT, ECONNREFUSED, EAGAIN, EACCES...).
   * Where the maker can, the socket comes back paused (not reading) so a peer check can run
   * first; the transport resumes it.
   */
  connect(path: string, options?: MakerConnectOptions): Promise<net.Socket>;
  /** Serves on a listening fd that came from elsewhere (a hand-off). */
  adopt(fd: number): Promise<net.Server>;
  /** Connects and disconnects at once to learn whether a server is behind a socket file. */
  probe(path: string): Promise<ProbeResult>;
  /** Runs `fn` while holding an advisory lock on `dir` where the maker can; returns fn's result. */
  withDirLock<T>(dir: string, fn: () => Promise<T>): Promise<T>;
}

/** Runs one connect-and-hang-up attempt and names what it found; other errors propagate. */
export async function probeWith(connectAndClose: () => Promise<void> | void): Promise<ProbeResult> {
  try {
    await connectAndClose();
    return 'live';
  } catch (err) {
    const code = err instanceof Error ? (err as { code?: string }).code : undefined;
    const result = probeResultOf(code);
    if (result === null) throw err;
    return result;
  }
}

function probeResultOf(code: string | undefined): ProbeResult | null {
  switch (code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'EAGAIN':
    case 'EWOULDBLOCK':
      return 'busy';
    case 'ENOENT':
    case 'ENOTDIR':
      return 'missing';
    case 'EACCES':
    case 'EPERM':
      return 'denied';
    default:
      return null;
  }
}
