/**
 * Plugin side: the plugin's watch on its host. Chooses who may connect (by default the host
 * pinned in host-pin.ts), admits the first connection as the host, says every refused connection
 * in go-plugin's log format so the host logs it, and stops the plugin when no admitted host
 * connects in time or the host is gone.
 */
import { capabilities } from '../capabilities';
import { ErrorCodes, TransportError, nativeRequired } from '../errors';
import type { PeerCredentials, PeerPolicy } from '../peer';
import type { PeerSocket } from '../transport';
import { GoPluginErrorCodes, type GoPluginErrorCode } from './errors';
import { PinnedHost, type HostPolicy } from './host-pin';
import { formatLogLine, type PluginLogger } from './log';
import { isAncestorOf } from './proc';

/** Refused connections logged one by one before the rest are only counted. */
const MAX_REFUSAL_LINES = 20;
/** How often the plugin looks whether its host still runs. */
const HOST_CHECK_INTERVAL_MS = 1000;

/** Debug mode's default policy: the user the plugin runs as (the socket's owner). */
const SAME_USER: PeerPolicy = Object.freeze({ sameUser: true });

/** What the watch stops when the host fails it. */
export interface Stoppable {
  readonly stopping: boolean;
  /** Stops the plugin because of `err`. */
  fail(err: TransportError): void;
}

export interface HostWatchOptions {
  host?: HostPolicy;
  peer?: PeerPolicy | null;
  hostConnectTimeoutMs?: number;
  /** Debug mode: no parent to pin; by default only this process's user may connect. */
  debug?: boolean;
}

export class HostWatch {
  readonly #pinned: PinnedHost | null;
  readonly #connectTimeoutMs: number;
  readonly #refusals = new WeakMap<object, string>();
  /** Who may connect: the pinned host (the default), the caller's policy, or null (anyone). */
  readonly peer: PeerPolicy | null;
  #connected = false;
  #refusedCount = 0;
  #connectTimer: NodeJS.Timeout | null = null;
  #goneCheck: NodeJS.Timeout | null = null;

  private constructor(pinned: PinnedHost | null, peer: PeerPolicy | null | undefined, connectTimeoutMs: number) {
    this.#pinned = pinned;
    this.#connectTimeoutMs = connectTimeoutMs;
    this.peer =
      peer !== undefined
        ? peer
        : pinned
          ? {
              verify: (cred) => {
                const why = pinned.rejection(cred.pid);
                if (why !== null) this.#refusals.set(cred, why);
                return why === null;
              },
            }
          : SAME_USER;
  }

