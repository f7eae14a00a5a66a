/**
 * Sockets made by the addon: the exact mode is set with fchmod before bind, paths of any
 * length bind and connect, and the fd is then adopted by libuv so bytes flow through Node's
 * own stream machinery (the addon adds nothing per byte).
 */
import * as net from 'node:net';
import type { Binding } from '../addon';
import { isSystemError } from '../errors';
import { fitsSunPath } from '../path';
import { netConnect } from './net';
import { type MakerConnectOptions, type ProbeResult, type SocketMaker, probeWith } from './types';

const LOCK_RETRY_MS = 2;
/** A lock held longer than this is someone else's business; proceed without it. */
const LOCK_WAIT_MS = 1000;

export class NativeSocketMaker implements SocketMaker {
  readonly kind = 'native' as const;

  constructor(
    private readonly binding: Binding,
    private readonly allowHalfOpen: boolean,
  ) {}

  async listen(dir: string, name: string, mode: number, backlog: number): Promise<net.Server> {
    return this.adopt(this.binding.listenUnix(dir, name, mode, backlog), backlog);
  }

  async adopt(fd: number, backlog = 511): Promise<net.Server> {
    const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: this.allowHalfOpen });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ fd, backlog }, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      // listen({ fd }) failed before libuv took the fd over.
      this.binding.closeFd(fd);
      throw err;
    }
    return server;
  }

  async connect(path: string, options: MakerConnectOptions = {}): Promise<net.Socket> {
    // A path that fits in sun_path is connected by libuv itself: the same syscalls, and none of
    // the probing that adopting a foreign fd costs (new net.Socket({ fd }) stats and inspects
    // it). Only longer paths, which Node would truncate, need the addon's directory-fd connect.
    if (fitsSunPath(path)) return netConnect(path, this.allowHalfOpen, options.onread, true);
    const fd = this.binding.connectUnix(path);
    // pauseOnCreate (honoured by net.Socket, absent from its typings): nothing is read before
    // the transport has checked the peer.
    const socketOptions = { fd, readable: true, writable: true, allowHalfOpen: this.allowHalfOpen, onread: options.onread, pauseOnCreate: true };
    return new net.Socket(socketOptions as net.SocketConstructorOpts);
  }

  probe(path: string): Promise<ProbeResult> {
    return probeWith(() => this.binding.closeFd(this.binding.connectUnix(path)));
  }

  async withDirLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    let lockFd = -1;
    for (;;) {
      try {
        lockFd = this.binding.lockDir(dir);
        break;
      } catch (err) {
        if (!isSystemError(err, 'EAGAIN', 'EWOULDBLOCK') || Date.now() >= deadline) break;
        await new Promise((r) => setTimeout(r, LOCK_RETRY_MS));
      }
    }
    try {
      return await fn();
    } finally {
      if (lockFd >= 0) this.binding.closeFd(lockFd);
    }
  }
}
