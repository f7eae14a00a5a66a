/**
 * UnixSocketTransport: the one state machine behind both socket makers.
 *
 * listen() and close() give the socket its name and take it back through the claim protocol
 * (src/claim/): bound, moded and listening in a private staging directory, published with
 * link(2), and only ever removing a file this transport created or a socket a probe proved dead.
 */
import { EventEmitter } from 'node:events';
import { stat } from 'node:fs/promises';
import type * as net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { addon, loadAddon, refusesPassedFds, type Binding } from './addon';
import {
  ConnectionTimeoutError,
  ErrorCodes,
  TransportError,
  fileKindOf,
  isSystemError,
  notASocketError,
  systemToTransport,
} from './errors';
import { type Claim, adoptClaim, claimSocket } from './claim';
import { fitsSunPath, generatedPath, normalizeUnixPath, pathTooLongError, toEndpoint } from './path';
import { Peer, type PeerCredentials, type PeerPolicy, checkPeer, peerRejectedError, validatePolicy } from './peer';
import { DEFAULT_CHECK_TIMEOUT_MS, DEFAULT_MAX_PENDING_CHECKS, PendingChecks } from './peer-checks';
import { checkOptionKeys, optionKeys } from './options';
import { NativeSocketMaker } from './sockets/native';
import { NetSocketMaker } from './sockets/net';
import type { SocketMaker } from './sockets/types';
import { FdStream } from './fd-stream';
import { type Successor, borrowedClaim, offerListener, takeOverListener } from './handoff';
import type { Duplex } from 'node:stream';
import { exitCleanup } from './exit-cleanup';

/** A connection handed out by the transport: a `net.Socket` that knows its peer. */
export type PeerSocket = net.Socket & {
  /** The process on the other end, or null in fallback mode (no addon). */
  peer: PeerCredentials | null;
};

/** An `fdPassing` connection: a Duplex whose reads the addon owns, with `sendFds()` and `'fds'`. */
export type PeerFdStream = FdStream<PeerCredentials>;

export interface UnixSocketTransportOptions {
  /** Socket path in any form `normalizeUnixPath` accepts. Omitted: a fresh private path under `os.tmpdir()`. */
  path?: string;
  /** Exact mode of the socket file, whatever the umask. Default `0o660`. */
  mode?: number;
  /** How long `connect()` keeps trying while the socket is missing or refusing. Default 5000. */
  connectTimeoutMs?: number;
  /**
   * `'auto'` (default): use the addon when it loads, else plain `net`.
   * `'require'`: throw `ERR_NATIVE_REQUIRED` if the addon is not loaded.
   * `'off'`: always plain `net`.
   */
  native?: 'auto' | 'require' | 'off';
  /** Who may be on the other end (needs the addon). Overridable per `listen()`/`connect()`. */
  peer?: PeerPolicy;
  /** Listen backlog. Default 511, as Node's. */
  backlog?: number;
  /** As `net`'s option: keep our side writable after the peer ends. Default false. */
  allowHalfOpen?: boolean;
  /**
   * Connections become `FdStream`s that can pass file descriptors (`sendFds()`, `'fds'`).
   * Needs the addon. Overridable per `listen()`/`connect()`. Default false.
   */
  fdPassing?: boolean;
  /**
   * SO_SNDBUF, in bytes, of every connection this transport accepts or opens (needs the addon).
   * For bulk writers: on a Unix stream socket the bytes in flight count against the sender's
   * buffer only, and with the kernel default (~208 KiB) a writer stalls and wakes its reader
   * in lockstep. 1 MiB keeps the reader fed (see the README's benchmarks). The kernel caps it
   * at `net.core.wmem_max` (and reports twice the request). Costs one system call per
   * connection and lets that much more sit in the kernel when a reader stalls. Default: the
   * kernel's.
   */
  sendBufferSize?: number;
  /**
   * At most this many asynchronous peer checks (`verify` promises) run at once; connections
   * beyond it are refused at once ('peerRejected'). Each holds a paused socket. Default 256.
   */
  maxPendingPeerChecks?: number;
  /**
   * A peer check (the policy's `verify`, server or client side) that takes longer is a
   * refusal. Default 10000.
   */
  peerCheckTimeoutMs?: number;
  /**
   * Group (gid) of the socket file, set before it is published (with `mode`, who may connect).
   * The process must be allowed to give files that group (a member of it, or root). Default:
   * the process's own.
   */
  group?: number;
}

/** Every key of `UnixSocketTransportOptions` (a missing one does not compile); others are errors. */
export const TRANSPORT_OPTION_KEYS = optionKeys<UnixSocketTransportOptions>({
  path: true, mode: true, connectTimeoutMs: true, native: true, peer: true, backlog: true,
  allowHalfOpen: true, fdPassing: true, sendBufferSize: true, group: true,
  maxPendingPeerChecks: true, peerCheckTimeoutMs: true,
});

