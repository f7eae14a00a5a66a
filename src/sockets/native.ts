/**
 * Sockets with the addon: listening fds (made by the claim, src/claim/) and connections to
 * paths of any length are adopted by libuv, so bytes flow through Node's own stream machinery
 * (the addon adds nothing per byte).
 */
import { tracingChannel } from 'node:diagnostics_channel';
import * as net from 'node:net';
import type { Binding } from '../addon';
import { fitsSunPath } from '../path';
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

/** net's own step that makes a server listen on a handle it creates: (address, port, type, backlog, fd). */
type ListenOnHandle = (address: null, port: null, addressType: null, backlog: number, fd: number) => void;

/** Node's trace of listen(): listen() publishes asyncStart, its last step (`_listen2`) asyncEnd or error. */
const listenTrace = tracingChannel<'net.server.listen', { server: net.Server; options?: object }>('net.server.listen');

/**
 * Makes `server` listen on `fd`, a socket the claim bound and put in listen(backlog); emits
 * 'listening' or 'error' as listen() does.
 *
 * Not through server.listen({ fd }): every listen() goes through net's cluster routing, which
 * loads node:cluster on first use (~1 ms of every plugin's start, a go-plugin host's wait), and
 * in a cluster worker sends the fd's number to the primary to listen on, where it is not this
 * socket. `_listen2` is the step listen() ends in for a primary (net keeps that name for code
 * that wraps it, Node 0.x to 24); where it is missing, listen() is used. The backlog is passed
 * along: net would otherwise listen again with 511 and undo the claim's own listen(backlog).
 * Node's `net.server.listen` trace sees the same start and end as for listen().
 */
function listenOnFd(server: net.Server, fd: number, backlog: number): void {
  const listen2 = (server as net.Server & { _listen2?: ListenOnHandle })._listen2;
  if (typeof listen2 !== 'function') {
    server.listen({ fd }, backlog);
    return;
  }
  // What listen() would have published first, so a tracer sees the start of the end it gets.
  if (listenTrace.asyncStart.hasSubscribers) listenTrace.asyncStart.publish({ server, options: { fd, backlog } });
  listen2.call(server, null, null, null, backlog, fd);
}
