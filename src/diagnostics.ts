/**
 * plugsock's diagnostics_channel channels: what it publishes, for tracing and metrics tools
 * (OpenTelemetry, APM agents, your own subscriber). Nothing is built or published unless
 * someone subscribes: each publisher checks `hasSubscribers` first, so an unobserved process
 * pays one property read per event.
 *
 *   import diagnostics_channel from 'node:diagnostics_channel';
 *   diagnostics_channel.subscribe('plugsock:connection', (msg) => console.log(msg.peer));
 *
 * Payloads are plain objects; their types below are the documented contract (docs/diagnostics.md).
 */
import diagnostics_channel from 'node:diagnostics_channel';
import type { FdStream } from './fd-stream';
import type { PeerCredentials } from './peer';
import type { PeerFdStream, PeerSocket } from './transport/types';

/** A peer's credentials as published (the accepted or connected socket's SO_PEERCRED). */
export interface PeerCredentialsMessage {
  /** The peer's process id, as of its connect() or listen(). */
  readonly pid: number;
  /** The peer's effective user id. */
  readonly uid: number;
  /** The peer's effective group id. */
  readonly gid: number;
}

/**
 * `plugsock:listen` (a TracingChannel: start, end, asyncStart, asyncEnd, error). The context
 * object is the same through one listen(); `path` is set at start, `endpoint` (and Node's
 * `result`, the same string) on asyncEnd, `error` on error. A failure of the call itself (a
 * bad option, a second listen()) is traced too.
 */
export interface ListenMessage {
  /** The socket path (a generated one is drawn when listen() is called, so it is known here). */
  path: string;
  /** Set on asyncEnd: where the transport listens (`unix:` + path). */
  endpoint?: string;
  /** Set by TracingChannel.tracePromise on success: the endpoint. */
  result?: string;
  /** Set on error: why listen() failed (a TransportError, or an AbortError). */
  error?: unknown;
}

/**
 * `plugsock:connect` (a TracingChannel): `path` at start (normalised; the endpoint as given
 * when it is not a valid one); on asyncEnd, `peer` (the server's credentials, null without the
 * addon) and Node's `result` (the connection); `error` on error (a time-out, a refused policy,
 * an AbortError, ...).
 */
export interface ConnectMessage {
  /** The socket path connected to: normalised, or the endpoint as given when it is not valid. */
  path: string;
  /** Set on asyncEnd: the server's credentials (null without the addon). */
  peer?: PeerCredentialsMessage | null;
  /** Set by TracingChannel.tracePromise on success: the connection (a PeerSocket or PeerFdStream). */
  result?: PeerSocket | PeerFdStream;
  /** Set on error: why connect() failed (a TransportError, or an AbortError). */
  error?: unknown;
}

/**
 * `plugsock:connection`: an accepted connection that passed the peer policy, published just
 * before the transport's `'connection'` event.
 */
export interface ConnectionMessage {
  /** The listener's socket path. */
  readonly path: string;
  /** The client's credentials (null without the addon). */
  readonly peer: PeerCredentialsMessage | null;
  /** The connection, as `'connection'` hands it out. */
  readonly connection: PeerSocket | PeerFdStream;
}

/**
 * Why `plugsock:peer-rejected` was published. Diagnostic codes: no error with these is thrown
 * (the server emits `'peerRejected'`).
 * - `ERR_PEER_REJECTED`: the policy refused the peer (a field did not match, `verify` returned
 *   false or threw).
 * - `ERR_PEER_CHECK_TIMEOUT`: `verify` took longer than `peerCheckTimeoutMs`.
 * - `ERR_PEER_CHECK_LIMIT`: `maxPendingPeerChecks` checks were already in flight.
 * - `ERR_PEER_HUNG_UP`: the peer hung up while its check ran.
 * - `ERR_PEER_CREDENTIALS`: the peer's credentials could not be read (it vanished at once).
 */
export type PeerRejectedCode = 'ERR_PEER_REJECTED' | 'ERR_PEER_CHECK_TIMEOUT' | 'ERR_PEER_CHECK_LIMIT' | 'ERR_PEER_HUNG_UP' | 'ERR_PEER_CREDENTIALS';

