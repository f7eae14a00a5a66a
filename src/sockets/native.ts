/**
 * Sockets with the addon: listening fds (made by the claim, src/claim/) and connections to
 * paths of any length are adopted by libuv, so bytes flow through Node's own stream machinery
 * (the addon adds nothing per byte).
 */
import * as net from 'node:net';
import type { Binding } from '../addon';
import { fitsSunPath } from '../path';
import { listenOnFd } from './listen-fd';
import { netConnect } from './net';
import { type MakerConnectOptions, NO_MAKER_OPTIONS, type SocketMaker } from './types';

export class NativeSocketMaker implements SocketMaker {
  readonly kind = 'native' as const;

  constructor(
    private readonly binding: Binding,
    private readonly allowHalfOpen: boolean,
  ) {}

  async adopt(fd: number, backlog = 511): Promise<net.Server> {
    const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: this.allowHalfOpen });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.once('listening', () => {
          server.off('error', reject);
          resolve();
        });
        listenOnFd(server, fd, backlog);
      });
    } catch (err) {
      // listen({ fd }) failed before libuv took the fd over.
      this.binding.fdClose(fd);
      throw err;
    }
    return server;
  }

  connect(path: string, options: MakerConnectOptions = NO_MAKER_OPTIONS): Promise<net.Socket> {
    // A path that fits in sun_path is connected by libuv itself: the same syscalls, and none of
    // the probing that adopting a foreign fd costs (new net.Socket({ fd }) stats and inspects
    // it). Only longer paths, which Node would truncate, need the addon's O_PATH connect.
    // Not an async function: the short path, every connection's, gets no promise layer more.
    if (fitsSunPath(path)) return netConnect(path, this.allowHalfOpen, options.onread, options.paused === true);
    let fd: number;
    try {
      fd = this.binding.socketConnect(path);
    } catch (err) {
      return Promise.reject(err);
    }
    // pauseOnCreate (honoured by net.Socket, absent from its typings), with `paused`: nothing is
    // read before the transport has checked the peer.
    const socketOptions = {
      fd,
      readable: true,
      writable: true,
      allowHalfOpen: this.allowHalfOpen,
      onread: options.onread,
      pauseOnCreate: options.paused === true,
    };
    try {
      return Promise.resolve(new net.Socket(socketOptions as net.SocketConstructorOpts));
    } catch (err) {
      this.binding.fdClose(fd); // net never took it over
      return Promise.reject(err);
    }
  }
}