export interface ListenOptions {
  /** Replaces the constructor's peer policy for this listener; `null` removes it. */
  peer?: PeerPolicy | null;
  /** Every accepted connection is an `FdStream` (fd passing). Needs the addon. */
  fdPassing?: boolean;
}

/** Every key of `ListenOptions` (a missing one does not compile); others are errors. */
export const LISTEN_OPTION_KEYS = optionKeys<ListenOptions>({ peer: true, fdPassing: true });

export interface ConnectOptions {
  /** Replaces the constructor's peer policy for this connection; `null` removes it. */
  peer?: PeerPolicy | null;
  /** Replaces `connectTimeoutMs` for this call. */
  timeoutMs?: number;
  /** Resolve an `FdStream` that can pass file descriptors. Needs the addon. */
  fdPassing?: boolean;
  /**
   * Opt-in reuse-one-buffer read path (Node's `onread` socket option): every read lands in
   * `buffer` and `callback(bytesRead, buffer)` runs instead of `'data'` events; return false
   * to pause. The bytes are only valid during the callback, so parse them there. It spares the
   * reader a fresh allocation (and its page faults) per read: for users who frame messages
   * themselves. Client side only: Node has no server-side form.
   */
  onread?: net.OnReadOpts;
}

/** Every key of `ConnectOptions` (a missing one does not compile); others are errors. */
export const CONNECT_OPTION_KEYS = optionKeys<ConnectOptions>({ peer: true, timeoutMs: true, fdPassing: true, onread: true });
/** The keys of `ConnectOptions.onread`, as Node's `net.OnReadOpts` has them. */
const ONREAD_KEYS = optionKeys<net.OnReadOpts>({ buffer: true, callback: true });

/** Options of `handOff()`. */
export interface HandOffOptions {
  /** Who may take the listener over. Default `{ sameUser: true }`. */
  peer?: PeerPolicy;
  /** Mode of the control socket. Default `0o600`. */
  mode?: number;
}

/** Every key of `HandOffOptions` (a missing one does not compile); others are errors. */
export const HAND_OFF_OPTION_KEYS = optionKeys<HandOffOptions>({ peer: true, mode: true });

/** Options of `UnixSocketTransport.takeOver()`: the new transport's, plus the control check. */
export interface TakeOverOptions extends Omit<UnixSocketTransportOptions, 'path' | 'mode'> {
  /** Who must be handing over. Default `{ sameUser: true }`. */
  handOffPeer?: PeerPolicy;
}

/**
 * Every key of `TakeOverOptions` (a missing one does not compile); others are errors, `path`
 * and `mode` included: they come from the process handing over.
 */
export const TAKE_OVER_OPTION_KEYS = optionKeys<TakeOverOptions>({
  connectTimeoutMs: true, native: true, peer: true, backlog: true, allowHalfOpen: true,
  fdPassing: true, sendBufferSize: true, group: true, handOffPeer: true,
  maxPendingPeerChecks: true, peerCheckTimeoutMs: true,
});

type State = 'idle' | 'listening' | 'closed';

const DEFAULT_MODE = 0o660;
const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_BACKLOG = 511;
const RETRY_FIRST_MS = 5;
const RETRY_MAX_MS = 100;
/** The addon's bound; the kernel caps far lower anyway (net.core.wmem_max). */
const MAX_SEND_BUFFER = 2 ** 30;

export interface UnixSocketTransport {
  /** A `PeerSocket`; a `PeerFdStream` when the listener has `fdPassing`. */
  on(event: 'connection', listener: (socket: PeerSocket) => void): this;
  on(event: 'connection', listener: (socket: PeerFdStream) => void): this;
  on(event: 'peerRejected', listener: (cred: PeerCredentials, reason: string) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'close', listener: () => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: 'connection', listener: (socket: PeerSocket) => void): this;
  once(event: 'connection', listener: (socket: PeerFdStream) => void): this;
  once(event: 'peerRejected', listener: (cred: PeerCredentials, reason: string) => void): this;
  once(event: 'error', listener: (err: Error) => void): this;
  once(event: 'close', listener: () => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}

/**
 * A Unix-domain-socket endpoint that can listen, connect, or both.
 *
 * ```ts
 * const server = new UnixSocketTransport();           // private path under os.tmpdir()
 * server.on('connection', (socket) => socket.pipe(socket));
 * const endpoint = await server.listen();              // "unix:/tmp/plugsock-…/plugsock.sock"
 * const socket = await new UnixSocketTransport().connect(endpoint);
 * await server.close();                                // closes connections, removes the file
 * ```
 *
 * Events: `'connection'` (socket, with `socket.peer` set), `'peerRejected'` (cred, reason),
 * `'error'` (accept failures), `'close'`.
 */
export class UnixSocketTransport extends EventEmitter {
  /** The normalised absolute socket path. */
  readonly path: string;
  /** Exact mode of the socket file. */
  readonly mode: number;
  readonly connectTimeoutMs: number;
  readonly backlog: number;
  /** The SO_SNDBUF requested for every connection, or null for the kernel's default. */
  readonly sendBufferSize: number | null;
  /** The gid the socket file gets, or null for the process's own. */
  readonly group: number | null;
  /** Limits of asynchronous peer checks (see the options of the same names). */
  readonly maxPendingPeerChecks: number;
  readonly peerCheckTimeoutMs: number;

