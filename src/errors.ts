/**
 * Errors thrown by plugsock. Every error has a stable `code` to switch on; the message says
 * what happened and what to do about it.
 */
import { DISABLED_BY_ENV, loadAddon } from './addon';
import type { GoPluginErrorCode } from './goplugin/errors';
import type { TerraformErrorCode } from './terraform/errors';

/** Every code plugsock itself produces. System errors from the kernel keep their own codes. */
export const ErrorCodes = {
  /** Nothing exists at the socket path (and waiting did not help). */
  SOCKET_NOT_FOUND: 'ERR_SOCKET_NOT_FOUND',
  /** Something that is not a socket (file, directory, FIFO, symlink) is at the path. */
  NOT_A_SOCKET: 'ERR_NOT_A_SOCKET',
  /** A live server is listening at the path. */
  ADDRESS_IN_USE: 'ERR_ADDRESS_IN_USE',
  /** The path does not fit `sun_path` and this mode cannot bind it another way. */
  PATH_TOO_LONG: 'ERR_PATH_TOO_LONG',
  /** `connect()` gave up after `connectTimeoutMs`. */
  CONNECT_TIMEOUT: 'ERR_CONNECT_TIMEOUT',
  /** The kernel refused access (EACCES/EPERM) to the path or its directory. */
  PERMISSION: 'ERR_PERMISSION',
  /** A feature needs the native addon and it is not loaded. */
  NATIVE_REQUIRED: 'ERR_NATIVE_REQUIRED',
  /** The path or endpoint string is malformed (empty, NUL byte, relative, wrong scheme). */
  INVALID_PATH: 'ERR_INVALID_PATH',
  /** The socket's directory is world-writable without the sticky bit: anyone could swap the file. */
  INSECURE_DIRECTORY: 'ERR_INSECURE_DIRECTORY',
  /** An option has the wrong type or value. */
  INVALID_OPTION: 'ERR_INVALID_OPTION',
  /** The peer's credentials do not satisfy the peer policy. */
  PEER_REJECTED: 'ERR_PEER_REJECTED',
  /** The transport was closed while the operation was in progress. */
  CLOSED: 'ERR_TRANSPORT_CLOSED',
  /** listen()/connect() called in a state that does not allow it. */
  INVALID_STATE: 'ERR_INVALID_STATE',
  /** More than 253 fds in one sendFds() call. */
  TOO_MANY_FDS: 'ERR_TOO_MANY_FDS',
  /** The kernel dropped passed fds (receiver at its fd limit). */
  FDS_TRUNCATED: 'ERR_FDS_TRUNCATED',
  /** A listener hand-off between processes failed (the old process keeps serving). */
  HANDOFF: 'ERR_HANDOFF',
  /** `fromSystemd()`: no socket was passed, or the fd passed is not a listening Unix stream socket. */
  SYSTEMD_SOCKET: 'ERR_SYSTEMD_SOCKET',
  /** A message to systemd (`notify()`, `handOffToSystemd()`) could not be sent over `NOTIFY_SOCKET`. */
  SYSTEMD_NOTIFY: 'ERR_SYSTEMD_NOTIFY',
  /** Any other failure of the underlying socket; `cause` holds the system error. */
  TRANSPORT: 'ERR_TRANSPORT',
} as const;

/**
 * Every `code` a TransportError can have: the transport's `ErrorCodes` and the go-plugin layer's
 * `GoPluginErrorCodes` (plugsock/goplugin). Nothing else: a misspelt code does not compile.
 */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes] | GoPluginErrorCode | TerraformErrorCode;

export interface TransportErrorOptions {
  cause?: unknown;
  /** The socket path the error is about, when there is one. */
  path?: string;
}

/** Base class of every error plugsock throws or emits. */
export class TransportError extends Error {
  /** Stable machine-readable code, e.g. `ERR_ADDRESS_IN_USE`. */
  readonly code: ErrorCode;
  /** The socket path involved, if any. */
  readonly path?: string;

  constructor(code: ErrorCode, message: string, options: TransportErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TransportError';
    this.code = code;
    if (options.path !== undefined) this.path = options.path;
  }
}

/**
 * An operation cut short by its `AbortSignal` (`listen()`, `connect()`, `handOff()`,
 * `takeOver()`): Node's own AbortError, as `events.once()` and `timers/promises` reject with it,
 * so code that already tells an abort apart (`err.name === 'AbortError'`,
 * `err.code === 'ABORT_ERR'`) does here too. `cause` is the signal's `reason`. Not a
 * TransportError: its code is Node's, and an abort is the caller's decision, not a failure.
 */
export class AbortError extends Error {
  /** Always `'ABORT_ERR'`, as Node's own AbortError. */
  readonly code: 'ABORT_ERR';

  constructor(message = 'The operation was aborted', options?: { cause?: unknown }) {
    super(message, options);
    // Own fields, as Node's AbortError has them (name and code are enumerable there too).
    this.code = 'ABORT_ERR';
    this.name = 'AbortError';
  }
}