/**
 * `plugsock:peer-rejected`: an accepted connection the peer policy refused, published just
 * before `'peerRejected'`, while the connection is still open (then it is destroyed unread).
 */
export interface PeerRejectedMessage {
  /** The listener's socket path. */
  readonly path: string;
  /** The client's credentials; null when they could not be read (`ERR_PEER_CREDENTIALS`). */
  readonly peer: PeerCredentialsMessage | null;
  /** Why, in the words of `'peerRejected'`. */
  readonly reason: string;
  /** Which kind of refusal (see PeerRejectedCode). */
  readonly code: PeerRejectedCode;
}

/**
 * `plugsock:fds-sent`: descriptors the kernel took with one message (`sendFds()`), published
 * after the sendmsg(2) that carried them.
 */
export interface FdsMessage {
  /** How many descriptors went with the message. */
  readonly count: number;
  /** Bytes of the message's data (the `data` given to sendFds(), or its one zero byte). */
  readonly bytes: number;
  /** The FdStream they went over. */
  readonly stream: FdStream<unknown>;
}

/**
 * `plugsock:fds-received`: descriptors received with one message, published before `'fds'`.
 * A message whose descriptors the kernel truncated (MSG_CTRUNC) is published too, with
 * `truncated` true and `count` the ones that did arrive (they are closed).
 */
export interface FdsReceivedMessage extends FdsMessage {
  /** The kernel dropped some of the message's descriptors (MSG_CTRUNC); those that came are closed. */
  readonly truncated: boolean;
}

/**
 * `plugsock:plugin-start`: a go-plugin launch by startPlugin, published once the start is
 * complete (the plugin answered the handshake and its socket's server was verified), just before
 * startPlugin resolves. A start that fails or is aborted publishes nothing; attachPlugin neither.
 */
export interface PluginStartMessage {
  /** The executable, as given to startPlugin. */
  readonly command: string;
  /** Its arguments, as given (a copy). */
  readonly args: readonly string[];
  /** The plugin's process id. */
  readonly pid: number;
  /** The negotiated app protocol version. */
  readonly appVersion: number;
  /** The plugin's socket. */
  readonly address: string;
  /** Whether the connection uses AutoMTLS. */
  readonly tls: boolean;
  /** Milliseconds from spawn to the handshake line (read and accepted; the socket check is not counted). */
  readonly durationMs: number;
}

/** The channels, created once (diagnostics_channel keeps them by name anyway). */
export const channels = {
  listen: diagnostics_channel.tracingChannel<ListenMessage>('plugsock:listen'),
  connect: diagnostics_channel.tracingChannel<ConnectMessage>('plugsock:connect'),
  connection: diagnostics_channel.channel('plugsock:connection'),
  peerRejected: diagnostics_channel.channel('plugsock:peer-rejected'),
  fdsSent: diagnostics_channel.channel('plugsock:fds-sent'),
  fdsReceived: diagnostics_channel.channel('plugsock:fds-received'),
  pluginStart: diagnostics_channel.channel('plugsock:plugin-start'),
} as const;

/**
 * Whether a TracingChannel has a subscriber on any of its events (Node 20's TracingChannel has
 * no `hasSubscribers` of its own; each of its channels does).
 */
export function traced(tc: diagnostics_channel.TracingChannel<object, object>): boolean {
  return tc.start.hasSubscribers || tc.end.hasSubscribers || tc.asyncStart.hasSubscribers || tc.asyncEnd.hasSubscribers || tc.error.hasSubscribers;
}

/**
 * A peer's pid, uid and gid for a payload (only ever called with a subscriber: a connection
 * without a policy reads them here, one system call). Null without the addon, or when the
 * connection is already gone.
 */
export function credentialsOf(peer: PeerCredentials | null | undefined): PeerCredentialsMessage | null {
  if (!peer) return null;
  try {
    return { pid: peer.pid, uid: peer.uid, gid: peer.gid };
  } catch {
    return null;
  }
}
