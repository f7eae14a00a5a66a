/**
 * Sockets made with plain `net`, for when the addon cannot load. The transport binds them in
 * a private directory, so the umask-then-chmod window of `server.listen(path)` is invisible,
 * and `net`'s silent truncation of long paths is refused before it can happen.
 */
import { chmod } from 'node:fs/promises';
import * as net from 'node:net';
import { join } from 'node:path';
import { type MakerConnectOptions, type ProbeResult, type SocketMaker, probeWith } from './types';

export class NetSocketMaker implements SocketMaker {
  readonly kind = 'net' as const;

  constructor(private readonly allowHalfOpen: boolean) {}

  async listen(dir: string, name: string, mode: number, backlog: number): Promise<net.Server> {
    const path = join(dir, name);
    const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: this.allowHalfOpen });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ path, backlog }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    try {
      await chmod(path, mode);
    } catch (err) {
      server.close();
      throw err;
    }
    return server;
  }

  async adopt(_fd: number): Promise<net.Server> {
    throw new Error('adopting a listener needs the native addon');
  }

  connect(path: string, options: MakerConnectOptions = {}): Promise<net.Socket> {
    return netConnect(path, this.allowHalfOpen, options.onread, false);
  }

  probe(path: string): Promise<ProbeResult> {
    return probeWith(async () => void (await this.connect(path)).destroy());
  }

  async withDirLock<T>(_dir: string, fn: () => Promise<T>): Promise<T> {
    // Node has no flock(); concurrent stale-socket cleanup relies on the inode check alone.
    return fn();
  }
}

/**
 * One `net.connect` attempt to a path that fits in sun_path (the caller checks: longer ones are
 * truncated by Node). `paused`: the socket does not start reading when it connects, so a peer
 * check can run before any byte is read; the transport resumes it.
 */
export function netConnect(path: string, allowHalfOpen: boolean, onread: net.OnReadOpts | undefined, paused: boolean): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path, allowHalfOpen, onread });
    // Paused before 'connect': net's afterConnect then leaves reading off.
    if (paused) socket.pause();
    const onError = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}
