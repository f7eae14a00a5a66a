/**
 * UnixSocketTransport: the one state machine behind both socket makers. Each of its methods is
 * a short sequence of calls to the module of its protocol: options.ts (options and defaults),
 * the claim (src/claim/: how a listener gets its name and gives it back), accept.ts (the accept
 * pipeline), connect.ts (connect with retry), handoff/ (passing the listener to another process).
 */
import { EventEmitter } from 'node:events';
import { closeSync } from 'node:fs';
import type * as net from 'node:net';
import { type Claim, adoptClaim, claimSocket } from '../claim';
import { type ConnectMessage, type ListenMessage, channels, credentialsOf, traced } from '../diagnostics';
import { type AbortError, ErrorCodes, NATIVE_OFF, TransportError, abortError, closedError, nativeRequired } from '../errors';
import { exitCleanup } from '../exit-cleanup';
import { checkOptionKeys } from '../options';
import { normalizeEndpoint, refuseNetTruncation, toEndpoint } from '../path';
import type { PeerCredentials } from '../peer';
import { NativeSocketMaker } from '../sockets/native';
import { NetSocketMaker } from '../sockets/net';
import type { SocketMaker } from '../sockets/types';
import { type FromSystemdOptions, type HandOffToSystemdOptions, fromSystemd, serverFd, storeListener } from '../systemd';
import { guardAbstract, refuseAbstractHandOff } from './abstract';
import { Acceptor } from './accept';
import { Connector } from './connect';
import { Connections } from './connection';
import { dropEarlyConnections } from '../claim/early-connections';
import { offerListener } from './handoff/offer';
import { borrowedClaim, takeOverListener } from './handoff/take';
import type { Successor } from './handoff/types';
import {
  type CloseOptions,
  type ConnectOptions,
  type HandOffOptions,
  type ListenOptions,
  type Resolved,
  type Settings,
  type TakeOverOptions,
  type TransportFigures,
  type UnixSocketTransportOptions,
  CONNECT_OPTION_KEYS,
  NO_CONNECT_OPTIONS,
  checkHandOffOptions,
  checkListenOptions,
  checkTakeOverOptions,
  gracefulLimitOf,
  resolveOptions,
  settingsOf,
} from './options';
import type { PeerFdStream, PeerSocket } from './types';

export type { PeerFdStream, PeerSocket } from './types';
export {
  type CloseOptions,
  type ConnectOptions,
  type HandOffOptions,
  type ListenOptions,
  type TakeOverOptions,
  type UnixSocketTransportOptions,
  CLOSE_OPTION_KEYS,
  CONNECT_OPTION_KEYS,
  DEFAULT_GRACEFUL_TIMEOUT_MS,
  HAND_OFF_OPTION_KEYS,
  LISTEN_OPTION_KEYS,
  TAKE_OVER_OPTION_KEYS,
  TRANSPORT_OPTION_KEYS,
} from './options';

/** Where a transport is in its life; each state holds exactly what exists in it. */
type State =
  | { readonly is: 'idle' }
  /** listen() was called: the claim is under way, or failed (then `claimed` rejects, and listen() stays refused). */
  | { readonly is: 'claiming'; readonly claimed: Promise<string> }
  | { readonly is: 'listening'; readonly claim: Claim; readonly acceptor: Acceptor }
  /** handOff() is done: another process accepts now; connections accepted here run on. */
  | { readonly is: 'handedOff'; readonly acceptor: Acceptor }
  | { readonly is: 'closed'; readonly closing: Promise<void> };
type Listening = Extract<State, { is: 'listening' }>;

const ignore = (): void => {};

/**
 * `await using`'s symbol; Node before 20.4 lacks it, and Node's own polyfill (18.18+, 20.4+) is
 * this very registry symbol.
 */
const kAsyncDispose: typeof Symbol.asyncDispose = Symbol.asyncDispose ?? (Symbol.for('nodejs.asyncDispose') as typeof Symbol.asyncDispose);