  #state: State = 'idle';
  #maker: SocketMaker;
  #binding: Binding | null;
  #policy: PeerPolicy | undefined;
  /** The private directory of a generated path, made by listen() and removed on close. */
  #generatedDir: string | null;
  /** The published listener; null before listen(), after close() and after handOff(). */
  #claim: Claim | null = null;
  #listening: Promise<string> | null = null;
  #closing: Promise<void> | null = null;
  /** Every connection handed out (or being checked), with the peer whose pidfd it owns. */
  #connections = new Map<Duplex, Peer | null>();
  /** Asynchronous peer checks of accepted sockets, made on the first one. */
  #checks: PendingChecks | null = null;
  #fdPassing: boolean;
  #allowHalfOpen: boolean;
  /** Wakes connect() retries on close(); made on first retry (an AbortController costs ~4 µs). */
  #abort: AbortController | null = null;
  #endpoint: string | null = null;
  /** A handOff() waiting for its taker: close() aborts it, and waits until it has settled. */
  #handOff: { abort: AbortController; settled: Promise<void> } | null = null;
  /** Set by takeOver() for a moment: accepted connections it returns true for are its own probes. */
  #acceptFilter: ((peer: PeerCredentials) => boolean) | null = null;

  constructor(options: UnixSocketTransportOptions = {}) {
    super();
    checkOptionKeys(options, TRANSPORT_OPTION_KEYS, '');
    const mode = options.mode ?? DEFAULT_MODE;
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) {
      throw new TransportError(ErrorCodes.INVALID_OPTION, `mode must be an integer from 0 to 0o777, got ${String(options.mode)}.`);
    }
    const timeout = options.connectTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    if (!Number.isFinite(timeout) || timeout < 0) {
      throw new TransportError(ErrorCodes.INVALID_OPTION, `connectTimeoutMs must be a non-negative number, got ${String(options.connectTimeoutMs)}.`);
    }
    const backlog = options.backlog ?? DEFAULT_BACKLOG;
    if (!Number.isInteger(backlog) || backlog < 1) {
      throw new TransportError(ErrorCodes.INVALID_OPTION, `backlog must be a positive integer, got ${String(options.backlog)}.`);
    }
    const native = options.native ?? 'auto';
    if (native !== 'auto' && native !== 'require' && native !== 'off') {
      throw new TransportError(ErrorCodes.INVALID_OPTION, `native must be 'auto', 'require' or 'off', got ${String(native)}.`);
    }
    validatePolicy(options.peer);
    if (options.fdPassing !== undefined && typeof options.fdPassing !== 'boolean') {
      throw new TransportError(ErrorCodes.INVALID_OPTION, 'fdPassing must be a boolean.');
    }
    if (options.allowHalfOpen !== undefined && typeof options.allowHalfOpen !== 'boolean') {
      throw new TransportError(ErrorCodes.INVALID_OPTION, 'allowHalfOpen must be a boolean.');
    }
    const group = options.group ?? null;
    if (group !== null && (!Number.isInteger(group) || group < 0 || group > 0x7fffffff)) {
      throw new TransportError(ErrorCodes.INVALID_OPTION, `group must be a gid (a non-negative integer), got ${String(options.group)}.`);
    }
    this.group = group;
    const sendBufferSize = options.sendBufferSize ?? null;
    if (sendBufferSize !== null && (!Number.isInteger(sendBufferSize) || sendBufferSize < 1 || sendBufferSize > MAX_SEND_BUFFER)) {
      throw new TransportError(ErrorCodes.INVALID_OPTION, `sendBufferSize must be an integer number of bytes from 1 to ${MAX_SEND_BUFFER}, got ${String(options.sendBufferSize)}.`);
    }

