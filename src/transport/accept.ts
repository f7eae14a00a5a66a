/**
 * The accept pipeline of one listener: who is on the other end (peer credentials), the socket
 * options every connection gets, the policy's verdict (asynchronous ones bounded by
 * src/peer-checks.ts), and the hand-out as `'connection'`, an fdPassing one as an FdStream.
 * Nothing is read from a socket before its verdict: it stays paused since accept.
 */
import type { EventEmitter } from 'node:events';
import type * as net from 'node:net';
import { takeEarlyConnections } from '../claim/early-connections';
import { type PeerRejectedCode, channels, credentialsOf } from '../diagnostics';
import { ErrorCodes, TransportError, isErrno } from '../errors';
import { type Peer, type PeerCredentials, checkPeer } from '../peer';
import { PendingChecks } from '../peer-checks';
import { type Connections, type PassRights, acceptedPassRights, fdStreamOf, resumeFresh, setUpConnection, socketFd } from './connection';
import type { Resolved, Settings } from './options';
import type { PeerFdStream, PeerSocket } from './types';

export class Acceptor {
  /** Set by takeOver() for a moment: accepted connections it returns true for are its own probes. */
  filter: ((peer: PeerCredentials) => boolean) | null = null;
  /** Asynchronous peer checks, made on the first one. */
  #checks: PendingChecks | null = null;
  #stopped = false;
  /** What each accepted connection sets its SO_PASSRIGHTS to (-1: the listener's carries over). */
  #passRights: PassRights = -1;

  constructor(
    /** The transport: emits `'connection'`, `'peerRejected'` and `'error'`. */
    private readonly events: EventEmitter,
    private readonly settings: Settings,
    private readonly connections: Connections,
    /** This listener's policy and fdPassing. */
    private readonly call: Resolved,
  ) {}

  /**
   * Starts accepting on `server`. `made`: this process made the listener (a listener handed
   * over is shared with the process it came from, and keeps the settings that one gave it).
   */
  serve(server: net.Server, made: boolean): void {
    const { binding } = this.settings;
    if (binding) this.#passRights = acceptedPassRights(binding, server, this.call.fdPassing, made);
    server.on('connection', (socket: net.Socket) => this.#accept(socket));
    server.on('error', (err) => this.#emitError(err));
    // Connections accepted between the claim's publish and now (see claim/early-connections).
    for (const socket of takeEarlyConnections(server)) this.#accept(socket);
  }

  /** The transport is closing: nothing more is handed out, and pending checks end with `reason`. */
  stop(reason: string): void {
    this.#stopped = true;
    this.#checks?.abandonAll(reason);
  }

  #accept(socket: net.Socket): void {
    if (this.#stopped) {
      socket.destroy();
      return;
    }
    const { binding } = this.settings;
    let peer: Peer | null = null;
    let fd = -1;
    if (binding) {
      try {
        fd = socketFd(socket);
        // Without a policy (or takeOver()'s filter) nobody needs the credentials yet.
        const lazy = this.call.peer || this.call.fdPassing || this.filter ? null : socket;
        peer = setUpConnection(binding, fd, this.settings.sendBufferSize, this.#passRights, lazy);
      } catch (err) {
        // The peer vanished between accept and the check (ENOTCONN and friends). With a
        // policy that is a rejection; without one the socket is dead anyway.
        socket.destroy();
        if (isErrno(err, 'fd-limit')) this.#emitError(fdLimitError(this.settings.place.path, err));
        if (!this.call.peer) return;
        const reason = `credentials unavailable: ${(err as Error).message}`;
        if (channels.peerRejected.hasSubscribers) this.#publishRejected(null, reason, 'ERR_PEER_CREDENTIALS');
        this.events.emit('peerRejected', null, reason);
        return;
      }
    }
    if (peer && this.filter?.(peer)) {
      // One of takeOver()'s own probe connections (handoff/take.ts): never handed out.
      peer.release();
      socket.destroy();
      return;
    }
    this.connections.track(socket, peer);
    const policy = this.call.peer;
    if (!policy || !peer) {
      this.#handOut(socket, peer);
      return;
    }
    const checked = peer;
    const verdict = checkPeer(policy, checked);
    if (typeof verdict === 'string' || verdict === null) {
      this.#settle(socket, checked, verdict, policyRefused);
    } else {
      this.#checks ??= new PendingChecks(this.settings.maxPendingPeerChecks, this.settings.peerCheckTimeoutMs, binding!.socketIsHungUp);
      // What cut a check short, for plugsock:peer-rejected's code: the policy's own verdict
      // came (it settles `decided` before PendingChecks sees it), run() refused it at once (the
      // limit), or the sweep did: a peer that hung up, else the deadline.
      let decided = false;
      let running = true;
      const policyVerdict = verdict.then((reason) => {
        decided = true;
        return reason;
      });
      const code = (): PeerRejectedCode =>
        decided ? 'ERR_PEER_REJECTED' : running ? 'ERR_PEER_CHECK_LIMIT' : hungUp(binding!, fd) ? 'ERR_PEER_HUNG_UP' : 'ERR_PEER_CHECK_TIMEOUT';
      this.#checks.run(socket, fd, policyVerdict, (reason) => this.#settle(socket, checked, reason, code));
      running = false;
    }
  }

  /** `code`: why, for plugsock:peer-rejected (asked only when someone subscribes). */
  #settle(socket: net.Socket, peer: Peer, reason: string | null, code: () => PeerRejectedCode): void {
    if (socket.destroyed || this.#stopped) {
      socket.destroy();
      return;
    }
    if (reason !== null) {
      // Nothing was read or written: the socket has been paused since accept. It is reported
      // while still open, so the handler can read every credential (groups, pidfd) of it.
      try {
        if (channels.peerRejected.hasSubscribers) this.#publishRejected(peer, reason, code());
        this.events.emit('peerRejected', peer, reason);
      } finally {
        socket.destroy();
      }
      return;
    }
    this.#handOut(socket, peer);
  }

  #handOut(socket: net.Socket, peer: Peer | null): void {
    if (this.call.fdPassing) {
      let stream: PeerFdStream;
      try {
        stream = this.#toFdStream(socket, peer!);
      } catch (err) {
        socket.destroy();
        this.#emitError(err as Error);
        return;
      }
      if (channels.connection.hasSubscribers) this.#publishConnection(stream, peer);
      this.events.emit('connection', stream);
      return;
    }
    resumeFresh(socket); // socket.peer was set when it was tracked
    if (channels.connection.hasSubscribers) this.#publishConnection(socket as PeerSocket, peer);
    this.events.emit('connection', socket as PeerSocket);
  }

