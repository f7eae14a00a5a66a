/**
 * connect(): one connection to a path, tried again with backoff while the socket is missing or
 * refusing (errors that waiting cannot cure fail at once), set up as every connection of the
 * transport is, and checked against the client's own peer policy before it is resolved.
 */
import { stat } from 'node:fs/promises';
import type * as net from 'node:net';
import {
  ConnectionTimeoutError,
  NATIVE_OFF,
  abortError,
  closedError,
  errnoKind,
  fileKindOf,
  isSystemError,
  notASocketError,
  systemToTransport,
} from '../errors';
import { FdStream } from '../fd-stream';
import { refuseNetTruncation } from '../path';
import { type Peer, type PeerPolicy, checkPeer, peerRejectedError } from '../peer';
import { NO_MAKER_OPTIONS, type SocketMaker } from '../sockets/types';
import { type Connections, fdStreamOf, passRightsFor, resumeFresh, setUpConnection, socketFd } from './connection';
import { waitUnless } from './abort';
import { type ConnectOptions, NO_CONNECT_OPTIONS, type Settings, checkSignal, connectTimeoutOf, onreadOf, resolveOptions } from './options';
import type { PeerFdStream, PeerSocket } from './types';

const RETRY_FIRST_MS = 5;
const RETRY_MAX_MS = 100;

export class Connector {
  /** Wakes retries and ends client checks on close(); made on first use (an AbortController costs ~4 µs). */
  #abort: AbortController | null = null;
  #stopped = false;

  constructor(
    private readonly settings: Settings,
    private readonly maker: SocketMaker,
    private readonly connections: Connections,
  ) {}

  /**
   * Connects to `path` (normalised) with `options` (keys checked): the body of connect().
   *
   * Written as one promise chain rather than nested async functions: a connection is short
   * work (~30 µs with the kernel's part), and every async layer costs it a few per cent. The
   * first attempt runs at once; only a failure enters the retry loop.
   *
   * With `options.signal`: an aborted signal throws before any system call; one that fires
   * later ends the retry wait or the client's peer check at once, and an attempt in flight (a
   * single connect(2), no wait) is closed when it returns, so that when connect() rejects with
   * the AbortError no socket, timer or listener of it is left.
   */
  connect(path: string, options: ConnectOptions): Promise<PeerSocket | PeerFdStream> {
    const given = options !== NO_CONNECT_OPTIONS;
    const { peer: policy, fdPassing } = given ? resolveOptions(this.settings, options) : this.settings;
    const timeoutMs = given ? connectTimeoutOf(this.settings, options) : this.settings.connectTimeoutMs;
    const signal = given ? checkSignal(options.signal) : undefined;
    if (this.maker.kind === 'net') refuseNetTruncation(path, NATIVE_OFF);
    if (signal?.aborted) throw abortError(signal, `connect() to ${path}`);
    // Each connection is set up and admitted in the reaction that receives it: no promise layer
    // more than the attempt's.
    if (fdPassing) {
      const binding = this.settings.binding!;
      const attempt = async (): Promise<number> => binding.socketConnect(path);
      return this.#retry(path, timeoutMs, attempt, signal).then((fd) => this.#admit(this.#toFdStream(fd, path), policy, path, signal));
    }
    const onread = given ? onreadOf(options, false) : undefined;
    // Paused only for a peer check, so nothing is read before it passes; without a policy the
    // socket reads as a fresh net.Socket does (no pause to undo: ~1% of a connection).
    const paused = Boolean(policy);
    const makerOptions = onread || paused ? { onread, paused } : NO_MAKER_OPTIONS;
    const attempt = (): Promise<net.Socket> => this.maker.connect(path, makerOptions);
    const admit = (socket: net.Socket) => this.#admit(this.#withPeer(socket, path, policy), policy, path, signal);
    return attempt().then(admit, (err) => this.#retry(path, timeoutMs, attempt, signal, err).then(admit));
  }

  /** A connection is made: tracked, checked against the client's policy, resumed, handed out. */
  #admit(
    connection: PeerSocket | PeerFdStream,
    policy: PeerPolicy | undefined,
    path: string,
    signal: AbortSignal | undefined,
  ): PeerSocket | PeerFdStream | Promise<PeerSocket | PeerFdStream> {
    const peer = connection.peer as Peer | null;
    this.connections.track(connection, peer);
    if (policy && peer && !signal?.aborted) {
      const verdict = checkPeer(policy, peer);
      if (typeof verdict !== 'string' && verdict !== null) {
        return this.#awaitCheck(verdict, signal).then((reason) => this.#handOut(connection, peer, reason, path, signal));
      }
      return this.#handOut(connection, peer, verdict, path, signal);
    }
    return this.#handOut(connection, peer, null, path, signal);
  }

