/**
 * Who is on the other end: peer credentials (SO_PEERCRED and friends) and the policy check
 * that runs before a connection is handed to the user.
 */
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import type { Binding } from './addon';
import { ErrorCodes, TransportError } from './errors';
import { checkOptionKeys, optionKeys } from './options';

/**
 * The process on the other end of a connection, as the kernel recorded it at
 * `connect()`/`listen()` time.
 *
 * A pid can be reused after its process exits. Where the kernel has `SO_PEERPIDFD`
 * (Linux 6.5+), `isAlive()` answers for the very process that connected, never for a newcomer
 * that got its pid, so `verify` can check `cred.pid` and then `cred.isAlive()`.
 */
export interface PeerCredentials {
  /** The peer's process id, as of its connect() (a client) or listen() (a server). */
  readonly pid: number;
  /** The peer's effective user id at that time. */
  readonly uid: number;
  /** The peer's effective group id at that time. */
  readonly gid: number;
  /**
   * Supplementary groups (SO_PEERGROUPS), or null where the kernel cannot say. Fetched on first
   * access and kept: read it while the connection is open (policies with `gids` do).
   */
  readonly groups: readonly number[] | null;
  /**
   * A pidfd for the peer process (SO_PEERPIDFD), opened on first access and closed with the
   * socket; null where the kernel lacks it or the socket is closed. Do not close it yourself.
   */
  readonly pidfd: number | null;
  /**
   * Whether the process that made the connection still runs. Immune to pid reuse where
   * `SO_PEERPIDFD` exists; elsewhere returns null (cannot tell).
   */
  isAlive(): boolean | null;
  /** The peer's command line from /proc (best effort, '' when unreadable). */
  commandLine(): string;
}

/**
 * Which peers may connect. Every field given must match (they are ANDed).
 */
export interface PeerPolicy {
  /** Allowed user ids. */
  uids?: readonly number[];
  /** Allowed group ids: the peer's primary group or any of its supplementary groups. */
  gids?: readonly number[];
  /** Allowed process ids (see the pid-reuse note on `PeerCredentials`). */
  pids?: readonly number[];
  /** Only the user this process runs as. */
  sameUser?: boolean;
  /** A last word, may be async: return true to accept. A throw rejects. */
  verify?: (cred: PeerCredentials) => boolean | Promise<boolean>;
}

/** Every key of `PeerPolicy` (a key missing here does not compile); any other key is an error. */
export const PEER_POLICY_KEYS = optionKeys<PeerPolicy>({ uids: true, gids: true, pids: true, sameUser: true, verify: true });

const scratch = new Int32Array(3);

/**
 * What a lazily read Peer asks to know whether its fd is still the connection's: a net.Socket
 * drops its `_handle` in destroy(), in the same tick as it closes the fd. (Its `'close'`
 * event, and so `release()`, comes a tick later, when the fd number may already be another
 * connection's.)
 */
export type PeerHolder = Socket;

/**
 * Credentials bound to one open socket fd. pid, uid and gid are read when the Peer is made
 * (`read`: as the addon has just read them), or, for a connection without a peer policy, on
 * first access (`holder`): a connection nobody asks about costs no system call. Groups and the
 * pidfd are always fetched on first access.
 */
export class Peer implements PeerCredentials {
  /** -1 until read (a pid is never negative): then pid, uid and gid are read on first access. */
  #pid = 0;
  #uid = 0;
  #gid = 0;
  /** The net.Socket whose fd this is (its open state is checked before each read), or null. */
  #holder: PeerHolder | null;
  #groups: readonly number[] | null | undefined;
  #pidfd: number | null | undefined;
  /** The connection's fd; -1 once it has closed (release()). */
  #fd: number;
  #binding: Binding;

  /**
   * `read`: pid, uid and gid as the addon has just read them (connectionSetUp); else, with a
   * `holder`, read on first access; else read here. `holder`: the net.Socket that owns `fd`,
   * asked before every later read whether `fd` is still its own.
   */
  constructor(binding: Binding, fd: number, read?: Int32Array | null, holder?: PeerHolder) {
    this.#binding = binding;
    this.#fd = fd;
    this.#holder = holder ?? null;
    if (read) this.#take(read);
    else if (holder) this.#pid = -1;
    else this.#readNow();
  }

