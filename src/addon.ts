/**
 * Loads the native addon once, and remembers why it did not load. Nothing here throws:
 * a missing addon means fallback mode, and `capabilities()` says why.
 */
import { join } from 'node:path';

/**
 * The addon's exports (docs/ADDON-CONTRACT.md; each native/*.cc registers its own, listed in
 * native/modules.h), named object first, then verb (`socketConnect`, `fdClose`). The only
 * declaration of them in src/. Optional members exist on Linux only.
 */
export interface Binding {
  /** sha256 of the sources the addon was built from (scripts/source-hash.js). */
  sourceHash: string;

  // native/socket.cc
  /**
   * Non-blocking connect to `path` (of any length on Linux); returns the connected fd. A `path`
   * that starts with a NUL is an abstract address (Linux): the name after it, exactly.
   */
  socketConnect(path: string): number;
  /** SO_SNDBUF; returns what the kernel applied (Linux: twice the request, capped). */
  socketSetSendBufferSize(fd: number, size: number): number;
  /** SO_PASSRIGHTS (Linux 6.16+): false where the kernel (or the platform) has no such option. */
  socketSetPassRights(fd: number, on: boolean): boolean;
  /**
   * 0: this kernel has no SO_PASSRIGHTS; 1: it has; 2: besides, accepted connections take the
   * listener's setting. (An addon built before this answered a boolean.)
   */
  socketProbePassRights(): number | boolean;
  /** Whether the peer of a connected socket has hung up (POLLRDHUP), without reading; always false on macOS. */
  socketIsHungUp(fd: number): boolean;

  // native/peercred_linux.cc, native/peercred_darwin.cc
  peerCred(fd: number): { pid: number; uid: number; gid: number; groups: number[] | null };
  /** Linux fast path: pid, uid, gid into `out` (an Int32Array of length 3). */
  peerCredInto?(fd: number, out: Int32Array): void;
  // native/connection_setup.cc (Linux only)
  /**
   * What a connection gets as it is accepted or opened, in one call: pid, uid, gid into `out`
   * (an Int32Array of length 3; null: not read); SO_SNDBUF unless `sendBufferSize` is 0; SO_PASSRIGHTS set to
   * `passRights` unless it is -1 (or the kernel has no such option).
   */
  connectionSetUp?(fd: number, out: Int32Array | null, sendBufferSize: number, passRights: number): void;
  /** Linux: SO_PEERGROUPS, null when the kernel lacks it. */
  peerGroups?(fd: number): number[] | null;
  /** SO_PEERPIDFD, owned by the caller; -1 where the kernel (or the platform) has none. */
  peerPidfd(fd: number): number;
  /** Whether the pidfd's process runs (a zombie does not); throws ENOSYS on macOS. */
  pidfdIsAlive(pidfd: number): boolean;

  // native/fd_channel.cc
  FdChannel: FdChannelConstructor;

  // native/fd_utils.cc (every fd returned is CLOEXEC and the caller's)
  fdDup(fd: number): number;
  /** memfd_create(2); throws ENOSYS outside Linux. */
  memfdCreate(name: string): number;
  fdClose(fd: number): void;

  /** FD_CLOEXEC on an inherited fd (systemd passes its sockets without it). */
  fdSetCloexec?(fd: number): void;

  // native/abstract.cc (Linux only)
  /** socket, bind, listen on `address`: a NUL, then the abstract name (1..107 bytes). CLOEXEC, non-blocking, the caller's. */
  socketListenAbstract?(address: string, backlog: number): number;

  // native/systemd.cc
  /** What `fd` is: null when it is open but not a socket; `path` (AF_UNIX only): '' unnamed, a path, or a NUL and an abstract name. */
  socketInspect?(fd: number): SocketInspection | null;
  /** One datagram (1..4096 bytes, at most 253 fds) to the AF_UNIX datagram socket at `address` (a path, or a NUL and an abstract name); never blocks (EAGAIN). */
  notifySend?(address: string, message: string, fds: number[]): void;

  // native/claim.cc: the claim through directory fds (Linux only).
  claimCreate?(dirFd: number, name: string, mode: number, backlog: number, gid: number, flags: number): ClaimResult;
  claimRelease?(dirFd: number, name: string, dev: bigint, ino: bigint): boolean;

  // native/dir_fd.cc (Linux only)
  dirOpen?(path: string): number;
  dirMake?(path: string, mode: number): number;
  dirRemoveAt?(parentFd: number, name: string, dirFd: number): boolean;
  dirStatAt?(dirFd: number, name: string): { dev: bigint; ino: bigint; mode: number; uid: number; gid: number } | null;
  dirScan?(path: string, prefix: string, maxScanned: number): string[];
}