/** The class's own readonly fields (`mode`, …; `path` is a getter) are its figures (options.ts); its events: */
export interface UnixSocketTransport extends TransportFigures {
  /** `'connection'`: a connection that passed the peer policy: a `PeerSocket`, with `socket.peer` set. */
  on(event: 'connection', listener: (socket: PeerSocket) => void): this;
  /** `'connection'` on a listener with `fdPassing`: a `PeerFdStream`. */
  on(event: 'connection', listener: (socket: PeerFdStream) => void): this;
  /** `'peerRejected'`: the policy refused a connection (closed unread), or its check was cut short. */
  on(event: 'peerRejected', listener: (cred: PeerCredentials, reason: string) => void): this;
  /** `'error'`: the listener failed to accept. */
  on(event: 'error', listener: (err: Error) => void): this;
  /** `'close'`: `close()` finished. */
  on(event: 'close', listener: () => void): this;
  /** Any other event of an EventEmitter. */
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  /** As `on('connection')`, once. */
  once(event: 'connection', listener: (socket: PeerSocket) => void): this;
  /** As `on('connection')` with `fdPassing`, once. */
  once(event: 'connection', listener: (socket: PeerFdStream) => void): this;
  /** As `on('peerRejected')`, once. */
  once(event: 'peerRejected', listener: (cred: PeerCredentials, reason: string) => void): this;
  /** As `on('error')`, once. */
  once(event: 'error', listener: (err: Error) => void): this;
  /** As `on('close')`, once. */
  once(event: 'close', listener: () => void): this;
  /** Any other event of an EventEmitter, once. */
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
 * `await using server = new UnixSocketTransport()` closes it at the end of the scope.
 *
 * Events: `'connection'` (socket, with `socket.peer` set), `'peerRejected'` (cred, reason),
 * `'error'` (accept failures), `'close'`.
 */
export class UnixSocketTransport extends EventEmitter {
  #state: State = { is: 'idle' };
  /** unref() was called (and no ref() since): the listener does not keep the process alive. */
  #unrefed = false;
  readonly #settings: Settings;
  readonly #maker: SocketMaker;
  /** Every connection handed out (or being checked), accepted or connected. */
  readonly #connections = new Connections();
  readonly #connector: Connector;
  /** `"unix:" + path` once listening, or of the first successful connect(); null after close(). */
  #endpoint: string | null = null;
  /** A handOff() waiting for its taker: close() aborts it, and waits until it has settled. */
  #offer: { abort: AbortController; settled: Promise<void> } | null = null;

  constructor(options: UnixSocketTransportOptions = {}) {
    super();
    const { figures, settings } = settingsOf(options);
    Object.assign(this, figures); // mode, …: the fields the interface above declares
    this.#settings = settings;
    const { binding, allowHalfOpen } = settings;
    this.#maker = binding ? new NativeSocketMaker(binding, allowHalfOpen) : new NetSocketMaker(allowHalfOpen);
    this.#connector = new Connector(settings, this.#maker, this.#connections);
  }

  /** Read through a getter so checks after an await see the current state. */
  get #closed(): boolean {
    return this.#state.is === 'closed';
  }