/** `what` (e.g. `connect() to /run/app.sock`) was aborted by `signal`; what it made is gone. */
export function abortError(signal: AbortSignal, what: string): AbortError {
  return new AbortError(`The operation was aborted: ${what} (its AbortSignal fired); nothing it opened is left behind.`, { cause: signal.reason });
}

/** `connect()` did not succeed within `connectTimeoutMs`. Code: `ERR_CONNECT_TIMEOUT`. */
export class ConnectionTimeoutError extends TransportError {
  /** How long connect() tried, in milliseconds. */
  readonly timeoutMs: number;
  /** What the last attempt saw: `'missing'`, `'refused'` or `'busy'` (backlog full). */
  readonly lastSeen: string;

  constructor(path: string, timeoutMs: number, lastSeen: string, cause?: unknown) {
    super(
      ErrorCodes.CONNECT_TIMEOUT,
      `Timed out after ${timeoutMs} ms connecting to ${path}: the socket was ${describeLastSeen(lastSeen)} ` +
        `on the last attempt. Check that the server is running and listening on this path, ` +
        `or raise connectTimeoutMs.`,
      { cause, path },
    );
    this.name = 'ConnectionTimeoutError';
    this.timeoutMs = timeoutMs;
    this.lastSeen = lastSeen;
  }
}

function describeLastSeen(lastSeen: string): string {
  switch (lastSeen) {
    case 'missing':
      return 'missing (no file at the path)';
    case 'refused':
      return 'refusing connections (a socket file with no server behind it)';
    case 'busy':
      return 'busy (its accept backlog was full)';
    default:
      return lastSeen;
  }
}

/** A system error as thrown by Node or the addon (`code`, `errno`, `syscall`). */
export interface SystemError extends Error {
  code?: string;
  errno?: number;
  syscall?: string;
  path?: string;
}

export function isSystemError(err: unknown): err is SystemError {
  return err instanceof Error && typeof (err as SystemError).code === 'string';
}

/**
 * What a system error code means to plugsock. Each place that decides what a failure means
 * (systemToTransport, connect's retry, the path claim's probe, ...) asks this one table, and
 * decides by kind; the code itself stays in messages and causes.
 */
export type ErrnoKind =
  /** ENOENT: nothing at the path (or a directory on the way is missing). */
  | 'missing'
  /** ENOTDIR: a component of the path is not a directory. */
  | 'not-dir'
  /** ECONNREFUSED: a socket file with no listener (Linux: also a file that is not a socket). */
  | 'refused'
  /** EAGAIN/EWOULDBLOCK: a listener whose accept backlog is full. */
  | 'busy'
  /** EACCES/EPERM: the kernel refused access (for kill(2): the process exists, not ours). */
  | 'denied'
  /** EROFS: a read-only filesystem. */
  | 'read-only'
  /** ENAMETOOLONG: the path (or a component) is too long. */
  | 'too-long'
  /** EADDRINUSE: the address is taken. */
  | 'in-use'
  /** EEXIST: the name is taken. */
  | 'exists'
  /** EPROTOTYPE: a socket of another type (datagram, seqpacket). */
  | 'wrong-type'
  /** EMFILE/ENFILE: out of file descriptors (this process, or the system). */
  | 'fd-limit'
  /** ESRCH: no such process. */
  | 'no-process'
  /** ENOTCONN: the socket is not (or no longer) connected. */
  | 'not-connected'
  /** EBADF: not an open fd (sendmsg: one of the fds to pass). */
  | 'bad-fd'
  /** EINVAL: an invalid argument (sendmsg: e.g. an fd that cannot be passed). */
  | 'invalid'
  /** ETOOMANYREFS: too many fds in flight (sendmsg). */
  | 'too-many-refs'
  /** Any other code, and errors without one. */
  | 'other';

const ERRNO_KINDS: ReadonlyMap<string, ErrnoKind> = new Map<string, ErrnoKind>([
  ['ENOENT', 'missing'],
  ['ENOTDIR', 'not-dir'],
  ['ECONNREFUSED', 'refused'],
  ['EAGAIN', 'busy'],
  ['EWOULDBLOCK', 'busy'],
  ['EACCES', 'denied'],
  ['EPERM', 'denied'],
  ['EROFS', 'read-only'],
  ['ENAMETOOLONG', 'too-long'],
  ['EADDRINUSE', 'in-use'],
  ['EEXIST', 'exists'],
  ['EPROTOTYPE', 'wrong-type'],
  ['EMFILE', 'fd-limit'],
  ['ENFILE', 'fd-limit'],
  ['ESRCH', 'no-process'],
  ['ENOTCONN', 'not-connected'],
  ['EBADF', 'bad-fd'],
  ['EINVAL', 'invalid'],
  ['ETOOMANYREFS', 'too-many-refs'],
]);

/** The kind of `err`'s system error code (`'other'` for any other error, or none). */
export function errnoKind(err: unknown): ErrnoKind {
  return (isSystemError(err) && ERRNO_KINDS.get(err.code as string)) || 'other';
}

