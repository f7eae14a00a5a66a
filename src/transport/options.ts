/**
 * The transport's options: their interfaces, their key lists (checked against the interfaces at
 * compile time, src/options.ts), their defaults, and how a call's options meet the
 * constructor's: `resolveOptions(base, override)`, the one place a peer policy and `fdPassing`
 * are decided, used by the constructor, listen() and connect().
 */
import type * as net from 'node:net';
import { addon, type Binding } from '../addon';
import { ErrorCodes, NATIVE_OFF, TransportError, nativeRequired } from '../errors';
import { checkOptionKeys, type KeyRecord, optionKeys } from '../options';
import { generatedPath, normalizeEndpoint } from '../path';
import { type PeerPolicy, validatePolicy } from '../peer';
import { DEFAULT_CHECK_TIMEOUT_MS, DEFAULT_MAX_PENDING_CHECKS } from '../peer-checks';

/** Options of `new UnixSocketTransport(options)`; unknown keys are ERR_INVALID_OPTION. */
export interface UnixSocketTransportOptions {
  /**
   * Socket path in any form `normalizeUnixPath` accepts, or an abstract address `unix:@name` (Linux, the addon, and
   * only with a peer policy: docs/systemd.md). Omitted: a fresh private path under `os.tmpdir()`.
   */
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

/** Every key of `UnixSocketTransportOptions`, as `optionKeys` wants them. */
/** `UnixSocketTransportOptions`' keys as a record (fromSystemd's options are derived from it). */
export const TRANSPORT_KEYS: KeyRecord<UnixSocketTransportOptions> = {
  path: true,
  mode: true,
  connectTimeoutMs: true,
  native: true,
  peer: true,
  backlog: true,
  allowHalfOpen: true,
  fdPassing: true,
  sendBufferSize: true,
  group: true,
  maxPendingPeerChecks: true,
  peerCheckTimeoutMs: true,
};

/** Every key of `UnixSocketTransportOptions` (a missing one does not compile); others are errors. */
export const TRANSPORT_OPTION_KEYS = optionKeys<UnixSocketTransportOptions>(TRANSPORT_KEYS);

/** Options of `transport.listen(options)`; unknown keys are ERR_INVALID_OPTION. */
export interface ListenOptions {
  /** Replaces the constructor's peer policy for this listener; `null` removes it. */
  peer?: PeerPolicy | null;
  /** Every accepted connection is an `FdStream` (fd passing). Needs the addon. */
  fdPassing?: boolean;
  /**
   * Aborts the listen() while it claims the path: it rejects with an `AbortError`, and what it
   * made (the socket, its file, a generated directory) is gone by then. Once listen() has
   * resolved the signal is let go (unlike `net.Server#listen`'s, it does not close a listener
   * later: `close()` does).
   */
  signal?: AbortSignal;
}

/** Every key of `ListenOptions` (a missing one does not compile); others are errors. */
export const LISTEN_OPTION_KEYS = optionKeys<ListenOptions>({ peer: true, fdPassing: true, signal: true });

/** Options of `transport.connect(endpoint, options)`; unknown keys are ERR_INVALID_OPTION. */
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
  /**
   * Aborts the connect(): retries stop, a client-side peer check is no longer waited for, and
   * connect() rejects with an `AbortError` once any socket it opened is closed.
   */
  signal?: AbortSignal;
}

/**
 * The options of a `connect()` called without any: shared, so that connect() knows at a glance
 * that there is nothing to check or resolve (the transport's own settings apply).
 */
export const NO_CONNECT_OPTIONS: ConnectOptions = Object.freeze({});

/** Every key of `ConnectOptions` (a missing one does not compile); others are errors. */
export const CONNECT_OPTION_KEYS = optionKeys<ConnectOptions>({ peer: true, timeoutMs: true, fdPassing: true, onread: true, signal: true });
/** The keys of `ConnectOptions.onread`, as Node's `net.OnReadOpts` has them. */
const ONREAD_KEYS = optionKeys<net.OnReadOpts>({ buffer: true, callback: true });

/** Options of `handOff()`. */
export interface HandOffOptions {
  /** Who may take the listener over. Default `{ sameUser: true }`. */
  peer?: PeerPolicy;
  /** Mode of the control socket. Default `0o600`. */
  mode?: number;
  /**
   * Stops waiting for a taker: handOff() rejects with an `AbortError` once the control socket is
   * closed and its file removed, and this transport keeps serving. Once a taker has answered
   * `ok` the hand-off is done (the listener is the taker's) and the signal is let go.
   */
  signal?: AbortSignal;
}

