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
import { addon, loadAddon, type Binding } from './addon';
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
import { NativeSocketMaker } from './sockets/native';
import { NetSocketMaker } from './sockets/net';
import type { SocketMaker } from './sockets/types';
import { FdStream } from './fd-stream';
import { closeFds } from './fd-helpers';
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
   * Group (gid) of the socket file, set before it is published (with `mode`, who may connect).
   * The process must be allowed to give files that group (a member of it, or root). Default:
   * the process's own.
   */
  group?: number;
}

export interface ListenOptions {
  /** Replaces the constructor's peer policy for this listener; `null` removes it. */
  peer?: PeerPolicy | null;
  /** Every accepted connection is an `FdStream` (fd passing). Needs the addon. */
  fdPassing?: boolean;
}

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

/** Options of `handOff()`. */
export interface HandOffOptions {
  /** Who may take the listener over. Default `{ sameUser: true }`. */
  peer?: PeerPolicy;
  /** Mode of the control socket. Default `0o600`. */
  mode?: number;
}

/** Options of `UnixSocketTransport.takeOver()`: the new transport's, plus the control check. */
export interface TakeOverOptions extends Omit<UnixSocketTransportOptions, 'path' | 'mode'> {
  /** Who must be handing over. Default `{ sameUser: true }`. */
  handOffPeer?: PeerPolicy;
}

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
  #fdPassing: boolean;
  #allowHalfOpen: boolean;
  /** Wakes connect() retries on close(); made on first retry (an AbortController costs ~4 µs). */
  #abort: AbortController | null = null;
  #endpoint: string | null = null;

  constructor(options: UnixSocketTransportOptions = {}) {
    super();
    if (typeof options !== 'object' || options === null) {
      throw new TransportError(ErrorCodes.INVALID_OPTION, 'options must be an object.');
    }
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
   */
  listen(options: ListenOptions = {}): Promise<string> {
    if (this.#closed) return Promise.reject(closedError(this.path));
    if (this.#state === 'listening') {
      return Promise.reject(new TransportError(ErrorCodes.INVALID_STATE, `This transport already listens on ${this.path}; create another transport for another listener.`, { path: this.path }));
    }
    const policy = options.peer === undefined ? this.#policy : options.peer ?? undefined;
    const fdPassing = options.fdPassing ?? this.#fdPassing;
    try {
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
      } catch (err) {
        // The peer vanished between accept and the check (ENOTCONN and friends). With a
        // policy that is a rejection; without one the socket is dead anyway.
        socket.destroy();
        if (!policy) return;
        this.emit('peerRejected', null, `credentials unavailable: ${(err as Error).message}`);
        return;
      }
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
      verdict.then((reason) => this.#settleAccepted(socket, peer, reason, fdPassing));
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
   * passes it the listening socket itself (SCM_RIGHTS), and once it accepts, stops accepting
   * here. The kernel socket, its file and its backlog stay the same; only the process that
   * accepts changes. Resolves when every connection accepted here has closed, so the caller can
   * exit. The socket file then belongs to the new process (this one will not remove it).
   * Needs the addon.
   */
  async handOff(control: string, options: HandOffOptions = {}): Promise<void> {
    if (!this.#binding) throw nativeRequired('handOff()');
    if (this.#listening) await this.#listening;
    const claim = this.#claim;
    if (!claim || this.#closed) {
      throw new TransportError(ErrorCodes.INVALID_STATE, 'handOff() needs a transport that is listening.', { path: this.path });
    }
    const controlTransport = new UnixSocketTransport({
      path: control,
      mode: options.mode ?? 0o600,
      native: 'require',
      peer: options.peer ?? { sameUser: true },
      fdPassing: true,
    });
    try {
      const taker = new Promise<PeerFdStream>((resolve) => controlTransport.once('connection', resolve as (s: PeerFdStream) => void));
      await controlTransport.listen();
      const stream = await taker;
      const header = encodeHandOff({ path: this.path, mode: this.mode, dev: claim.dev, ino: claim.ino });
      await stream.sendFds([serverFd(claim.server)], header);
      const reply = await readLine(stream, HANDOFF_REPLY_MS);
      stream.destroy();
      if (reply !== 'ok') {
        throw new TransportError(ErrorCodes.HANDOFF, `The process taking over ${this.path} answered ${JSON.stringify(reply)} instead of ok; this process keeps serving.`, { path: this.path });
      }
      // The other process accepts now. Stop accepting here, leaving the file to its new owner.
      this.#claim = null;
      claim.forget();
      exitCleanup.delete(this);
      // net.Server#close calls back once the connections it accepted have all closed.
      await new Promise<void>((resolve) => claim.server.close(() => resolve()));
    } finally {
      await controlTransport.close();
    }
  }

  /**
   * Takes over the listener of a process that called `handOff(control)`, and resolves a
   * transport that listens on it: same path, same socket, no client refused in between.
   */
  static async takeOver(control: string, options: TakeOverOptions = {}): Promise<UnixSocketTransport> {
    const { handOffPeer, ...transportOptions } = options;
    const client = new UnixSocketTransport({ native: 'require', connectTimeoutMs: options.connectTimeoutMs });
    try {
      const stream = await client.connect(control, { fdPassing: true, peer: handOffPeer ?? { sameUser: true } });
      const fds: number[] = [];
      stream.on('fds', (received: number[]) => fds.push(...received));
      let header: HandOffHeader;
      try {
        header = decodeHandOff(await readLine(stream, HANDOFF_REPLY_MS));
        if (fds.length !== 1) throw new TransportError(ErrorCodes.HANDOFF, `Expected one listening socket over ${control}, got ${fds.length} fds.`);
      } catch (err) {
        closeFds(fds); // the client is closed by the finally below
        throw err;
      }
      const transport = new UnixSocketTransport({ ...transportOptions, path: header.path, mode: header.mode });
      try {
        await transport.#adopt(fds[0], header.dev, header.ino);
      } catch (err) {
        stream.end('failed\n');
        throw err;
      }
      await new Promise<void>((resolve) => stream.end('ok\n', () => resolve()));
      return transport;
    } finally {
      await client.close();
    }
  }

  /** Serves on a listening fd received from another process. */
  async #adopt(fd: number, dev: bigint, ino: bigint): Promise<void> {
    if (this.#state !== 'idle') {
      this.#binding?.closeFd(fd);
      throw new TransportError(ErrorCodes.INVALID_STATE, 'Only a fresh transport can adopt a listener.', { path: this.path });
    }
    const server = await this.#maker.adopt(fd);
    this.#state = 'listening';
    // Remove the file on close only if it is still the socket the previous owner published.
    this.#serve(adoptClaim(this.path, server, dev, ino, this.#binding), this.#policy, this.#fdPassing);
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
    if (this.#closed) throw closedError(this.path);
    const path = endpoint === undefined ? this.path : normalizeUnixPath(endpoint);
    const policy = options.peer === undefined ? this.#policy : options.peer ?? undefined;
    validatePolicy(policy);
    if (policy && !this.#binding) throw nativeRequired('a peer policy');
    const fdPassing = options.fdPassing ?? this.#fdPassing;
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
      } catch (err) {
        socket.destroy();
        throw systemToTransport(err, path, (err as { syscall?: string }).syscall ?? 'getsockopt');
      }
    }
    this.#track(socket, peer);
    if (policy && peer) {
      const reason = await checkPeer(policy, peer);
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
    this.#endpoint = null;
    this.emit('close');
  }

  /** Synchronous so the process 'exit' hook can use it too. */
  #releaseSync(): void {
    this.#claim?.release();
    this.#claim = null;
  }
}

/** Undoes `pauseOnConnect`, leaving the socket as Node hands out a fresh one: buffering, not flowing. */
function resumeFresh(socket: net.Socket): void {
  (socket as { readableFlowing: boolean | null }).readableFlowing = null;
  socket.read(0);
}

const HANDOFF_REPLY_MS = 10_000;

interface HandOffHeader {
  path: string;
  mode: number;
  /** Identity of the published socket file (decimal strings on the wire: 64-bit values). */
  dev: bigint;
  ino: bigint;
}

function encodeHandOff(header: HandOffHeader): Buffer {
  const { path, mode, dev, ino } = header;
  return Buffer.from(`${JSON.stringify({ plugsockHandOff: 1, path, mode, dev: String(dev), ino: String(ino) })}\n`);
}

function decodeHandOff(line: string): HandOffHeader {
  try {
    const h = JSON.parse(line) as { plugsockHandOff?: number; path?: unknown; mode?: unknown; dev?: unknown; ino?: unknown };
    const decimal = (v: unknown) => typeof v === 'string' && /^\d{1,20}$/.test(v);
    if (h.plugsockHandOff === 1 && typeof h.path === 'string' && Number.isInteger(h.mode) && decimal(h.dev) && decimal(h.ino)) {
      return { path: normalizeUnixPath(h.path), mode: h.mode as number, dev: BigInt(h.dev as string), ino: BigInt(h.ino as string) };
    }
  } catch {
    // fall through
  }
  throw new TransportError(ErrorCodes.HANDOFF, `The hand-off message was not understood: ${JSON.stringify(line.slice(0, 200))}.`);
}

/** Reads one newline-terminated line from a stream, without reading past it. */
function readLine(stream: Duplex, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => finish(new TransportError(ErrorCodes.HANDOFF, `No hand-off reply within ${timeoutMs} ms.`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      text += chunk.toString('utf8');
      const nl = text.indexOf('\n');
      if (nl >= 0) finish(null, text.slice(0, nl));
    };
    const onEnd = () => finish(new TransportError(ErrorCodes.HANDOFF, `The other process hung up during the hand-off${text ? ` after ${JSON.stringify(text)}` : ''}.`));
    const finish = (err: Error | null, line?: string) => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onEnd);
      stream.pause();
      if (err) reject(err);
      else resolve(line!);
    };
    stream.on('data', onData);
    stream.once('end', onEnd);
    stream.once('error', onEnd);
  });
}

function serverFd(server: net.Server): number {
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new TransportError(ErrorCodes.INVALID_STATE, 'The listener has no file descriptor (already closed).');
  return fd;
}

function socketFd(socket: net.Socket): number {
  const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) {
    throw Object.assign(new Error('socket has no file descriptor (already closed)'), { code: 'EBADF' });
  }
  return fd;
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