  /** The pid of the process on the other end (at connect()/listen() time). */
  get pid(): number {
    if (this.#pid === -1) this.#readLate();
    return this.#pid;
  }

  get uid(): number {
    if (this.#pid === -1) this.#readLate();
    return this.#uid;
  }

  get gid(): number {
    if (this.#pid === -1) this.#readLate();
    return this.#gid;
  }

  #take(read: Int32Array): void {
    this.#pid = read[0];
    this.#uid = read[1] >>> 0;
    this.#gid = read[2] >>> 0;
  }

  #readNow(): void {
    const binding = this.#binding;
    if (binding.peerCredInto) {
      // One getsockopt into a reused array: reading a connection allocates nothing here.
      binding.peerCredInto(this.#fd, scratch);
      this.#take(scratch);
    } else {
      const cred = binding.peerCred(this.#fd);
      this.#pid = cred.pid;
      this.#uid = cred.uid;
      this.#gid = cred.gid;
      this.#groups = cred.groups === null ? null : Object.freeze([...cred.groups]);
    }
  }

  /** First access of a lazily read Peer: read now, if the fd still is the connection's. */
  #readLate(): void {
    if (!this.#isOpen()) {
      throw new TransportError(
        ErrorCodes.TRANSPORT,
        "The connection closed before its peer's credentials were read: read socket.peer while the connection is open " +
          "(in the 'connection' handler, or before destroy()), or give the transport a peer policy, which reads them at once.",
      );
    }
    this.#readNow();
  }

  /** Whether #fd is still the connection's own (see PeerHolder). */
  #isOpen(): boolean {
    if (this.#fd === -1) return false;
    const holder = this.#holder;
    if (holder === null) return true;
    const handle = (holder as unknown as { _handle?: unknown })._handle;
    return handle !== null && handle !== undefined;
  }

  get groups(): readonly number[] | null {
    if (this.#groups === undefined) {
      if (!this.#isOpen() || !this.#binding.peerGroups) return null;
      let groups: number[] | null;
      try {
        groups = this.#binding.peerGroups(this.#fd);
      } catch {
        return null; // the connection is already gone
      }
      this.#groups = groups === null ? null : Object.freeze([...groups]);
    }
    return this.#groups;
  }

  get pidfd(): number | null {
    if (this.#pidfd === undefined) {
      if (!this.#isOpen()) return null;
      const fd = this.#binding.peerPidfd(this.#fd);
      this.#pidfd = fd >= 0 ? fd : null;
    }
    return this.#pidfd;
  }

  isAlive(): boolean | null {
    const pidfd = this.pidfd;
    return pidfd === null ? null : this.#binding.pidfdIsAlive(pidfd);
  }

  commandLine(): string {
    try {
      return readFileSync(`/proc/${this.pid}/cmdline`, 'utf8').replace(/\0+$/, '').split('\0').join(' ');
    } catch {
      return '';
    }
  }

  /** The connection moved to another fd (an fdPassing stream took it over, and reads it). */
  rebind(fd: number): void {
    if (this.#pid === -1) this.#readLate();
    this.#fd = fd;
    this.#holder = null;
  }

  /** Called when the socket closes: its fd number may be reused from now on. */
  release(): void {
    this.#fd = -1;
    if (typeof this.#pidfd === 'number') this.#binding.fdClose(this.#pidfd);
    this.#pidfd = null;
  }

  toJSON(): object {
    return { pid: this.pid, uid: this.uid, gid: this.gid, groups: this.groups };
  }
}

function checkIds(label: string, name: string, value: unknown): void {
  if (value === undefined) return;
  if (!Array.isArray(value) || !value.every((v) => Number.isInteger(v) && v >= 0)) {
    throw new TransportError(ErrorCodes.INVALID_OPTION, `${label}.${name} must be an array of non-negative integers.`);
  }
}

/**
 * Validates a policy up front, so a typo fails at construction rather than per connection:
 * unknown keys (`samUser`, `uid`), wrong types, and a policy that restricts nothing (`{}`, only
 * `undefined` fields, or only `sameUser: false`), which would admit everyone while looking like
 * a policy, all throw `ERR_INVALID_OPTION`. `label` is the policy's option path in messages
 * (`'peer'`, or `'handOffPeer'` for `takeOver()`).
 */
export function validatePolicy(policy: PeerPolicy | null | undefined, label = 'peer'): void {
  if (policy === undefined || policy === null) return;
  if (typeof policy !== 'object' || Array.isArray(policy)) {
    throw new TransportError(ErrorCodes.INVALID_OPTION, `${label} must be an object: { uids?, gids?, pids?, sameUser?, verify? }.`);
  }
  checkOptionKeys(policy, PEER_POLICY_KEYS, label);
  checkIds(label, 'uids', policy.uids);
  checkIds(label, 'gids', policy.gids);
  checkIds(label, 'pids', policy.pids);
  if (policy.sameUser !== undefined && typeof policy.sameUser !== 'boolean') {
    throw new TransportError(ErrorCodes.INVALID_OPTION, `${label}.sameUser must be a boolean.`);
  }
  if (policy.verify !== undefined && typeof policy.verify !== 'function') {
    throw new TransportError(ErrorCodes.INVALID_OPTION, `${label}.verify must be a function (cred) => boolean | Promise<boolean>.`);
  }
  if (policy.uids === undefined && policy.gids === undefined && policy.pids === undefined && policy.sameUser !== true && policy.verify === undefined) {
    throw new TransportError(
      ErrorCodes.INVALID_OPTION,
      `${label} is a policy that restricts nothing (${JSON.stringify(policy)}): it would admit every process that can reach ` +
        `the socket while looking like a check. Say who may connect, e.g. ${label}: { sameUser: true } or ` +
        `${label}: { uids: [1000] }, or leave ${label} out.`,
    );
  }
}

/**
 * The synchronous part of the policy. Returns why the peer is rejected, or null.
 */
export function staticRejection(policy: PeerPolicy, cred: PeerCredentials): string | null {
  if (policy.uids && !policy.uids.includes(cred.uid)) return `uid ${cred.uid} is not in the allowed uids [${policy.uids.join(', ')}]`;
  if (policy.gids) {
    const groups = [cred.gid, ...(cred.groups ?? [])];
    if (!groups.some((g) => policy.gids!.includes(g))) {
      return `none of the groups [${[...new Set(groups)].join(', ')}] is in the allowed gids [${policy.gids.join(', ')}]`;
    }
  }
  if (policy.pids && !policy.pids.includes(cred.pid)) return `pid ${cred.pid} is not in the allowed pids [${policy.pids.join(', ')}]`;
  if (policy.sameUser && typeof process.getuid === 'function' && cred.uid !== process.getuid()) {
    return `uid ${cred.uid} is not this process's user (${process.getuid()})`;
  }
  return null;
}

/**
 * Runs the whole policy. Resolves to the rejection reason, or null when the peer is accepted.
 * Synchronous policies settle without a timer, so a connection costs no extra event-loop turn.
 */
export function checkPeer(policy: PeerPolicy, cred: PeerCredentials): string | null | Promise<string | null> {
  const reason = staticRejection(policy, cred);
  if (reason !== null || !policy.verify) return reason;
  let verdict: boolean | Promise<boolean>;
  try {
    verdict = policy.verify(cred);
  } catch (err) {
    return `verify() threw: ${err instanceof Error ? err.message : String(err)}`;
  }
  if (verdict === true) return null;
  if (verdict === false || !(verdict instanceof Promise || (verdict && typeof (verdict as Promise<boolean>).then === 'function'))) {
    return 'verify() returned false';
  }
  return Promise.resolve(verdict).then(
    (ok) => (ok === true ? null : 'verify() returned false'),
    (err) => `verify() threw: ${err instanceof Error ? err.message : String(err)}`,
  );
}

export function peerRejectedError(reason: string, cred: PeerCredentials | null, path: string): TransportError {
  const who = cred ? `pid ${cred.pid}, uid ${cred.uid}, gid ${cred.gid}` : 'unknown peer';
  return new TransportError(
    ErrorCodes.PEER_REJECTED,
    `The server at ${path} (${who}) was rejected by the peer policy: ${reason}. ` + `Check that the expected process is listening there, or widen the policy.`,
    { path },
  );
}