  /** The verdict is in (null: admitted): the connection is the caller's, or it is destroyed. */
  #handOut(
    connection: PeerSocket | PeerFdStream,
    peer: Peer | null,
    reason: string | null,
    path: string,
    signal: AbortSignal | undefined,
  ): PeerSocket | PeerFdStream {
    if (this.#stopped) {
      connection.destroy();
      throw closedError(path);
    }
    if (signal?.aborted) {
      connection.destroy();
      throw abortError(signal, `connect() to ${path}`);
    }
    if (reason !== null) {
      connection.destroy();
      throw peerRejectedError(reason, peer, path);
    }
    if (!(connection instanceof FdStream) && connection.readableFlowing === false) resumeFresh(connection);
    return connection;
  }

  /** close(): retries stop, and client checks end (reported as ERR_TRANSPORT_CLOSED). */
  stop(): void {
    this.#stopped = true;
    this.#abort?.abort();
  }

  get #signal(): AbortSignal {
    return (this.#abort ??= new AbortController()).signal;
  }

  /** A connected net.Socket (paused where the maker can) with its peer read (null without the addon). */
  #withPeer(socket: net.Socket, path: string, policy: PeerPolicy | undefined): PeerSocket {
    const connection = socket as PeerSocket;
    connection.peer = null;
    const { binding } = this.settings;
    if (!binding) return connection;
    try {
      connection.peer = setUpConnection(binding, socketFd(socket), this.settings.sendBufferSize, passRightsFor(false), policy ? null : socket);
    } catch (err) {
      socket.destroy();
      throw setUpError(err, path);
    }
    return connection;
  }

  /** A connected fd, owned by an FdStream from the start: the reads are the addon's (fd passing). */
  #toFdStream(fd: number, path: string): PeerFdStream {
    const binding = this.settings.binding!;
    let peer: Peer;
    try {
      peer = setUpConnection(binding, fd, this.settings.sendBufferSize, passRightsFor(true), null);
    } catch (err) {
      binding.fdClose(fd);
      throw setUpError(err, path);
    }
    try {
      return fdStreamOf(binding, fd, peer, this.settings.allowHalfOpen);
    } catch (err) {
      throw systemToTransport(err, path, 'connect');
    }
  }

  /**
   * The client's own asynchronous check of the server (`verify` returned a promise): within
   * peerCheckTimeoutMs, and cut short by close() (which connect() then reports as
   * ERR_TRANSPORT_CLOSED) or the caller's signal (an AbortError: #handOut sees it fired).
   */
  async #awaitCheck(verdict: Promise<string | null>, signal: AbortSignal | undefined): Promise<string | null> {
    const timeoutMs = this.settings.peerCheckTimeoutMs;
    const waited = await waitUnless({ promise: verdict, ms: timeoutMs }, this.#signal, signal);
    if (waited.end === 'stopped') return 'the transport was closed';
    if (waited.end === 'aborted') return 'the connect() was aborted';
    return waited.value === undefined ? `the peer check took longer than ${timeoutMs} ms (peerCheckTimeoutMs)` : waited.value;
  }

  /**
   * Tries `attempt` until it succeeds, an error that waiting cannot cure comes, the time-out
   * passes, close() is called or `signal` fires. `failed`: the error of an attempt already made
   * (the first, tried before any of this was needed).
   */
  async #retry<T>(path: string, timeoutMs: number, attempt: () => Promise<T>, signal: AbortSignal | undefined, failed?: unknown): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let delay = RETRY_FIRST_MS;
    let lastSeen = 'missing';
    let lastError: unknown;
    let tried = failed !== undefined;
    for (;;) {
      if (tried) {
        if (signal?.aborted) throw abortError(signal, `connect() to ${path}`);
        lastError = failed;
        lastSeen = await classifyConnectError(failed, path);
        const left = deadline - Date.now();
        if (left <= 0) throw new ConnectionTimeoutError(path, timeoutMs, lastSeen, lastError);
        const waited = await waitUnless({ ms: Math.min(delay, left) }, this.#signal, signal);
        if (waited.end === 'stopped' || this.#stopped) throw closedError(path);
        if (waited.end === 'aborted') throw abortError(signal!, `connect() to ${path}`);
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
      tried = true;
      try {
        return await attempt();
      } catch (err) {
        failed = err;
      }
    }
  }
}

/** Throws for errors that waiting cannot cure; returns what was seen for those it can. */
async function classifyConnectError(err: unknown, path: string): Promise<string> {
  if (!isSystemError(err)) throw err;
  switch (errnoKind(err)) {
    case 'missing':
      return 'missing';
    case 'busy':
      return 'busy';
    case 'refused': {
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

/** A connection whose credentials or socket options could not be had (it is closed). */
function setUpError(err: unknown, path: string): Error {
  return systemToTransport(err, path, (err as { syscall?: string }).syscall ?? 'getsockopt');
}