/** Every key of `HandOffOptions` (a missing one does not compile); others are errors. */
export const HAND_OFF_OPTION_KEYS = optionKeys<HandOffOptions>({ peer: true, mode: true, signal: true });

/** Options of `UnixSocketTransport.takeOver()`: the new transport's, plus the control check. */
export interface TakeOverOptions extends Omit<UnixSocketTransportOptions, 'path' | 'mode'> {
  /** Who must be handing over. Default `{ sameUser: true }`. */
  handOffPeer?: PeerPolicy;
  /**
   * Aborts the takeOver() until this process answers `ok` (the old side keeps serving, every fd
   * received is closed); from then on the old side has stopped accepting, so the hand-off runs
   * to its end and the signal is let go.
   */
  signal?: AbortSignal;
}

/**
 * Every key of `TakeOverOptions` (a missing one does not compile); others are errors, `path`
 * and `mode` included: they come from the process handing over.
 */
const { path: _path, mode: _mode, ...takeOverShared } = TRANSPORT_KEYS;
export const TAKE_OVER_OPTION_KEYS = optionKeys<TakeOverOptions>({ ...takeOverShared, handOffPeer: true, signal: true });

/** Options of `close()`. */
export interface CloseOptions {
  /**
   * Stop accepting and remove the socket file at once, but let open connections end by
   * themselves (within `timeoutMs`). Default false: every connection is destroyed at once.
   */
  graceful?: boolean;
  /** With `graceful`: connections still open after this many ms are destroyed. Default 30000. */
  timeoutMs?: number;
}

/** Every key of `CloseOptions` (a missing one does not compile); others are errors. */
export const CLOSE_OPTION_KEYS = optionKeys<CloseOptions>({ graceful: true, timeoutMs: true });

/** How long a graceful close() lets connections run before it destroys them. */
export const DEFAULT_GRACEFUL_TIMEOUT_MS = 30_000;
/** setTimeout's limit (a longer delay fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

const DEFAULT_MODE = 0o660;
const DEFAULT_TIMEOUT_MS = 5000;
const DEFAULT_BACKLOG = 511;
/** The addon's bound; the kernel caps far lower anyway (net.core.wmem_max). */
const MAX_SEND_BUFFER = 2 ** 30;

/** What one listener or connection runs with: a policy (or none) and whether it passes fds. */
export interface Resolved {
  readonly peer: PeerPolicy | undefined;
  readonly fdPassing: boolean;
}

/**
 * What a transport shows of its options, as its own readonly fields (declared through this
 * interface, index.ts): checked, with the defaults filled in.
 */
export interface TransportFigures {
  /** Exact mode of the socket file. */
  readonly mode: number;
  /** How long `connect()` keeps trying, in milliseconds. */
  readonly connectTimeoutMs: number;
  /** The listen backlog. */
  readonly backlog: number;
  /** The SO_SNDBUF requested for every connection, or null for the kernel's default. */
  readonly sendBufferSize: number | null;
  /** The gid the socket file gets, or null for the process's own. */
  readonly group: number | null;
  /** Limits of asynchronous peer checks (see the options of the same names). */
  readonly maxPendingPeerChecks: number;
  /** How long one asynchronous peer check may take, in milliseconds. */
  readonly peerCheckTimeoutMs: number;
}

/** The constructor's options, checked, with the defaults filled in: its figures and the rest. */
export interface Settings extends TransportFigures, Resolved {
  /** The socket's path, and the private directory of a generated one. */
  readonly place: SocketPlace;
  readonly allowHalfOpen: boolean;
  /** The addon, or null: it did not load, or `native: 'off'`. */
  readonly binding: Binding | null;
}

/**
 * Where the socket is: the path given, or a generated one (a socket in a private directory
 * under os.tmpdir()), made on first use and the same from then on. Lazily, because reading the
 * environment for the temp dir and drawing random bytes cost a transport ~8 µs, and a transport
 * that only connects to an endpoint it is given never needs them.
 */
export class SocketPlace {
  #path: string | null;
  #generatedDir: string | null = null;

  constructor(path: string | null) {
    this.#path = path;
  }

  /** The normalised absolute socket path. */
  get path(): string {
    return this.#path ?? this.#generate();
  }

  /** The private directory of a generated path (made by listen(), removed on close), else null. */
  get generatedDir(): string | null {
    if (this.#path === null) this.#generate();
    return this.#generatedDir;
  }

  #generate(): string {
    const { dir, path } = generatedPath();
    this.#generatedDir = dir;
    this.#path = path;
    return path;
  }
}

/** nativeRequired()'s options for an option this transport cannot honour without the addon. */
const DROP_THE_OPTION = { unused: NATIVE_OFF, instead: 'drop the option' };