/** Whether `err` is a system error of one of `kinds`. */
export function isErrno(err: unknown, ...kinds: ErrnoKind[]): err is SystemError {
  return isSystemError(err) && kinds.includes(errnoKind(err));
}

/** An operation of a transport that was closed before it could finish (or start). */
export function closedError(path: string): TransportError {
  return new TransportError(ErrorCodes.CLOSED, `The transport for ${path} was closed; create a new UnixSocketTransport.`, { path });
}

/** `nativeRequired`'s reason for a transport made with `native: 'off'` (the addon loaded). */
export const NATIVE_OFF = "the transport was created with native: 'off'";

export interface NativeRequiredOptions {
  /**
   * Why the addon is not used here although it loaded: the caller does without it
   * (`NATIVE_OFF`), or it cannot do this on this platform. When the addon did not load, why it
   * did not is said instead. Default: it has no such feature on this platform.
   */
  unused?: string;
  /** What the user can do without the addon, e.g. `'use a shorter path'`. */
  instead?: string;
  /** The error's code when the failure has one of its own; default `ERR_NATIVE_REQUIRED`. */
  code?: ErrorCode;
  path?: string;
}

/**
 * `what` (an option, a method, a path) needs the native addon, which is not available here. The
 * one way plugsock says so: the message says why (it did not load, and why; else
 * `options.unused`) and what to do: make the addon load (when it did not), or `options.instead`.
 */
export function nativeRequired(what: string, options: NativeRequiredOptions = {}): TransportError {
  const { binding, reason: loadFailure } = loadAddon();
  const reason = binding === null ? (loadFailure ?? 'it did not load') : (options.unused ?? `it has no such feature on ${process.platform}`);
  const remedies: string[] = [];
  if (binding === null) {
    remedies.push(
      loadFailure === DISABLED_BY_ENV
        ? 'unset PLUGSOCK_DISABLE_ADDON'
        : 'reinstall plugsock so its prebuild or a local build of the addon is available (plugsock info tells why it did not load)',
    );
  }
  if (options.instead) remedies.push(options.instead);
  const todo = remedies.join(', or ');
  return new TransportError(
    options.code ?? ErrorCodes.NATIVE_REQUIRED,
    `${what} needs plugsock's native addon, which is not available here (${reason}).` + (todo ? ` ${todo[0].toUpperCase()}${todo.slice(1)}.` : ''),
    options.path === undefined ? {} : { path: options.path },
  );
}

/** Maps a system error to the TransportError a user can act on. */
export function systemToTransport(err: unknown, path: string, op: string): TransportError {
  if (err instanceof TransportError) return err;
  if (!isSystemError(err)) {
    return new TransportError(ErrorCodes.TRANSPORT, `${op} failed for ${path}: ${String(err)}`, { path, cause: err });
  }
  switch (errnoKind(err)) {
    case 'denied':
    case 'read-only':
      return new TransportError(
        ErrorCodes.PERMISSION,
        `Permission denied (${err.code}) during ${op} on ${path}. Check the permissions of the socket and its directories, and which user this process runs as.`,
        { path, cause: err },
      );
    case 'too-long':
      return new TransportError(ErrorCodes.PATH_TOO_LONG, `The path ${path} is too long for ${op} (${err.code}). Use a shorter path.`, { path, cause: err });
    case 'missing':
    case 'not-dir':
      return new TransportError(ErrorCodes.SOCKET_NOT_FOUND, `${op} failed: ${path} (or one of its directories) does not exist (${err.code}).`, {
        path,
        cause: err,
      });
    case 'in-use':
      return new TransportError(ErrorCodes.ADDRESS_IN_USE, `${path} is in use (${err.code}). Choose another path.`, { path, cause: err });
    default:
      return new TransportError(ErrorCodes.TRANSPORT, `${op} failed on ${path}: ${err.message}`, { path, cause: err });
  }
}

/** What `kind` names in `notASocketError`: the file type found where a socket was expected. */
export type FileKind = 'file' | 'directory' | 'symlink' | 'fifo' | 'device' | 'other';

const KIND_WORDS: Record<FileKind, string> = {
  file: 'a regular file',
  directory: 'a directory',
  symlink: 'a symbolic link',
  fifo: 'a FIFO',
  device: 'a device file',
  other: 'not a socket',
};

/** Something that is not a socket is where a socket was expected; plugsock leaves it alone. */
export function notASocketError(path: string, kind: FileKind): TransportError {
  return new TransportError(
    ErrorCodes.NOT_A_SOCKET,
    `${path} is ${KIND_WORDS[kind]}, not a socket; plugsock leaves it alone. Remove it yourself or choose another path.`,
    { path },
  );
}

/** The kind of a `fs.Stats` (lstat or stat), in `notASocketError`'s words. */
export function fileKindOf(st: {
  isFile(): boolean;
  isDirectory(): boolean;
  isSymbolicLink(): boolean;
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
}): FileKind {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'device';
  return 'other';
}