    this.#binding = native === 'off' ? null : addon();
    if (!this.#binding && native === 'require') throw nativeRequired('native: \'require\'');
    if (!this.#binding && options.peer) throw nativeRequired('a peer policy');
    if (!this.#binding && options.fdPassing) throw nativeRequired('fdPassing');
    if (!this.#binding && sendBufferSize !== null) throw nativeRequired('sendBufferSize');
    this.#fdPassing = options.fdPassing === true;
    this.sendBufferSize = sendBufferSize;
    const maxPending = options.maxPendingPeerChecks ?? DEFAULT_MAX_PENDING_CHECKS;
    if (!Number.isInteger(maxPending) || maxPending < 1) {
      throw new TransportError(ErrorCodes.INVALID_OPTION, `maxPendingPeerChecks must be a positive integer, got ${String(options.maxPendingPeerChecks)}.`);
    }
    const checkTimeout = options.peerCheckTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
    if (!Number.isFinite(checkTimeout) || checkTimeout <= 0) {
      throw new TransportError(ErrorCodes.INVALID_OPTION, `peerCheckTimeoutMs must be a positive number, got ${String(options.peerCheckTimeoutMs)}.`);
    }
    this.maxPendingPeerChecks = maxPending;
    this.peerCheckTimeoutMs = checkTimeout;
    const allowHalfOpen = options.allowHalfOpen === true;
    this.#allowHalfOpen = allowHalfOpen;
    this.#maker = this.#binding ? new NativeSocketMaker(this.#binding, allowHalfOpen) : new NetSocketMaker(allowHalfOpen);
    this.#policy = options.peer;
    this.mode = mode;
    this.connectTimeoutMs = timeout;
    this.backlog = backlog;

    if (options.path === undefined) {
      const generated = generatedPath();
      this.path = generated.path;
      this.#generatedDir = generated.dir;
    } else {
      this.path = normalizeUnixPath(options.path);
      this.#generatedDir = null;
    }
  }

  /** Read through a getter so checks after an await see the current state. */
  get #closed(): boolean {
    return this.#state === 'closed';
  }

  /** `"unix:" + path` once listening (or after a successful connect), else null. */
  get endpoint(): string | null {
    return this.#endpoint;
  }

  /** `'native'` when the addon makes the sockets, `'net'` in fallback mode. */
  get socketMaker(): 'native' | 'net' {
    return this.#maker.kind;
  }

  /** Connections handed out and not yet closed. */
  get connectionCount(): number {
    return this.#connections.size;
  }

  /**
   * Starts listening and resolves the endpoint (`unix:/abs/path`).
   *
   * A dead socket left at the path by a crashed server is removed; a live one gives
   * `ERR_ADDRESS_IN_USE` and is left alone; anything that is not a socket gives
   * `ERR_NOT_A_SOCKET` and is left alone.
   *
   * The path is the constructor's (`new UnixSocketTransport({ path })`), never an argument here:
   * `listen('/tmp/x.sock')`, the `net` habit, rejects with `ERR_INVALID_OPTION` (as does any
   * argument that is not an options object, or an options object with an unknown key) rather
   * than listen somewhere else than the caller meant.
   */
  listen(options: ListenOptions = {}): Promise<string> {
    try {
      checkListenOptions(options);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#closed) return Promise.reject(closedError(this.path));
    if (this.#state === 'listening') {
      return Promise.reject(new TransportError(ErrorCodes.INVALID_STATE, `This transport already listens on ${this.path}; create another transport for another listener.`, { path: this.path }));
    }
    const policy = options.peer === undefined ? this.#policy : options.peer ?? undefined;
    const fdPassing = options.fdPassing ?? this.#fdPassing;
    try {
      if (typeof fdPassing !== 'boolean') throw new TransportError(ErrorCodes.INVALID_OPTION, 'fdPassing must be a boolean.');
      validatePolicy(policy);
      if (policy && !this.#binding) throw nativeRequired('a peer policy');
      if (fdPassing && !this.#binding) throw nativeRequired('fdPassing');
    } catch (err) {
      return Promise.reject(err);
    }
    this.#state = 'listening';
    this.#listening = this.#listen(policy, fdPassing);
    return this.#listening;
  }

  async #listen(policy: PeerPolicy | undefined, fdPassing: boolean): Promise<string> {
    const path = this.path;
    if (this.#maker.kind === 'net' && !fitsSunPath(path)) {
      throw pathTooLongError(path, 'and plain net would silently truncate it (the native addon is not loaded)');
    }
    const claim = await claimSocket(
      { path, mode: this.mode, backlog: this.backlog, gid: this.group, generatedDir: this.#generatedDir, allowHalfOpen: this.#allowHalfOpen },
      this.#binding,
      this.#maker instanceof NativeSocketMaker ? this.#maker : null,
    );
    if (this.#closed) {
      // close() was called while we were setting up: undo, as close() cannot see the claim yet.
      claim.server.close();
      claim.release();
      throw closedError(path);
    }
    this.#serve(claim, policy, fdPassing);
    return this.#endpoint!;
  }

  /** Starts accepting on a claimed listener. */
  #serve(claim: Claim, policy: PeerPolicy | undefined, fdPassing: boolean): void {
    this.#claim = claim;
    this.#endpoint = toEndpoint(this.path);
    exitCleanup.add(this, () => this.#releaseSync());
    claim.server.on('connection', (socket: net.Socket) => this.#onAccepted(socket, policy, fdPassing));
    claim.server.on('error', (err) => this.#emitError(err));
  }

  #onAccepted(socket: net.Socket, policy: PeerPolicy | undefined, fdPassing: boolean): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    let peer: Peer | null = null;
    if (this.#binding) {
      try {
        const fd = socketFd(socket);
        peer = new Peer(this.#binding, fd);
        if (this.sendBufferSize !== null) this.#binding.setSendBufferSize(fd, this.sendBufferSize);
        if (!fdPassing && refusesPassedFds()) this.#binding.setPassRights!(fd, false);
      } catch (err) {
        // The peer vanished between accept and the check (ENOTCONN and friends). With a
        // policy that is a rejection; without one the socket is dead anyway.
        socket.destroy();
        if (isSystemError(err, 'EMFILE', 'ENFILE')) this.#emitError(fdLimitError(this.path, err));
        if (!policy) return;
        this.emit('peerRejected', null, `credentials unavailable: ${(err as Error).message}`);
        return;
      }
    }
    if (peer && this.#acceptFilter?.(peer)) {
      // One of takeOver()'s own probe connections (src/handoff.ts): never handed out.
      peer.release();
      socket.destroy();
      return;
    }
    this.#track(socket, peer);
    if (!policy || !peer) {
      this.#handOut(socket, peer, fdPassing);
      return;
    }
    const verdict = checkPeer(policy, peer);
    if (typeof verdict === 'string' || verdict === null) {
      this.#settleAccepted(socket, peer, verdict, fdPassing);
    } else {
      this.#checks ??= new PendingChecks(this.maxPendingPeerChecks, this.peerCheckTimeoutMs, this.#binding!.isHungUp!);
      this.#checks.run(socket, socketFd(socket), verdict, (reason) => this.#settleAccepted(socket, peer, reason, fdPassing));
    }
  }

  #settleAccepted(socket: net.Socket, peer: Peer, reason: string | null, fdPassing: boolean): void {
    if (socket.destroyed || this.#closed) {
      socket.destroy();
      return;
    }
    if (reason !== null) {
      // Nothing was read or written: the socket has been paused since accept. It is reported
      // while still open, so the handler can read every credential (groups, pidfd) of it.
      try {
        this.emit('peerRejected', peer, reason);
      } finally {
        socket.destroy();
      }
      return;
    }
    this.#handOut(socket, peer, fdPassing);
  }

  #handOut(socket: net.Socket, peer: Peer | null, fdPassing: boolean): void {
    if (fdPassing) {
      let stream: PeerFdStream;
      try {
        stream = this.#toFdStream(socket, peer!);
      } catch (err) {
        socket.destroy();
        this.#emitError(err as Error);
        return;
      }
      this.emit('connection', stream);
      return;
    }
    (socket as PeerSocket).peer = peer;
    resumeFresh(socket);
    this.emit('connection', socket as PeerSocket);
  }

  /**
   * Takes a connection away from libuv, which would read it with read() and so discard every
   * passed fd: the fd is duplicated, the still-paused net.Socket closed, and the copy owned by
   * an FdStream whose reads the addon does with recvmsg().
   */
  #toFdStream(socket: net.Socket, peer: Peer): PeerFdStream {
    const fd = this.#binding!.dupFd!(socketFd(socket));
    let stream: PeerFdStream;
    try {
      stream = new FdStream<PeerCredentials>(fd, { peer, allowHalfOpen: this.#allowHalfOpen });
    } catch (err) {
      this.#binding!.closeFd(fd);
      throw err;
    }
    // The peer now belongs to the stream: closing the old socket must not release it.
    this.#connections.delete(socket);
    socket.destroy();
    peer.rebind(fd);
    this.#track(stream, peer);
    return stream;
  }

  #track(connection: Duplex, peer: Peer | null): void {
    this.#connections.set(connection, peer);
    // One shared listener ('close' is emitted once): no closure or once-wrapper per connection.
    connection.on('close', this.#untrack);
  }

  readonly #untrack = ((connections) =>
    function untrack(this: Duplex): void {
      const peer = connections.get(this);
      if (peer === undefined) return;
      connections.delete(this);
      peer?.release();
    })(this.#connections);

  #emitError(err: Error): void {
    // An accept failure (EMFILE, say) is the server's business, reported the Node way; with
    // nobody listening it must not crash the host, so it is dropped.
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }

  /**
   * Hands this listener to another process without refusing a single client: waits on the
   * control socket `control` for a process that calls `UnixSocketTransport.takeOver(control)`,
   * passes it the listening socket itself (SCM_RIGHTS), and once it answers that it serves,
   * stops accepting here. The kernel socket, its file and its backlog stay the same; only the
   * process that accepts changes. Resolves when every connection accepted here has closed, so
   * the caller can exit. The socket file then belongs to the new process (this one will not
   * remove it). Needs the addon.
   *
   * A taker that hangs up, stalls (10 s per taker; takers are served one at a time), sends
   * garbage or answers anything but "ok" changes nothing: this process keeps serving and waits
   * for the next taker. Only a completed hand-off or `close()` ends the wait: `close()` rejects
   * it at once with `ERR_TRANSPORT_CLOSED`, with the control socket closed and its file removed.
   */
  async handOff(control: string, options: HandOffOptions = {}): Promise<void> {
    checkHandOffOptions(options);
    if (!this.#binding) throw nativeRequired('handOff()');
    if (this.#listening) await this.#listening;
    if (this.#closed) throw closedError(this.path);
    const claim = this.#claim;
    if (!claim || this.#handOff) {
      throw new TransportError(ErrorCodes.INVALID_STATE, `handOff() needs a transport that is listening${claim ? ', and not handing off already' : ''}.`, { path: this.path });
    }
    const abort = new AbortController();
    const handing = { path: this.path, mode: this.mode, dev: claim.dev, ino: claim.ino, server: claim.server, letGo: () => this.#letGo(claim) };
    const offered = offerListener(control, options, handing, (o) => new UnixSocketTransport(o), abort.signal);
    this.#handOff = { abort, settled: offered.then(() => {}, () => {}) };
    let drained: Promise<void>;
    try {
      ({ drained } = await offered);
    } finally {
      this.#handOff = null;
    }
    await drained;
  }

  /** A successor serves now: stop accepting, leave the file to it. Resolves when our connections are done. */
  #letGo(claim: Claim): Promise<void> {
    this.#claim = null;
    claim.forget();
    exitCleanup.delete(this);
    // net.Server#close calls back once the connections it accepted have all closed.
    return new Promise<void>((resolve) => claim.server.close(() => resolve()));
  }

  /**
   * Takes over the listener of a process that called `handOff(control)`, and resolves a
   * transport that listens on it: same path, same socket, no client refused in between.
   *
   * Rejects with `ERR_HANDOFF`, every fd received closed and nothing served, when the other
   * side hangs up before the hand-off is complete, sends a line longer than 4 KiB, or sends
   * anything but a valid header with exactly one listening Unix stream socket. The path and mode
   * come from the process handing over, but `close()` removes the socket file only if this
   * process has proved it to be the socket it received (Linux: the file at the path is a socket
   * with the (dev, ino) sent, and connecting to it reaches the received listener; see
   * src/handoff.ts). When that cannot be proved, the transport serves all the same, `close()`
   * removes nothing, and a process warning (code `PLUGSOCK_HANDOFF_UNVERIFIED`) says why.
   */
  static async takeOver(control: string, options: TakeOverOptions = {}): Promise<UnixSocketTransport> {
    checkTakeOverOptions(options);
    return takeOverListener(control, options, (o) => new UnixSocketTransport(o), (t) => t.#successor());
  }

  /** What takeOver() may do to a transport it made (src/handoff.ts). */
  #successor(): Successor {
    return {
      adopt: (fd) => this.#adopt(fd),
      own: (dev, ino) => this.#own(dev, ino),
      filterAccepted: (filter) => {
        this.#acceptFilter = filter;
      },
    };
  }

  /** Serves on a listening fd received from another process; its file is not ours to remove (yet). */
  async #adopt(fd: number): Promise<void> {
    if (this.#state !== 'idle') {
      this.#binding?.closeFd(fd);
      throw new TransportError(ErrorCodes.INVALID_STATE, 'Only a fresh transport can adopt a listener.', { path: this.path });
    }
    const server = await this.#maker.adopt(fd);
    this.#state = 'listening';
    this.#serve(borrowedClaim(server), this.#policy, this.#fdPassing);
  }

  /** The file at our path is proved to be the adopted socket's, (dev, ino): close() removes it if it still is. */
  #own(dev: bigint, ino: bigint): void {
    const claim = this.#claim;
    if (claim) this.#claim = adoptClaim(this.path, claim.server, dev, ino, this.#binding);
  }

  /**
   * Connects to `endpoint` (default: this transport's path) and resolves the socket.
   *
   * While the socket is missing or refusing, it retries with backoff until the timeout, then
   * rejects with `ConnectionTimeoutError`. A path that is not a socket (`ERR_NOT_A_SOCKET`) or
   * not accessible (`ERR_PERMISSION`) fails at once.
   */
  connect(endpoint: string | undefined, options: ConnectOptions & { fdPassing: true }): Promise<PeerFdStream>;
  connect(endpoint?: string, options?: ConnectOptions): Promise<PeerSocket>;
  async connect(endpoint?: string, options: ConnectOptions = {}): Promise<PeerSocket | PeerFdStream> {
    checkOptionKeys(options, CONNECT_OPTION_KEYS, '');
    if (this.#closed) throw closedError(this.path);
    const path = endpoint === undefined ? this.path : normalizeUnixPath(endpoint);
    const policy = options.peer === undefined ? this.#policy : options.peer ?? undefined;
    validatePolicy(policy);
    if (policy && !this.#binding) throw nativeRequired('a peer policy');
    const fdPassing = options.fdPassing ?? this.#fdPassing;
    if (typeof fdPassing !== 'boolean') throw new TransportError(ErrorCodes.INVALID_OPTION, 'fdPassing must be a boolean.');
    if (fdPassing && !this.#binding) throw nativeRequired('fdPassing');
    const timeoutMs = options.timeoutMs ?? this.connectTimeoutMs;
    if (!Number.isFinite(timeoutMs) || timeoutMs < 0) {
      throw new TransportError(ErrorCodes.INVALID_OPTION, `timeoutMs must be a non-negative number, got ${String(options.timeoutMs)}.`);
    }
    if (this.#maker.kind === 'net' && !fitsSunPath(path)) {
      throw pathTooLongError(path, 'and plain net would silently truncate it (the native addon is not loaded)');
    }

    const onread = options.onread;
    if (onread !== undefined && (typeof onread !== 'object' || onread === null || typeof onread.callback !== 'function' || !onread.buffer)) {
      throw new TransportError(ErrorCodes.INVALID_OPTION, 'onread must be { buffer: Uint8Array | (() => Uint8Array), callback(bytesRead, buffer) }.');
    }
    if (onread !== undefined) checkOptionKeys(onread, ONREAD_KEYS, 'onread');
    if (fdPassing && onread) {
      throw new TransportError(ErrorCodes.INVALID_OPTION, 'onread and fdPassing cannot be combined: an fdPassing connection is read by the addon.');
    }
    const socket = fdPassing
      ? await this.#connectFdStream(path, timeoutMs)
      : await this.#connectWithRetry(path, timeoutMs, () => this.#maker.connect(path, { onread }));
    let peer = socket instanceof FdStream ? (socket.peer as Peer) : null;
    if (this.#binding) {
      try {
        const fd = socket instanceof FdStream ? socket.fd : socketFd(socket as net.Socket);
        peer ??= new Peer(this.#binding, fd);
        if (this.sendBufferSize !== null) this.#binding.setSendBufferSize(fd, this.sendBufferSize);
        if (!(socket instanceof FdStream) && refusesPassedFds()) this.#binding.setPassRights!(fd, false);
      } catch (err) {
        socket.destroy();
        throw systemToTransport(err, path, (err as { syscall?: string }).syscall ?? 'getsockopt');
      }
    }
    this.#track(socket, peer);
    if (policy && peer) {
      const reason = await this.#clientCheck(policy, peer);
      if (this.#closed) {
        socket.destroy();
        throw closedError(path);
      }
      if (reason !== null) {
        socket.destroy();
        throw peerRejectedError(reason, peer, path);
      }
    }
    if (this.#closed) {
      socket.destroy();
      throw closedError(path);
    }
    if (!this.#endpoint) this.#endpoint = toEndpoint(path);
    if (socket instanceof FdStream) return socket;
    const netSocket = socket as PeerSocket;
    netSocket.peer = peer;
    if (netSocket.readableFlowing === false) resumeFresh(netSocket);
    return netSocket;
  }

  /**
   * The client's own check of the server: within peerCheckTimeoutMs, and cut short by close()
   * (which the caller then reports as ERR_TRANSPORT_CLOSED).
   */
  async #clientCheck(policy: PeerPolicy, peer: Peer): Promise<string | null> {
    const verdict = checkPeer(policy, peer);
    if (typeof verdict === 'string' || verdict === null) return verdict;
    const abort = (this.#abort ??= new AbortController()).signal;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      return await Promise.race([
        verdict,
        new Promise<string>((resolve) => {
          timer = setTimeout(() => resolve(`the peer check took longer than ${this.peerCheckTimeoutMs} ms (peerCheckTimeoutMs)`), this.peerCheckTimeoutMs);
          onAbort = () => resolve('the transport was closed');
          abort.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (onAbort) abort.removeEventListener('abort', onAbort);
    }
  }

  /** An fdPassing connection: the addon connects, and an FdStream owns the fd from the start. */
  async #connectFdStream(path: string, timeoutMs: number): Promise<PeerFdStream> {
    const binding = this.#binding!;
    const fd = await this.#connectWithRetry(path, timeoutMs, async () => binding.connectUnix(path));
    try {
      const peer = new Peer(binding, fd);
      return new FdStream<PeerCredentials>(fd, { peer, allowHalfOpen: this.#allowHalfOpen });
    } catch (err) {
      binding.closeFd(fd);
      throw systemToTransport(err, path, 'connect');
    }
  }

  async #connectWithRetry<T>(path: string, timeoutMs: number, attempt: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let delay = RETRY_FIRST_MS;
    let lastSeen = 'missing';
    let lastError: unknown;
    for (;;) {
      try {
        return await attempt();
      } catch (err) {
        lastError = err;
        lastSeen = await this.#classifyConnectError(err, path);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new ConnectionTimeoutError(path, timeoutMs, lastSeen, lastError);
      try {
        await sleep(Math.min(delay, left), undefined, { signal: (this.#abort ??= new AbortController()).signal });
      } catch {
        throw closedError(path);
      }
      if (this.#closed) throw closedError(path);
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
  }

  /** Throws for errors that waiting cannot cure; returns what was seen for those it can. */
  async #classifyConnectError(err: unknown, path: string): Promise<string> {
    if (!isSystemError(err)) throw err;
    switch (err.code) {
      case 'ENOENT':
        return 'missing';
      case 'EAGAIN':
      case 'EWOULDBLOCK':
        return 'busy';
      case 'ECONNREFUSED': {
        // Linux answers ECONNREFUSED for a regular file too: tell the two apart. connect()
        // follows symlinks, so the check does too.
        const st = await stat(path).catch(() => null);
        if (st && !st.isSocket()) throw notASocketError(path, fileKindOf(st));
        return 'refused';
      }
      default:
        throw systemToTransport(err, path, 'connect');
    }
  }

  /**
   * Closes the listener and every connection, and removes the socket file if it is still the
   * one this transport created (and the private directory of a generated path). Idempotent;
   * concurrent calls share one promise.
   */
  close(): Promise<void> {
    if (!this.#closing) {
      this.#state = 'closed';
      this.#abort?.abort();
      this.#checks?.abandonAll('the transport was closed');
      this.#handOff?.abort.abort(closedError(this.path));
      this.#closing = this.#close();
    }
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.#listening) await this.#listening.catch(() => {});
    for (const connection of this.#connections.keys()) connection.destroy();
    const server = this.#claim?.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    this.#releaseSync();
    exitCleanup.delete(this);
    // A pending handOff() was aborted by close(): its control socket is gone once it settles.
    await this.#handOff?.settled;
    this.#endpoint = null;
    this.emit('close');
  }

  /** Synchronous so the process 'exit' hook can use it too. */
  #releaseSync(): void {
    this.#claim?.release();
    this.#claim = null;
  }
}

/**
 * `listen()`'s argument: an options object with known keys. Anything else (a string above all,
 * the `net` habit `listen('/tmp/x.sock')`, which must not listen elsewhere) is refused with a
 * pointer to the constructor's `path`.
 */
function checkListenOptions(options: unknown): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    const example = typeof options === 'string' ? JSON.stringify(options) : `'/path/to.sock'`;
    throw new TransportError(
      ErrorCodes.INVALID_OPTION,
      `listen() takes an options object ({ peer?, fdPassing? }), not ${typeof options === 'string' ? `a path (${JSON.stringify(options)})` : String(options)}: ` +
        `the path is the constructor's, so pass { path } there: new UnixSocketTransport({ path: ${example} }).listen().`,
    );
  }
  checkOptionKeys(options, LISTEN_OPTION_KEYS, '');
}

/** `handOff()`'s options, the policy included, checked before anything is listened on. */
function checkHandOffOptions(options: HandOffOptions): void {
  checkOptionKeys(options, HAND_OFF_OPTION_KEYS, '');
  validatePolicy(options.peer);
}

/** `takeOver()`'s options, policies included, checked before anything is connected or received. */
function checkTakeOverOptions(options: TakeOverOptions): void {
  checkOptionKeys(options, TAKE_OVER_OPTION_KEYS, '');
  validatePolicy(options.handOffPeer, 'handOffPeer');
  validatePolicy(options.peer);
}

/** Undoes `pauseOnConnect`, leaving the socket as Node hands out a fresh one: buffering, not flowing. */
function resumeFresh(socket: net.Socket): void {
  (socket as { readableFlowing: boolean | null }).readableFlowing = null;
  socket.read(0);
}

function socketFd(socket: net.Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw Object.assign(new Error('socket has no file descriptor (already closed)'), { code: 'EBADF' });
  }
  return fd;
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

function closedError(path: string): TransportError {
  return new TransportError(ErrorCodes.CLOSED, `The transport for ${path} was closed; create a new UnixSocketTransport.`, { path });
}

export function nativeRequired(what: string): TransportError {
  const reason = loadAddon().reason ?? 'the transport was created with native: \'off\'';
  return new TransportError(
    ErrorCodes.NATIVE_REQUIRED,
    `${what} needs plugsock's native addon, which is not in use here (${reason}). ` +
      `Reinstall plugsock so its prebuild or a local build is available (plugsock info tells why it did not load), ` +
      `or drop the option.`,
  );
}

/** Kept here for existing importers; it lives with the other error helpers. */
export { systemToTransport };