  #publishConnection(connection: PeerSocket | PeerFdStream, peer: Peer | null): void {
    channels.connection.publish({ path: this.settings.place.path, peer: credentialsOf(peer), connection });
  }

  #publishRejected(peer: Peer | null, reason: string, code: PeerRejectedCode): void {
    channels.peerRejected.publish({ path: this.settings.place.path, peer: credentialsOf(peer), reason, code });
  }

  /**
   * Takes a connection away from libuv, which would read it with read() and so discard every
   * passed fd: the fd is duplicated, the still-paused net.Socket closed, and the copy owned by
   * an FdStream whose reads the addon does with recvmsg().
   */
  #toFdStream(socket: net.Socket, peer: Peer): PeerFdStream {
    const binding = this.settings.binding!;
    const fd = binding.fdDup(socketFd(socket));
    const stream = fdStreamOf(binding, fd, peer, this.settings.allowHalfOpen);
    // The peer now belongs to the stream: closing the old socket must not release it.
    this.connections.forget(socket);
    socket.destroy();
    peer.rebind(fd);
    this.connections.track(stream, peer);
    return stream;
  }

  #emitError(err: Error): void {
    // An accept failure (EMFILE, say) is the server's business, reported the Node way; with
    // nobody listening it must not crash the host, so it is dropped.
    if (this.events.listenerCount('error') > 0) this.events.emit('error', err);
  }
}

/** A statically refused peer: always the policy's verdict. */
const policyRefused = (): PeerRejectedCode => 'ERR_PEER_REJECTED';

/** Whether the peer of `fd` has hung up (a gone fd counts). */
function hungUp(binding: NonNullable<Settings['binding']>, fd: number): boolean {
  try {
    return binding.socketIsHungUp(fd);
  } catch {
    return true;
  }
}

/**
 * At the fd limit libuv closes connections it cannot accept without telling Node; those it did
 * accept but plugsock could not check (no fd left for the pidfd) are reported with this.
 */
function fdLimitError(path: string, cause: { code?: string }): TransportError {
  return new TransportError(
    ErrorCodes.TRANSPORT,
    `Out of file descriptors (${cause.code}) while accepting on ${path}: a connection was closed unserved. ` +
      'Raise the limit (ulimit -n, LimitNOFILE=) or hold fewer connections at once.',
    { path, cause },
  );
}