/**
 * The policy and `fdPassing` of `override` (a call's options) where it gives them, else of
 * `base`; `peer: null` removes the base's policy. What `override` gives is checked, and so is
 * that the addon is there for what results.
 */
export function resolveOptions(base: Resolved & { readonly binding: Binding | null }, override: ListenOptions): Resolved {
  const peer = override.peer === undefined ? base.peer : (override.peer ?? undefined);
  const fdPassing = override.fdPassing ?? base.fdPassing;
  // The base's policy was checked when the base was made (the constructor's options).
  if (override.peer !== undefined) validatePolicy(peer);
  if (typeof fdPassing !== 'boolean') throw invalid('fdPassing must be a boolean.');
  if (peer && !base.binding) throw nativeRequired('a peer policy', DROP_THE_OPTION);
  if (fdPassing && !base.binding) throw nativeRequired('fdPassing', DROP_THE_OPTION);
  return { peer, fdPassing };
}

/**
 * The constructor's options, each checked in turn (the first wrong one throws): the figures the
 * transport shows, and its settings (the figures among them).
 */
export function settingsOf(options: UnixSocketTransportOptions): { figures: TransportFigures; settings: Settings } {
  checkOptionKeys(options, TRANSPORT_OPTION_KEYS, '');
  const mode = options.mode ?? DEFAULT_MODE;
  if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) throw invalid(`mode must be an integer from 0 to 0o777, got ${String(options.mode)}.`);
  const connectTimeoutMs = options.connectTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(connectTimeoutMs) || connectTimeoutMs < 0) {
    throw invalid(`connectTimeoutMs must be a non-negative number, got ${String(options.connectTimeoutMs)}.`);
  }
  const backlog = options.backlog ?? DEFAULT_BACKLOG;
  if (!Number.isInteger(backlog) || backlog < 1) throw invalid(`backlog must be a positive integer, got ${String(options.backlog)}.`);
  const native = options.native ?? 'auto';
  if (native !== 'auto' && native !== 'require' && native !== 'off') throw invalid(`native must be 'auto', 'require' or 'off', got ${String(native)}.`);
  const binding = native === 'off' ? null : addon();
  if (!binding && native === 'require') throw nativeRequired("native: 'require'", { instead: "use native: 'auto' to run without it" });
  const { peer, fdPassing } = resolveOptions({ peer: undefined, fdPassing: false, binding }, options);
  if (options.allowHalfOpen !== undefined && typeof options.allowHalfOpen !== 'boolean') throw invalid('allowHalfOpen must be a boolean.');
  const group = options.group ?? null;
  if (group !== null && (!Number.isInteger(group) || group < 0 || group > 0x7fffffff)) {
    throw invalid(`group must be a gid (a non-negative integer), got ${String(options.group)}.`);
  }
  const sendBufferSize = options.sendBufferSize ?? null;
  if (sendBufferSize !== null && (!Number.isInteger(sendBufferSize) || sendBufferSize < 1 || sendBufferSize > MAX_SEND_BUFFER)) {
    throw invalid(`sendBufferSize must be an integer number of bytes from 1 to ${MAX_SEND_BUFFER}, got ${String(options.sendBufferSize)}.`);
  }
  if (!binding && sendBufferSize !== null) throw nativeRequired('sendBufferSize', DROP_THE_OPTION);
  const maxPendingPeerChecks = options.maxPendingPeerChecks ?? DEFAULT_MAX_PENDING_CHECKS;
  if (!Number.isInteger(maxPendingPeerChecks) || maxPendingPeerChecks < 1) {
    throw invalid(`maxPendingPeerChecks must be a positive integer, got ${String(options.maxPendingPeerChecks)}.`);
  }
  const peerCheckTimeoutMs = options.peerCheckTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  if (!Number.isFinite(peerCheckTimeoutMs) || peerCheckTimeoutMs <= 0) {
    throw invalid(`peerCheckTimeoutMs must be a positive number, got ${String(options.peerCheckTimeoutMs)}.`);
  }
  const place = new SocketPlace(options.path === undefined ? null : normalizeEndpoint(options.path));
  const figures: TransportFigures = { mode, connectTimeoutMs, backlog, sendBufferSize, group, maxPendingPeerChecks, peerCheckTimeoutMs };
  // Spelt out: `{ ...figures, … }` makes every constructor ~4 µs slower (V8 copies it the slow way).
  const settings: Settings = {
    place,
    mode,
    connectTimeoutMs,
    backlog,
    sendBufferSize,
    group,
    maxPendingPeerChecks,
    peerCheckTimeoutMs,
    allowHalfOpen: options.allowHalfOpen === true,
    binding,
    peer,
    fdPassing,
  };
  return { figures, settings };
}