  /**
   * Checks servePlugin's `host`, `peer` and `hostConnectTimeoutMs` and pins the host. The default
   * policy (the host, pinned; in debug mode the plugin's own user) is a security boundary: it
   * fails closed without the addon.
   */
  static resolve(options: HostWatchOptions): HostWatch {
    if (options.host !== undefined && options.peer !== undefined) {
      throw new TransportError(
        ErrorCodes.INVALID_OPTION,
        'servePlugin: `host` chooses the default peer policy and `peer` replaces it; give one of them (put extra checks in peer.verify).',
      );
    }
    if (options.debug && options.host !== undefined) {
      throw new TransportError(
        ErrorCodes.INVALID_OPTION,
        'servePlugin: in debug mode no host launched the plugin, so there is no `host` to pin; restrict who may connect with `peer` (default: your own user).',
      );
    }
    const hostPolicy = options.host ?? 'parent';
    if (hostPolicy !== 'parent' && hostPolicy !== 'ancestors') {
      throw new TransportError(ErrorCodes.INVALID_OPTION, `servePlugin: host must be 'parent' or 'ancestors', got ${JSON.stringify(hostPolicy)}.`);
    }
    // Debug mode waits for hosts as long as it runs (go-plugin's test mode has no limit either).
    const timeoutMs = options.hostConnectTimeoutMs ?? (options.debug ? 0 : 60000);
    if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0 || timeoutMs > 2 ** 31 - 1) {
      throw new TransportError(
        ErrorCodes.INVALID_OPTION,
        `servePlugin: hostConnectTimeoutMs must be a number of ms from 0 (no limit) to 2147483647, got ${String(timeoutMs)}.`,
      );
    }
    // Pinned now, before the socket exists: a connection from a pinned pid can only be that process.
    const pinned = options.peer === undefined && !options.debug ? PinnedHost.pin(hostPolicy) : null;
    if (options.peer === undefined && !options.debug && !pinned) {
      throw new TransportError(
        ErrorCodes.INVALID_OPTION,
        hostPolicy === 'ancestors'
          ? "servePlugin: host: 'ancestors' needs /proc to pin the parent's ancestors by start time; use the default host: 'parent' (and exec the plugin from any wrapper)."
          : `servePlugin: this process has no parent to serve (ppid ${process.ppid}); pass a peer policy.`,
      );
    }
    const watch = new HostWatch(pinned, options.peer, timeoutMs);
    if (watch.peer && !capabilities().native) {
      const which =
        options.peer !== undefined ? 'peer policy' : options.debug ? 'default same-user peer policy (debug mode)' : 'default parent-only peer policy';
      // Thrown even with ownProcess: the caller decides; uncaught, the process dies with this
      // message on stderr before any handshake, which a host reports with the stderr tail.
      throw nativeRequired(`servePlugin refuses to serve: its ${which}`, {
        instead: 'pass `peer: null` to serve without peer checks (any process the socket mode lets in may connect)',
      });
    }
    return watch;
  }

  /** An admitted connection: the first one is the host's. */
  connected(socket: PeerSocket): void {
    if (this.#connected) return;
    this.#connected = true;
    if (this.#connectTimer) clearTimeout(this.#connectTimer);
    if (this.#pinned && socket.peer) this.#pinned.admitted(socket.peer.pid);
  }

  /**
   * A refused connection is said at once, in go-plugin's log format, so the host logs it; a
   * flood of them is cut after a few lines.
   */
  refused(cred: PeerCredentials | null, reason: string, socketPath: string, log: PluginLogger): void {
    this.#refusedCount++;
    if (this.#refusedCount > MAX_REFUSAL_LINES) {
      if (this.#refusedCount === MAX_REFUSAL_LINES + 1) log.error('plugsock: further refused connections to the plugin socket are not logged');
      return;
    }
    const why = (cred && this.#refusals.get(cred)) ?? reason;
    const pinned = this.#pinned;
    let hint = '';
    if (pinned && cred && pinned.policy === 'parent' && !pinned.host && isAncestorOf(cred.pid, pinned.pins[0]!.pid)) {
      hint =
        `; it is an ancestor of the plugin's parent (pid ${pinned.pins[0]!.pid}): the host seems to start the plugin through a wrapper` +
        " that does not exec it; end the wrapper with `exec`, or serve with host: 'ancestors'";
    }
    const who = cred ? `pid ${cred.pid} (uid ${cred.uid})` : 'a process that is already gone';
    // No final full stop: go-plugin's host prints the fields after the message (`msg: k=v`).
    log.error(`plugsock: refused a connection to the plugin socket from ${who}: ${why}${hint}`, {
      ...(cred ? { peer_pid: cred.pid, peer_uid: cred.uid } : {}),
      socket: socketPath,
    });
  }

  /** After the handshake: the host has hostConnectTimeoutMs to connect; the plugin stops when its host is gone. */
  start(log: PluginLogger, plugin: Stoppable): void {
    const stopOnOwn = (code: GoPluginErrorCode, message: string) => {
      if (plugin.stopping) return;
      log.error(message);
      plugin.fail(new TransportError(code, message));
    };
    if (this.#connectTimeoutMs > 0 && !this.#connected) {
      this.#connectTimer = setTimeout(() => {
        if (this.#connected) return;
        const n = this.#refusedCount;
        const refusedNote = n ? ` (${n} connection${n === 1 ? '' : 's'} refused, see above)` : '';
        stopOnOwn(
          GoPluginErrorCodes.HOST_TIMEOUT,
          `plugsock: no admitted host connected to the plugin socket within ${this.#connectTimeoutMs} ms${refusedNote}; the plugin exits`,
        );
      }, this.#connectTimeoutMs);
      this.#connectTimer.unref();
    }
    const pinned = this.#pinned;
    if (pinned) {
      this.#goneCheck = setInterval(() => {
        const gone = pinned.gone();
        if (gone) {
          stopOnOwn(GoPluginErrorCodes.HOST_GONE, `plugsock: the plugin's host (pid ${gone.pid}) has exited; the plugin stops serving and exits`);
        }
      }, HOST_CHECK_INTERVAL_MS);
      this.#goneCheck.unref();
    }
  }

  stop(): void {
    if (this.#connectTimer) clearTimeout(this.#connectTimer);
    if (this.#goneCheck) clearInterval(this.#goneCheck);
  }
}

/**
 * One hclog JSON line with `@module` plugsock (kept for callers of the earlier API; new code uses
 * createPluginLogger / formatLogLine from ./log, with microsecond timestamps like this).
 */
export function goPluginLogLine(level: 'error' | 'warn' | 'info', message: string, fields: Record<string, string | number> = {}): string {
  return formatLogLine(level, message, fields, 'plugsock');
}