/** socketInspect's answer (native/systemd.cc). */
export interface SocketInspection {
  domain: 'unix' | 'inet' | 'inet6' | 'other';
  type: 'stream' | 'dgram' | 'seqpacket' | 'raw' | 'other';
  /** SO_ACCEPTCONN: listen() was called on it. */
  listening: boolean;
  /** AF_UNIX: the bound address ('' unnamed, a path, or a NUL and an abstract name); null for other domains. */
  path: string | null;
}

/** claimCreate's verdict (native/claim.cc). */
export type ClaimResult =
  | { status: 'ok'; fd: number; dev: bigint; ino: bigint }
  | { status: 'exists'; kind: 'file' | 'directory' | 'symlink' | 'fifo' | 'device' | 'other' }
  | { status: 'live' | 'busy' | 'wrongtype' | 'denied' | 'insecure' | 'racing' }
  | { status: 'contended' }
  | { status: 'displaced'; stage: string };

/**
 * An FdChannel (native/fd_channel*.cc, native/scm_rights.cc): owns a connected stream socket
 * and does its every read (recvmsg) and write (sendmsg); src/fd-stream.ts wraps it.
 */
export interface FdChannelHandle {
  /**
   * One sendmsg of `data` with `fds` (separate arguments, at most 253): bytes sent, or -1 when
   * the socket is full (nothing sent, fds included). `id` is this channel's `id`: the addon finds
   * the channel from it (EBADF for any other number), cheaper than from `this`.
   */
  write(id: number, data: Uint8Array | Uint8Array[], ...fds: number[]): number;
  setWantWritable(want: boolean): void;
  readStart(): void;
  readStop(): void;
  shutdown(): void;
  close(): void;
  ref(): void;
  unref(): void;
  /** -1 once closed. */
  readonly fd: number;
  /** What write() takes: unique among this thread's channels while this one lives. */
  readonly id: number;
}

/** What FdChannel reports (numbers, not names: cheaper to make per event in N-API); native/fd_channel.h keeps the same numbers. */
export const enum ChannelEvent {
  /** One or more messages read in one go: one Buffer and one Int32Array for the batch. */
  Data = 0,
  End = 1,
  Error = 2,
  Writable = 3,
}

export type FdChannelEvent =
  | [
      type: ChannelEvent.Data,
      /** The bytes of every message of the batch, back to back from offset 0 (it may be longer). */
      bytes: Buffer,
      /**
       * [n, (length, fds) x n, the fds...]: message i's byte length, and its fd count, or
       * -1 - received when MSG_CTRUNC hit it (those received were closed by the addon). The
       * channel's own array, rewritten by the next batch.
       */
      meta: Int32Array,
    ]
  | [type: ChannelEvent.End]
  | [type: ChannelEvent.Error, error: Error]
  | [type: ChannelEvent.Writable];

/** `new FdChannel(fd, onEvent)`: takes `fd` over once constructed (a failed constructor leaves it alone). */
export type FdChannelConstructor = new (fd: number, onEvent: (...event: FdChannelEvent) => void) => FdChannelHandle;

interface LoadResult {
  binding: Binding | null;
  reason: string | null;
}

let loaded: LoadResult | undefined;

/** loadAddon()'s reason when PLUGSOCK_DISABLE_ADDON=1 turned the addon off. */
export const DISABLED_BY_ENV = 'disabled by PLUGSOCK_DISABLE_ADDON=1';

/** Package root: dist/addon.js and src/addon.ts both sit one level below it. */
export const packageRoot = join(__dirname, '..');

export function loadAddon(): LoadResult {
  if (loaded) return loaded;
  if (process.env.PLUGSOCK_DISABLE_ADDON === '1') {
    loaded = { binding: null, reason: DISABLED_BY_ENV };
    return loaded;
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => Binding;
    loaded = { binding: nodeGypBuild(packageRoot), reason: null };
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    loaded = { binding: null, reason: `native addon did not load: ${message}` };
  }
  return loaded;
}

/** The binding, or null in fallback mode. */
export function addon(): Binding | null {
  return loadAddon().binding;
}

let passRights: number | undefined;

/** socketProbePassRights()'s answer, asked once: 0 (no SO_PASSRIGHTS, or no addon), 1 or 2. */
function passRightsSupport(): number {
  if (passRights === undefined) {
    const binding = addon();
    try {
      const answer = binding?.socketProbePassRights();
      passRights = answer === true ? 1 : typeof answer === 'number' ? answer : 0;
    } catch {
      passRights = 0;
    }
  }
  return passRights;
}

/**
 * Whether connections that are not fdPassing refuse passed fds here (SO_PASSRIGHTS off: Linux
 * 6.16+ with the addon), so a peer cannot park descriptors in them. Asked once.
 */
export function refusesPassedFds(): boolean {
  return passRightsSupport() >= 1;
}

/**
 * Whether a connection accepted here takes its listener's SO_PASSRIGHTS (Linux 6.16+), so a
 * listener set once sets every connection it accepts. Asked once, by trying it.
 */
export function acceptInheritsPassRights(): boolean {
  return passRightsSupport() === 2;
}