  /**
   * The normalised absolute socket path: the constructor's `path`, or a fresh private path under
   * `os.tmpdir()` (generated on first use; `listen()` creates its directory).
   */
  get path(): string {
    return this.#settings.place.path;
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
   *
   * `options.signal` aborts it: it rejects with an `AbortError` once what the claim made is
   * undone (the file is gone by then), and the transport may listen() again.
   */
  listen(options: ListenOptions = {}): Promise<string> {
    if (!traced(channels.listen)) return this.#listenCall(options);
    const context: ListenMessage = { path: this.path };
    const listening = (): Promise<string> =>
      this.#listenCall(options).then((endpoint) => {
        context.endpoint = endpoint;
        return endpoint;
      });
    return channels.listen.tracePromise(listening, context);
  }

  /** listen() itself; never throws (a failure is a rejected promise, as tracePromise wants). */
  #listenCall(options: ListenOptions): Promise<string> {
    let call: Resolved;
    let signal: AbortSignal | undefined;
    try {
      checkListenOptions(options);
      signal = options.signal;
      // Not even the path: a generated one would be drawn first.
      if (signal?.aborted) throw abortError(signal, 'listen()');
      if (this.#closed) throw closedError(this.path);
      if (this.#state.is !== 'idle') {
        throw new TransportError(ErrorCodes.INVALID_STATE, `This transport already listens on ${this.path}; create another transport for another listener.`, {
          path: this.path,
        });
      }
      call = resolveOptions(this.#settings, options);
      guardAbstract(this.path, this.#settings, options, 'listen');
    } catch (err) {
      return Promise.reject(err);
    }
    // #listen() awaits before it looks at the state, so 'claiming' is in place by then.
    this.#state = { is: 'claiming', claimed: this.#listen(call, signal) };
    return this.#state.claimed;
  }

  /**
   * The claim, and what follows it. The claim is a few system calls and one turn of the event
   * loop for libuv to take the fd (up to 1 s when another process holds the directory's claim
   * lock): it is not cut short, but an abort in the meantime is seen when it is done, and what
   * it made is undone before listen() rejects, so the AbortError comes with nothing left behind.
   */
  async #listen(call: Resolved, signal: AbortSignal | undefined): Promise<string> {
    const { place, mode, backlog, group, allowHalfOpen, binding } = this.#settings;
    const { path, generatedDir } = place;
    if (this.#maker.kind === 'net') refuseNetTruncation(path, NATIVE_OFF);
    const request = { path, mode, backlog, gid: group, generatedDir, allowHalfOpen };
    const claim = await claimSocket(request, binding, this.#maker instanceof NativeSocketMaker ? this.#maker : null);
    if (this.#closed || signal?.aborted) {
      // close() was called, or the signal fired, while we were setting up: undo, as close()
      // cannot see the claim yet. Connections it held for the acceptor go with it.
      dropEarlyConnections(claim.server);
      claim.server.close();
      claim.release();
      if (this.#closed) throw closedError(path);
      this.#state = { is: 'idle' }; // an aborted listen() may be tried again
      throw abortError(signal!, `listen() on ${path}`);
    }
    this.#serve(claim, call, true);
    return this.#endpoint!;
  }

  /** Starts accepting on a claimed listener (`made` here, or handed over by another process). */
  #serve(claim: Claim, call: Resolved, made: boolean): void {
    const acceptor = new Acceptor(this, this.#settings, this.#connections, call);
    this.#state = { is: 'listening', claim, acceptor };
    this.#endpoint = toEndpoint(this.path);
    if (this.#unrefed) claim.server.unref();
    exitCleanup.add(this, () => claim.release());
    acceptor.serve(claim.server, made);
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
   * for the next taker. Only a completed hand-off, `close()` or `options.signal` ends the wait:
   * `close()` rejects it at once with `ERR_TRANSPORT_CLOSED`, the signal with an `AbortError`
   * (this transport keeps serving), either once the control socket is closed and its file
   * removed. Once a taker has answered ok the signal is let go: the listener is the taker's.
   *
   * File paths only: a transport on an abstract address (`unix:@name`) rejects with
   * `ERR_HANDOFF` before anything is made or sent, and keeps serving (use a file path, or
   * systemd's fd store: `handOffToSystemd()`).
   */
  async handOff(control: string, options: HandOffOptions = {}): Promise<void> {
    checkHandOffOptions(options);
    const { signal } = options;
    const aborted = (): AbortError => abortError(signal!, `handOff() on ${control}`);
    if (signal?.aborted) throw aborted();
    refuseAbstractHandOff(this.path);
    if (!this.#settings.binding) throw nativeRequired('handOff()', { unused: NATIVE_OFF });
    if (this.#state.is === 'claiming') await this.#state.claimed;
    if (signal?.aborted) throw aborted();
    const state = this.#state;
    if (state.is === 'closed') throw closedError(this.path);
    if (state.is !== 'listening' || this.#offer) {
      const why = state.is === 'listening' ? ', and not handing off already' : '';
      throw new TransportError(ErrorCodes.INVALID_STATE, `handOff() needs a transport that is listening${why}.`, { path: this.path });
    }
    const { claim } = state;
    // One abort for the offer: close() aborts it with ERR_TRANSPORT_CLOSED, the caller's signal
    // with an AbortError, until a taker has answered ok (letGo): from then on it is done.
    const abort = new AbortController();
    const onAbort = (): void => abort.abort(aborted());
    signal?.addEventListener('abort', onAbort, { once: true });
    const letGo = (): Promise<void> => {
      signal?.removeEventListener('abort', onAbort);
      return this.#letGo(state);
    };
    const handing = { path: this.path, mode: this.mode, dev: claim.dev, ino: claim.ino, server: claim.server, letGo };
    const offered = offerListener(control, options, handing, (o) => new UnixSocketTransport(o), abort.signal);
    this.#offer = { abort, settled: offered.then(ignore, ignore) };
    let drained: Promise<void>;
    try {
      ({ drained } = await offered);
    } finally {
      this.#offer = null;
      signal?.removeEventListener('abort', onAbort);
    }
    await drained;
  }

  /** A successor serves now: stop accepting, leave the file to it. Resolves when our connections are done. */
  #letGo({ claim, acceptor }: Listening): Promise<void> {
    this.#state = { is: 'handedOff', acceptor };
    claim.forget();
    exitCleanup.delete(this);
    // net.Server#close calls back once the connections it accepted have all closed.
    return new Promise<void>((resolve) => claim.server.close(() => resolve()));
  }

  /**
   * Takes over the listener of a process that called `handOff(control)`, and resolves a
   * transport that listens on it: same path, same socket, no client refused in between. It
   * resolves once the old side has removed its control socket and hung up (at most 1 s after
   * it confirmed that it stopped accepting), so this process may at once `handOff(control)` on
   * the same path.
   *
   * Rejects with `ERR_HANDOFF`, every fd received closed and nothing served, when the other
   * side hangs up before the hand-off is complete, sends a line longer than 4 KiB, or sends
   * anything but a valid header with exactly one listening Unix stream socket. The path and mode
   * come from the process handing over, but `close()` removes the socket file only if this
   * process has proved it to be the socket it received (Linux: the file at the path is a socket
   * with the (dev, ino) sent, and connecting to it reaches the received listener; see
   * src/transport/handoff/proof.ts). When that cannot be proved, the transport serves all the
   * same, `close()` removes nothing, and a process warning (code `PLUGSOCK_HANDOFF_UNVERIFIED`)
   * says why.
   *
   * `options.signal` aborts it with an `AbortError` until this process answers ok (the old
   * side keeps serving, every fd received is closed); after ok the old side has stopped
   * accepting, so the hand-off runs to its end.
   */
  static async takeOver(control: string, options: TakeOverOptions = {}): Promise<UnixSocketTransport> {
    checkTakeOverOptions(options);
    if (options.signal?.aborted) throw abortError(options.signal, `takeOver() from ${control}`);
    return takeOverListener(
      control,
      options,
      (o) => new UnixSocketTransport(o),
      (t) => t.#successor(),
    );
  }

  /**
   * Serves the listening socket systemd passed this process (socket activation, or its fd store
   * on a restart: `LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`), picked by `name` or the only
   * one, and checked to be a listening AF_UNIX stream socket. The variables are unset (as
   * sd_listen_fds(1) does) and the fds passed become close-on-exec. The peer policy,
   * `fdPassing` and `sendBufferSize` apply as to any listener; `close()` never removes the
   * socket file, which is systemd's. Rejects with `ERR_SYSTEMD_SOCKET` (none passed, or not a
   * listening Unix stream socket: the message says what it is), `ERR_INVALID_OPTION` (several
   * passed and no `name`: the message lists them; an abstract socket without a peer policy),
   * `ERR_NATIVE_REQUIRED` without the addon. See docs/systemd.md.
   */
  static fromSystemd(options: FromSystemdOptions = {}): Promise<UnixSocketTransport> {
    return fromSystemd(options, { make: (o) => new UnixSocketTransport(o), adopt: (t, fd) => t.#adopt(fd) });
  }

  /**
   * Gives systemd's fd store (`FileDescriptorStoreMax=` in the unit) the listening socket:
   * `FDSTORE=1` and `FDNAME=<name>` with the fd, over `NOTIFY_SOCKET`. The next instance of the
   * service gets it back with `UnixSocketTransport.fromSystemd({ name })`, and no client is
   * refused in between. Resolves true once sent; false without `NOTIFY_SOCKET` (nothing sent,
   * nothing changed). Once sent, this transport keeps serving until closed, but `close()` no
   * longer removes the socket file. Rejects with `ERR_INVALID_STATE` unless listening,
   * `ERR_INVALID_OPTION` for a bad name, `ERR_SYSTEMD_NOTIFY` when systemd cannot be reached.
   */
  handOffToSystemd(options: HandOffToSystemdOptions = {}): Promise<boolean> {
    return storeListener(options, async () => {
      if (this.#state.is === 'claiming') await this.#state.claimed;
      const state = this.#state;
      if (state.is !== 'listening') {
        throw new TransportError(ErrorCodes.INVALID_STATE, 'handOffToSystemd() needs a transport that is listening.', { path: this.path });
      }
      return { fd: serverFd(state.claim.server), keepFile: () => state.claim.forget() };
    });
  }

  /** What takeOver() may do to a transport it made (handoff/take.ts). */
  #successor(): Successor {
    return {
      adopt: (fd) => this.#adopt(fd),
      own: (dev, ino) => this.#own(dev, ino),
      filterAccepted: (filter) => {
        if (this.#state.is === 'listening') this.#state.acceptor.filter = filter;
      },
    };
  }

  /** Serves on a listening fd received from another process; its file is not ours to remove (yet). */
  async #adopt(fd: number): Promise<void> {
    if (this.#state.is !== 'idle') {
      this.#settings.binding?.fdClose(fd);
      throw new TransportError(ErrorCodes.INVALID_STATE, 'Only a fresh transport can adopt a listener.', { path: this.path });
    }
    let server: net.Server;
    try {
      server = await this.#maker.adopt(fd, this.#settings.backlog);
    } catch (err) {
      // The addon's maker closes the fd it could not serve; plain net's refuses before it looks.
      if (this.#maker.kind === 'net') closeQuietly(fd);
      throw err;
    }
    this.#serve(borrowedClaim(server), this.#settings, false);
  }

  /** The file at our path is proved to be the adopted socket's, (dev, ino): close() removes it if it still is. */
  #own(dev: bigint, ino: bigint): void {
    const state = this.#state;
    if (state.is !== 'listening') return;
    const claim = adoptClaim(this.path, state.claim.server, dev, ino, this.#settings.binding);
    this.#state = { ...state, claim };
    exitCleanup.add(this, () => claim.release());
  }

  /**
   * Connects to `endpoint` (default: this transport's path) and resolves the socket.
   *
   * While the socket is missing or refusing, it retries with backoff until the timeout, then
   * rejects with `ConnectionTimeoutError`. A path that is not a socket (`ERR_NOT_A_SOCKET`) or
   * not accessible (`ERR_PERMISSION`) fails at once. `options.signal` aborts it (retries
   * included) with an `AbortError`, no socket left open.
   */
  connect(endpoint: string | undefined, options: ConnectOptions & { fdPassing: true }): Promise<PeerFdStream>;
  connect(endpoint?: string, options?: ConnectOptions): Promise<PeerSocket>;
  connect(endpoint?: string, options: ConnectOptions = NO_CONNECT_OPTIONS): Promise<PeerSocket | PeerFdStream> {
    if (!traced(channels.connect)) return this.#connectCall(endpoint, options);
    const context: ConnectMessage = { path: tracedPath(endpoint, this) };
    const connecting = (): Promise<PeerSocket | PeerFdStream> =>
      this.#connectCall(endpoint, options).then((connection) => {
        context.peer = credentialsOf(connection.peer);
        return connection;
      });
    return channels.connect.tracePromise(connecting, context);
  }

  /** connect() itself; never throws (a failure is a rejected promise, as tracePromise wants). */
  #connectCall(endpoint: string | undefined, options: ConnectOptions): Promise<PeerSocket | PeerFdStream> {
    let path: string;
    let connecting: Promise<PeerSocket | PeerFdStream>;
    try {
      if (options !== NO_CONNECT_OPTIONS) checkOptionKeys(options, CONNECT_OPTION_KEYS, '');
      if (this.#closed) throw closedError(this.path);
      path = endpoint === undefined ? this.path : normalizeEndpoint(endpoint);
      guardAbstract(path, this.#settings, options, 'connect');
      connecting = this.#connector.connect(path, options);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#endpoint !== null) return connecting;
    return connecting.then((connection) => {
      this.#endpoint ??= toEndpoint(path);
      return connection;
    });
  }

  /**
   * Closes the listener, removes the socket file if it is still the one this transport created
   * (and the private directory of a generated path), and ends the connections. Idempotent;
   * concurrent calls share one promise. Emits `'close'` when done.
   *
   * By default every connection (accepted or opened) is destroyed at once. With
   * `{ graceful: true, timeoutMs }` the listener stops and the file goes at once all the same,
   * but the connections may end by themselves: those still open after `timeoutMs` (default
   * 30000) are destroyed, and close() resolves once none is left. A plain `close()` during a
   * graceful one destroys what is left at once. A graceful close keeps the process alive until
   * it settles (`timeoutMs` at most), also after `unref()` (which concerns the listener) and
   * when its connections would not (an `FdStream` nobody reads, an unref()'d socket). Either
   * way, pending `connect()` calls and peer checks end at once (`ERR_TRANSPORT_CLOSED`), and a
   * `handOff()` waiting for a taker rejects.
   */
  close(options?: CloseOptions): Promise<void> {
    let limit: number | null;
    try {
      limit = gracefulLimitOf(options);
    } catch (err) {
      return Promise.reject(err);
    }
    const was = this.#state;
    if (was.is === 'closed') {
      if (limit === null) this.#connections.destroyAll(); // cuts a graceful close short
      return was.closing;
    }
    // What is in flight ends now: connect() retries and client checks, peer checks, a handOff().
    this.#connector.stop();
    if (was.is === 'listening' || was.is === 'handedOff') was.acceptor.stop('the transport was closed');
    this.#offer?.abort.abort(closedError(this.path));
    this.#state = { is: 'closed', closing: this.#close(was, limit) };
    return this.#state.closing;
  }

  /** `await using transport = new UnixSocketTransport()`: close() (the default, immediate). */
  [kAsyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Lets the process exit while this transport listens and nothing else keeps it alive, as
   * `net.Server#unref`. Also before listen(): the listener starts unreferenced. The socket file
   * is still removed when the process exits (the exit hook never keeps it alive). Connections
   * are not affected, nor is a graceful `close()`, which keeps the process alive until it
   * settles. Returns this.
   */
  unref(): this {
    this.#unrefed = true;
    this.#server?.unref();
    return this;
  }

  /** Undoes unref(): the listener keeps the process alive again (the default). Returns this. */
  ref(): this {
    this.#unrefed = false;
    this.#server?.ref();
    return this;
  }

  /** The listening server, while this transport accepts. */
  get #server(): net.Server | null {
    return this.#state.is === 'listening' ? this.#state.claim.server : null;
  }

  /** The rest of close(), from the state it ended; its first await comes before anything else. */
  async #close(was: Exclude<State, { is: 'closed' }>, limit: number | null): Promise<void> {
    await (was.is === 'claiming' ? was.claimed.catch(ignore) : undefined);
    let stopped: Promise<void> | undefined;
    if (was.is === 'listening') {
      // Stop accepting and give the name up first: a client that comes now finds no file
      // (ENOENT), rather than a socket nobody will accept on. net.Server#close calls back
      // once the connections it accepted have all closed.
      stopped = new Promise<void>((resolve) => was.claim.server.close(() => resolve()));
      was.claim.release();
    }
    exitCleanup.delete(this);
    if (limit === null) this.#connections.destroyAll();
    else await this.#drain(limit);
    await stopped;
    // A pending handOff() was aborted by close(): its control socket is gone once it settles.
    await this.#offer?.settled;
    this.#endpoint = null;
    this.emit('close');
  }

  /**
   * A graceful close: connections end by themselves, or are destroyed at the time limit. The
   * timer is referenced, unref() or not: a connection does not always keep the process alive
   * (an FdStream nobody reads has no active handle, nor has an unref()'d socket), and the
   * process must not exit with close() unsettled. It holds the process `limit` ms at most.
   */
  async #drain(limit: number): Promise<void> {
    const timer = setTimeout(() => this.#connections.destroyAll(), limit);
    try {
      await this.#connections.empty();
    } finally {
      clearTimeout(timer);
    }
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Not open (any more): nothing to close.
  }
}

/** connect()'s path for plugsock:connect: normalised, else the endpoint as given. */
function tracedPath(endpoint: string | undefined, transport: UnixSocketTransport): string {
  if (endpoint === undefined) return transport.path;
  try {
    return normalizeEndpoint(endpoint);
  } catch {
    return String(endpoint);
  }
}
