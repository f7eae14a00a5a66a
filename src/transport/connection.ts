/**
 * One connection of a transport, accepted or opened: its fd, its peer and the socket options
 * every connection gets, and the list of connections that close() ends.
 */
import type * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { refusesPassedFds, type Binding } from '../addon';
import { FdStream } from '../fd-stream';
import { Peer, type PeerCredentials } from '../peer';
import type { PeerFdStream } from './types';

/** Every connection handed out (or being checked), with the peer whose pidfd it owns. */
export class Connections {
  readonly #peers = new Map<Duplex, Peer | null>();

  // One shared listener ('close' is emitted once): no closure or once-wrapper per connection.
  readonly #untrack = ((peers) =>
    function untrack(this: Duplex): void {
      const peer = peers.get(this);
      if (peer === undefined) return;
      peers.delete(this);
      peer?.release();
    })(this.#peers);

  get size(): number {
    return this.#peers.size;
  }

  track(connection: Duplex, peer: Peer | null): void {
    this.#peers.set(connection, peer);
    connection.on('close', this.#untrack);
  }

  /** Another object owns the connection's fd and peer now (an FdStream): forget it, peer kept. */
  forget(connection: Duplex): void {
    this.#peers.delete(connection);
  }

  destroyAll(): void {
    for (const connection of this.#peers.keys()) connection.destroy();
  }
}

/**
 * Reads who is on the other end of the connection `fd`, and gives the socket what every
 * connection of the transport gets: its SO_SNDBUF, and, unless it passes fds, SO_PASSRIGHTS off
 * (where the kernel has it), so a peer cannot park descriptors in it. Throws the system error.
 */
export function setUpConnection(binding: Binding, fd: number, sendBufferSize: number | null, fdPassing: boolean): Peer {
  const peer = new Peer(binding, fd);
  if (sendBufferSize !== null) binding.socketSetSendBufferSize(fd, sendBufferSize);
  if (!fdPassing && refusesPassedFds()) binding.socketSetPassRights(fd, false);
  return peer;
}

/** An FdStream that owns `fd` from here on; when it cannot be made, `fd` is closed. */
export function fdStreamOf(binding: Binding, fd: number, peer: Peer, allowHalfOpen: boolean): PeerFdStream {
  try {
    return new FdStream<PeerCredentials>(fd, { peer, allowHalfOpen });
  } catch (err) {
    binding.fdClose(fd);
    throw err;
  }
}

export function socketFd(socket: net.Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw Object.assign(new Error('socket has no file descriptor (already closed)'), { code: 'EBADF' });
  }
  return fd;
}

/** Undoes `pauseOnConnect`, leaving the socket as Node hands out a fresh one: buffering, not flowing. */
export function resumeFresh(socket: net.Socket): void {
  (socket as { readableFlowing: boolean | null }).readableFlowing = null;
  socket.read(0);
}
