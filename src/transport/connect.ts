/**
 * connect(): one connection to a path, tried again with backoff while the socket is missing or
 * refusing (errors that waiting cannot cure fail at once), set up as every connection of the
 * transport is, and checked against the client's own peer policy before it is resolved.
 */
import { stat } from 'node:fs/promises';
import type * as net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConnectionTimeoutError, NATIVE_OFF, closedError, errnoKind, fileKindOf, isSystemError, notASocketError, systemToTransport } from '../errors';
import { FdStream } from '../fd-stream';
import { refuseNetTruncation } from '../path';
import { type Peer, type PeerPolicy, checkPeer, peerRejectedError } from '../peer';
import type { SocketMaker } from '../sockets/types';
import { type Connections, fdStreamOf, resumeFresh, setUpConnection, socketFd } from './connection';
import { type ConnectOptions, type Settings, connectTimeoutOf, onreadOf, resolveOptions } from './options';
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

  /** Connects to `path` (normalised) with `options` (keys checked): the body of connect(). */
  async connect(path: string, options: ConnectOptions): Promise<PeerSocket | PeerFdStream> {
    const { peer: policy, fdPassing } = resolveOptions(this.settings, options);
    const timeoutMs = connectTimeoutOf(this.settings, options);
    if (this.maker.kind === 'net') refuseNetTruncation(path, NATIVE_OFF);
    const onread = onreadOf(options, fdPassing);
    // The helpers around #retry are synchronous: an async layer more costs every connection a few %.
    const connection = fdPassing
      ? this.#toFdStream(await this.#retry(path, timeoutMs, async () => this.settings.binding!.socketConnect(path)), path)
      : this.#withPeer(await this.#retry(path, timeoutMs, () => this.maker.connect(path, { onread })), path);
    const peer = connection.peer as Peer | null;
    this.connections.track(connection, peer);
    if (policy && peer) {
      const reason = await this.#checkServer(policy, peer);
      if (reason !== null && !this.#stopped) {
        connection.destroy();
        throw peerRejectedError(reason, peer, path);
      }
    }
    if (this.#stopped) {
      connection.destroy();
      throw closedError(path);
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
  #withPeer(socket: net.Socket, path: string): PeerSocket {
    const connection = socket as PeerSocket;
    connection.peer = null;
    const { binding } = this.settings;
    if (!binding) return connection;
    try {
      connection.peer = setUpConnection(binding, socketFd(socket), this.settings.sendBufferSize, false);
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
      peer = setUpConnection(binding, fd, this.settings.sendBufferSize, true);
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
   * The client's own check of the server: within peerCheckTimeoutMs, and cut short by close()
   * (which connect() then reports as ERR_TRANSPORT_CLOSED).
   */
  async #checkServer(policy: PeerPolicy, peer: Peer): Promise<string | null> {
    const verdict = checkPeer(policy, peer);
    if (typeof verdict === 'string' || verdict === null) return verdict;
    const abort = this.#signal;
    const timeoutMs = this.settings.peerCheckTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      return await Promise.race([
        verdict,
        new Promise<string>((resolve) => {
          timer = setTimeout(() => resolve(`the peer check took longer than ${timeoutMs} ms (peerCheckTimeoutMs)`), timeoutMs);
          onAbort = () => resolve('the transport was closed');
          abort.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
    } finally {
      clearTimeout(timer);
      if (onAbort) abort.removeEventListener('abort', onAbort);
    }
  }

  async #retry<T>(path: string, timeoutMs: number, attempt: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let delay = RETRY_FIRST_MS;
    let lastSeen = 'missing';
    let lastError: unknown;
    for (;;) {
      try {
        return await attempt();
      } catch (err) {
        lastError = err;
        lastSeen = await classifyConnectError(err, path);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new ConnectionTimeoutError(path, timeoutMs, lastSeen, lastError);
      try {
        await sleep(Math.min(delay, left), undefined, { signal: this.#signal });
      } catch {
        throw closedError(path);
      }
      if (this.#stopped) throw closedError(path);
      delay = Math.min(delay * 2, RETRY_MAX_MS);
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
