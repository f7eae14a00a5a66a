/**
 * Connections made with plain `net`, for when the addon cannot load (listeners: src/claim/path.ts).
 * `net`'s silent truncation of long paths is refused by the transport before it can happen.
 */
import * as net from 'node:net';
import { NATIVE_OFF, nativeRequired } from '../errors';
import type { MakerConnectOptions, SocketMaker } from './types';

export class NetSocketMaker implements SocketMaker {
  readonly kind = 'net' as const;

  constructor(private readonly allowHalfOpen: boolean) {}

  async adopt(_fd: number): Promise<net.Server> {
    // The transport uses this maker only without the addon: it did not load, or native: 'off'.
    throw nativeRequired('Serving a listener handed over by another process (takeOver())', { unused: NATIVE_OFF });
  }

  connect(path: string, options: MakerConnectOptions = {}): Promise<net.Socket> {
    return netConnect(path, this.allowHalfOpen, options.onread, false);
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
    // on() and removeListener(), not once(): once() wraps each listener in a bound function,
    // and off() of one searches for it (~10k instructions a connection, ~3% of a connect).
    const onError = (err: Error) => {
      socket.removeListener('connect', onConnect);
      socket.destroy();
      reject(err);
    };
    const onConnect = () => {
      socket.removeListener('error', onError);
      resolve(socket);
    };
    socket.on('error', onError);
    socket.on('connect', onConnect);
  });
}