/**
 * `listen()`'s argument: an options object with known keys. Anything else (a string above all,
 * the `net` habit `listen('/tmp/x.sock')`, which must not listen elsewhere) is refused with a
 * pointer to the constructor's `path`.
 */
export function checkListenOptions(options: unknown): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    const example = typeof options === 'string' ? JSON.stringify(options) : `'/path/to.sock'`;
    throw invalid(
      `listen() takes an options object ({ peer?, fdPassing?, signal? }), not ${typeof options === 'string' ? `a path (${JSON.stringify(options)})` : String(options)}: ` +
        `the path is the constructor's, so pass { path } there: new UnixSocketTransport({ path: ${example} }).listen().`,
    );
  }
  checkOptionKeys(options, LISTEN_OPTION_KEYS, '');
  checkSignal((options as ListenOptions).signal);
}

/**
 * A call's `signal`, checked: undefined, or an AbortSignal (by shape, as Node checks it, so a
 * signal of another realm passes).
 */
export function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  const s = signal as Partial<AbortSignal> | null;
  if (
    typeof s !== 'object' ||
    s === null ||
    typeof s.aborted !== 'boolean' ||
    typeof s.addEventListener !== 'function' ||
    typeof s.removeEventListener !== 'function'
  ) {
    throw invalid(`signal must be an AbortSignal (new AbortController().signal, AbortSignal.timeout(ms)), got ${s === null ? 'null' : typeof s}.`);
  }
  return signal as AbortSignal;
}

/**
 * `close()`'s options, checked: the time limit of a graceful close, or null to destroy every
 * connection at once (the default).
 */
export function gracefulLimitOf(options: unknown): number | null {
  if (options === undefined) return null;
  checkOptionKeys(options, CLOSE_OPTION_KEYS, '');
  const { graceful, timeoutMs } = options as CloseOptions;
  if (graceful !== undefined && typeof graceful !== 'boolean') throw invalid(`graceful must be a boolean, got ${typeof graceful}.`);
  if (graceful !== true) {
    if (timeoutMs !== undefined) throw invalid('timeoutMs applies to a graceful close only: pass { graceful: true, timeoutMs }.');
    return null;
  }
  const limit = timeoutMs ?? DEFAULT_GRACEFUL_TIMEOUT_MS;
  if (typeof limit !== 'number' || !Number.isFinite(limit) || limit < 0 || limit > MAX_TIMER_MS) {
    throw invalid(`timeoutMs must be a number of milliseconds from 0 to ${MAX_TIMER_MS}, got ${String(timeoutMs)}.`);
  }
  return limit;
}

/** connect()'s time-out: its own `timeoutMs`, else the transport's `connectTimeoutMs`. */
export function connectTimeoutOf(settings: Settings, options: ConnectOptions): number {
  const timeoutMs = options.timeoutMs ?? settings.connectTimeoutMs;
  if (!Number.isFinite(timeoutMs) || timeoutMs < 0) throw invalid(`timeoutMs must be a non-negative number, got ${String(options.timeoutMs)}.`);
  return timeoutMs;
}

/** connect()'s `onread`, checked: the addon reads an fdPassing connection, so not with one. */
export function onreadOf(options: ConnectOptions, fdPassing: boolean): net.OnReadOpts | undefined {
  const onread = options.onread;
  if (onread === undefined) return undefined;
  if (typeof onread !== 'object' || onread === null || typeof onread.callback !== 'function' || !onread.buffer) {
    throw invalid('onread must be { buffer: Uint8Array | (() => Uint8Array), callback(bytesRead, buffer) }.');
  }
  checkOptionKeys(onread, ONREAD_KEYS, 'onread');
  if (fdPassing) throw invalid('onread and fdPassing cannot be combined: an fdPassing connection is read by the addon.');
  return onread;
}

/** `handOff()`'s options, the policy included, checked before anything is listened on. */
export function checkHandOffOptions(options: HandOffOptions): void {
  checkOptionKeys(options, HAND_OFF_OPTION_KEYS, '');
  validatePolicy(options.peer);
  checkSignal(options.signal);
}

/** `takeOver()`'s options, policies included, checked before anything is connected or received. */
export function checkTakeOverOptions(options: TakeOverOptions): void {
  checkOptionKeys(options, TAKE_OVER_OPTION_KEYS, '');
  validatePolicy(options.handOffPeer, 'handOffPeer');
  validatePolicy(options.peer);
  checkSignal(options.signal);
}

function invalid(message: string): TransportError {
  return new TransportError(ErrorCodes.INVALID_OPTION, message);
}
