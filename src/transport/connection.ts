/**
 * One connection of a transport, accepted or opened: its fd, its peer and the socket options
 * every connection gets, and the list of connections that close() ends.
 */
import type * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { acceptInheritsPassRights, refusesPassedFds, type Binding } from '../addon';
import { FdStream } from '../fd-stream';
import { Peer, type PeerCredentials, type PeerHolder } from '../peer';
import type { PeerFdStream } from './types';

const kOwner = Symbol('plugsock.connections');
const kPrev = Symbol('plugsock.connections.prev');
const kNext = Symbol('plugsock.connections.next');

/** A tracked connection: a Duplex with the Peer it owns, linked into its transport's list. */
type Tracked = Duplex & {
  peer: Peer | null;
  [kOwner]: Connections | null;
  [kPrev]: Tracked | null;
  [kNext]: Tracked | null;
};

/**
 * Every connection handed out (or being checked); each owns the pidfd of its `peer`, if opened.
 *
 * A list threaded through the connections themselves, not a Set: a Set (or Map) is old by the
 * time connections come and go, and holding young sockets from it doubled the scavenger's work
 * per connection (~4 µs of a ~40 µs connect+close under `perf`; the list costs nothing there).
 */
export class Connections {
  #head: Tracked | null = null;
  #size = 0;
  /** Who waits for the last connection to close (a graceful close()). */
  #whenEmpty: Array<() => void> = [];

  // One shared listener ('close' is emitted once): no closure or once-wrapper per connection.
  readonly #untrack = ((connections) =>
    function untrack(this: Tracked): void {
      if (!connections.#remove(this)) return;
      this.peer?.release();
      if (connections.#size === 0 && connections.#whenEmpty.length > 0) {
        for (const resolve of connections.#whenEmpty.splice(0)) resolve();
      }
    })(this);

  get size(): number {
    return this.#size;
  }

  /** `connection.peer` is set (a Peer, or null without the addon) before or as it is tracked. */
  track(connection: Duplex, peer: Peer | null): void {
    const tracked = connection as Tracked;
    tracked.peer = peer;
    // All three set, always in this order: every connection goes through the same shapes.
    tracked[kOwner] = this;
    tracked[kPrev] = null;
    tracked[kNext] = this.#head;
    if (this.#head !== null) this.#head[kPrev] = tracked;
    this.#head = tracked;
    this.#size++;
    connection.on('close', this.#untrack);
  }

  /** Another object owns the connection's fd and peer now (an FdStream): forget it, peer kept. */
  forget(connection: Duplex): void {
    this.#remove(connection as Tracked);
  }

  destroyAll(): void {
    // Collected first: a destroy may end others' lives (and so change the list) as it runs.
    const all: Tracked[] = [];
    for (let c = this.#head; c !== null; c = c[kNext]) all.push(c);
    for (const connection of all) connection.destroy();
  }

  /** Resolves once no connection is open (at once if none is). */
  empty(): Promise<void> {
    if (this.#size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#whenEmpty.push(resolve));
  }

  /** Unlinks `c`; false if it was not in this list (already removed, or another transport's). */
  #remove(c: Tracked): boolean {
    if (c[kOwner] !== this) return false;
    const prev = c[kPrev];
    const next = c[kNext];
    if (prev !== null) prev[kNext] = next;
    else this.#head = next;
    if (next !== null) next[kPrev] = prev;
    c[kOwner] = null;
    c[kPrev] = null;
    c[kNext] = null;
    this.#size--;
    return true;
  }
}

/** What a connection sets its SO_PASSRIGHTS to: -1 leaves it alone, 0 refuses passed fds, 1 takes them. */
export type PassRights = -1 | 0 | 1;

/**
 * A connection this process opens: SO_PASSRIGHTS off (0) unless it passes fds, so a peer
 * cannot park descriptors in it, where the kernel has the option (a new socket takes fds by
 * default, so an fdPassing one is left alone).
 */
export function passRightsFor(fdPassing: boolean): PassRights {
  return !fdPassing && refusesPassedFds() ? 0 : -1;
}

/**
 * What a connection accepted from `server` must set its SO_PASSRIGHTS to.
 *
 * A listener this process `made` is set once, where accepted connections inherit its setting
 * (Linux 6.16+, probed): one system call per listener instead of one per connection, and each
 * connection sets nothing (-1). A listener handed over by another process is shared with it,
 * and that one relies on its own setting of it: it is left alone, and each connection sets
 * exactly what it needs, either way.
 */
export function acceptedPassRights(binding: Binding, server: net.Server, fdPassing: boolean, made: boolean): PassRights {
  if (!refusesPassedFds()) return -1;
  if (made && acceptInheritsPassRights()) {
    try {
      binding.socketSetPassRights(socketFd(server), fdPassing);
      return -1;
    } catch {
      // Not set on the listener: each connection sets its own.
    }
  }
  return fdPassing ? 1 : 0;
}

/**
 * Gives the connection `fd` what every connection of the transport gets: its SO_SNDBUF, and its
 * SO_PASSRIGHTS (`passRights`, from `passRightsFor` or `acceptedPassRights`), and the Peer that
 * says who is on the other end. `lazy`: the net.Socket that owns `fd`, when nothing needs the
 * credentials now (no peer policy): they are read on first access of `socket.peer`'s pid, uid or
 * gid, while the socket is open, so a connection nobody asks about costs no system call for
 * them. Else they are read here. One crossing into the addon at most, where it has
 * connectionSetUp. Throws the system error.
 */
export function setUpConnection(binding: Binding, fd: number, sendBufferSize: number | null, passRights: PassRights, lazy: PeerHolder | null): Peer {
  if (binding.connectionSetUp) {
    if (lazy === null) {
      binding.connectionSetUp(fd, credentials, sendBufferSize ?? 0, passRights);
      return new Peer(binding, fd, credentials);
    }
    if (sendBufferSize !== null || passRights !== -1) binding.connectionSetUp(fd, null, sendBufferSize ?? 0, passRights);
    return new Peer(binding, fd, null, lazy);
  }
  const peer = new Peer(binding, fd, null, lazy ?? undefined);
  if (sendBufferSize !== null) binding.socketSetSendBufferSize(fd, sendBufferSize);
  if (passRights !== -1) binding.socketSetPassRights(fd, passRights === 1);
  return peer;
}

/** connectionSetUp's output: pid, uid, gid, read at once by the Peer made from it. */
const credentials = new Int32Array(3);

/** An FdStream that owns `fd` from here on; when it cannot be made, `fd` is closed. */
export function fdStreamOf(binding: Binding, fd: number, peer: Peer, allowHalfOpen: boolean): PeerFdStream {
  try {
    return new FdStream<PeerCredentials>(fd, { peer, allowHalfOpen });
  } catch (err) {
    binding.fdClose(fd);
    throw err;
  }
}

export function socketFd(socket: net.Socket | net.Server): number {
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
