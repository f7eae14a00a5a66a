/**
 * Host side: launch a go-plugin plugin (Go or Node), read and validate its handshake, verify
 * who serves the socket, and hand out grpc-js clients whose every connection is verified.
 */
import type * as grpc from '@grpc/grpc-js';
import { capabilities } from '../capabilities';
import { channels, type PluginStartMessage } from '../diagnostics';
import { type AbortError, ErrorCodes, TransportError, nativeRequired } from '../errors';
import { checkOptionKeys, optionKeys } from '../options';
import { abortError, checkSignal, isAbortError } from './abort';
import { PluginChild } from './child-process';
import { pluginProcessEnv } from './env';
import { GoPluginErrorCodes } from './errors';
import { generateAutoMtlsCert, type AutoMtlsCert } from './mtls';
import { PluginConnection } from './plugin-connection';
import { readHandshake } from './plugin-handshake';
import { pluginProcess, type PluginProcess } from './plugin-process';
import { PluginSocketDir } from './socket-dir';

/** Options of `startPlugin(options)`; unknown keys are ERR_INVALID_OPTION. */
export interface StartPluginOptions {
  /** The plugin executable. */
  command: string;
  /** Its arguments. */
  args?: readonly string[];
  /** Its working directory (default: this process's). */
  cwd?: string;
  /** Base environment (default `process.env`); the go-plugin variables are added on top. */
  env?: NodeJS.ProcessEnv;
  /** The magic cookie's variable name, as the plugin expects it (a UX check, not security). */
  magicCookieKey: string;
  /** The magic cookie's value. */
  magicCookieValue: string;
  /** App protocol versions this host speaks (PLUGIN_PROTOCOL_VERSIONS). Default [1]. */
  versions?: readonly number[];
  /**
   * How long the start may take, in ms (1 to 2147483647): the handshake line, then the first
   * connection (peer check and, with AutoMTLS, the TLS handshake) in what is left of it. Past it
   * startPlugin rejects with ERR_HANDSHAKE_TIMEOUT and the plugin is killed. Default 60000
   * (go-plugin's StartTimeout, which bounds its handshake line).
   */
  startTimeoutMs?: number;
  /** How long kill() waits after the Shutdown RPC before SIGKILL: 0 to 2³¹−1 ms, default 2000 (as go-plugin). */
  killGraceMs?: number;
  /**
   * Directory passed as PLUGIN_UNIX_SOCKET_DIR. Default: a fresh private (0700) directory that
   * kill() removes with the plugin's socket. A directory given here is only opened: kill() removes
   * the plugin's socket there only when the native addon confirmed, while the plugin ran, that
   * the plugin served it, and only once it is dead. `false`: do not set it (the plugin picks,
   * e.g. go-plugin < 1.5 uses $TMPDIR) and remove nothing. A socket outside this directory is
   * never removed, whatever the handshake names.
   */
  socketDir?: string | false;
  /** PLUGIN_UNIX_SOCKET_GROUP: a group name or gid. */
  socketGroup?: string | number;
  /**
   * Check that the socket is served by the spawned process or one of its descendants
   * (SO_PEERCRED). Default true when the native addon is loaded; true without it throws.
   */
  verifyPeer?: boolean;
  /** Receives the plugin's stderr as it arrives (a tail is always kept for error messages). */
  onStderr?: (chunk: Buffer) => void;
  /** Receives stdout after the handshake line (go-plugin hosts drain and discard it). */
  onStdout?: (chunk: Buffer) => void;
  /**
   * Extra grpc-js channel options. The largest message received and sent defaults to 256 MiB
   * each way (`grpc.max_receive_message_length`, `grpc.max_send_message_length`, as Terraform's
   * provider client; grpc-js alone receives 4 MiB); set them here to change that.
   */
  channelOptions?: grpc.ChannelOptions;
  /**
   * go-plugin AutoMTLS, as Terraform uses it (default false, as go-plugin): generate a
   * certificate, pass it in PLUGIN_CLIENT_CERT, require the plugin's certificate in the
   * handshake (else ERR_HANDSHAKE_INVALID) and talk mutual TLS pinned to exactly that
   * certificate on every connection (ERR_TLS_PEER otherwise).
   */
  autoMTLS?: boolean;
  /**
   * Receives what the plugin writes to its stdout/stderr through go-plugin's GRPCStdio stream
   * (go-plugin >= 1.3, and plugsock's servePlugin). When given, the stream is opened right after
   * connecting, as go-plugin's host does (then `streamStdio()` cannot be called again). A plugin
   * without the service is tolerated (go-plugin only logs).
   */
  onStdio?: (channel: 'stdout' | 'stderr', data: Buffer) => void;
  /**
   * Cancels the start: startPlugin rejects with an `AbortError` (name `AbortError`, code
   * `ABORT_ERR`, `cause` the signal's reason, as Node's own APIs) as soon as the plugin is
   * killed and reaped and its socket directory removed (milliseconds). Already aborted: rejects
   * before anything is spawned. Once startPlugin has resolved the signal is no longer listened
   * to and aborting does nothing: end the plugin with `kill()`.
   */
  signal?: AbortSignal;
}

/** Every key of `StartPluginOptions` (a missing one does not compile); others are errors. */
export const START_PLUGIN_OPTION_KEYS = optionKeys<StartPluginOptions>({
  command: true,
  args: true,
  cwd: true,
  env: true,
  magicCookieKey: true,
  magicCookieValue: true,
  versions: true,
  startTimeoutMs: true,
  killGraceMs: true,
  socketDir: true,
  socketGroup: true,
  verifyPeer: true,
  onStderr: true,
  onStdout: true,
  channelOptions: true,
  autoMTLS: true,
  onStdio: true,
  signal: true,
});

/**
 * Starts a go-plugin plugin and returns once its handshake is validated and (by default) its
 * socket's peer is verified. Errors (all `TransportError`, with the stderr tail in the message):
 * ERR_INVALID_OPTION, ERR_PLUGIN_EXITED, ERR_HANDSHAKE_TIMEOUT (no handshake line, or no complete
 * first connection, within startTimeoutMs), ERR_HANDSHAKE_INVALID, ERR_UNSUPPORTED_VERSION,
 * ERR_UNSUPPORTED_PROTOCOL, ERR_PEER_MISMATCH; an AbortError when `options.signal` fires.
 * Publishes `plugsock:plugin-start` (diagnostics_channel) when it resolves.
 */
export async function startPlugin(options: StartPluginOptions): Promise<PluginProcess> {
  checkOptionKeys(options, START_PLUGIN_OPTION_KEYS, '');
  const signal = checkSignal(options.signal, 'startPlugin');
  if (signal?.aborted) throw abortError(signal, `startPlugin of plugin ${options.command}`);
  const startTimeoutMs = checkDelay('startTimeoutMs', options.startTimeoutMs, 60000, 1);
  const graceMs = checkDelay('killGraceMs', options.killGraceMs, 2000, 0);
  const versions = options.versions ?? [1];
  const verifyPeer = peerCheck(options.verifyPeer);
  // AutoMTLS: our certificate goes to the plugin; the plugin's comes back in the handshake.
  const mtlsCert = options.autoMTLS ? generateAutoMtlsCert() : null;
  const what = `plugin ${options.command}`;
  // The only directory whose sockets are ever removed; its fd is held until kill() or failure.
  const sockets = PluginSocketDir.open(options.socketDir, options.cwd);
  const child = spawnPlugin(options, what, versions, sockets, mtlsCert);
  const spawnedAt = performance.now();
  try {
    const { handshake, tls } = await readHandshake(child, {
      what,
      versions,
      startTimeoutMs,
      mtlsCert,
      onStdout: options.onStdout,
      signal,
    });
    const durationMs = performance.now() - spawnedAt;
    const server = { pid: child.pid!, isOwn: (pid: number) => child.isOwn(pid), pinServer: (pid: number) => child.pinServer(pid) };
    // The first connection gets what is left of the start's time: a plugin that accepts and
    // never answers the TLS handshake is a start that does not end, like a missing line.
    const leftMs = Math.max(0, Math.ceil(startTimeoutMs - (performance.now() - spawnedAt)));
    const connection = await PluginConnection.open(server, handshake.address, {
      what,
      source: `the handshake of ${what}`,
      verifyPeer,
      tls,
      channelOptions: options.channelOptions,
      signal,
      timeLimit: { ms: leftMs, name: `startTimeoutMs (${startTimeoutMs} ms; ${leftMs} ms of it were left after the handshake line)` },
    });
    if (signal?.aborted) {
      // Aborted in the moment between the probe and here: the start is not complete yet.
      await connection.close();
      throw abortError(signal, `startPlugin of ${what}`);
    }
    // In the caller's socketDir, what kill() may remove: the socket the child is seen to serve.
    sockets.confirm(handshake.address, child.isOwn);
    if (channels.pluginStart.hasSubscribers) publishStart(options, child.pid!, handshake.appVersion, handshake.address, tls !== null, durationMs);
    return pluginProcess({
      what,
      pid: child.pid!,
      handshake,
      connection,
      exited: child.exited,
      stderrTail: () => child.stderr.text(),
      end: (shutdown) => endLaunched(child, sockets, connection, shutdown, graceMs),
      onStdio: options.onStdio,
    });
  } catch (err) {
    return failed(child, sockets, isAbortError(err) ? abortError(signal!, `startPlugin of ${what}`) : (err as TransportError));
  }
}

/**
 * kill() of a launched plugin: Shutdown RPC, `graceMs` for it to exit, then SIGKILL to its
 * group; then whatever is left of it (a wrapper's children, a server that left the group), the
 * channel, and what it left in the socket directory.
 */
async function endLaunched(
  child: PluginChild,
  sockets: PluginSocketDir,
  connection: PluginConnection,
  shutdown: (timeoutMs: number) => Promise<void>,
  graceMs: number,
): Promise<void> {
  if (child.running) {
    await shutdown(graceMs);
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([child.exited, new Promise<null>((res) => (timer = setTimeout(() => res(null), graceMs)))]);
    // An exit before the grace ends must not leave the timer holding the host's event loop.
    clearTimeout(timer);
    if (!r) {
      child.killAll();
      await child.exited;
    }
  }
  await child.end();
  await connection.close();
  // A plugin killed (or crashed) leaves its socket behind; the directory decides what goes.
  sockets.release();
}

/** A delay option, checked before anything is spawned: a setTimeout delay (a larger one would fire at once). */
function checkDelay(name: string, ms: number | undefined, fallback: number, min: number): number {
  const v = ms ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > 2 ** 31 - 1) {
    throw new TransportError(ErrorCodes.INVALID_OPTION, `startPlugin: ${name} must be a number of ms from ${min} to 2147483647, got ${String(ms)}.`);
  }
  return v;
}

/** Whether to verify the plugin's socket's peer: by default when the addon can. */
export function peerCheck(verifyPeer: boolean | undefined, caller = 'startPlugin', source = 'the handshake'): boolean {
  const native = capabilities().native;
  if ((verifyPeer ?? native) && !native) {
    throw nativeRequired(`${caller}: verifyPeer`, { instead: `pass verifyPeer: false to trust whichever process serves the socket in ${source}` });
  }
  return verifyPeer ?? native;
}

/** Spawns the plugin with its go-plugin environment; on failure removes the socket directory. */
function spawnPlugin(
  options: StartPluginOptions,
  what: string,
  versions: readonly number[],
  sockets: PluginSocketDir,
  mtlsCert: AutoMtlsCert | null,
): PluginChild {
  try {
    const env = pluginProcessEnv(options.env, {
      magicCookieKey: options.magicCookieKey,
      magicCookieValue: options.magicCookieValue,
      versions,
      ...(sockets.path ? { unixSocketDir: sockets.path } : {}),
      ...(options.socketGroup !== undefined ? { unixSocketGroup: options.socketGroup } : {}),
      ...(mtlsCert ? { clientCert: mtlsCert.certPem } : {}),
    });
    const { command, args, cwd, onStderr } = options;
    return new PluginChild({ command, args, cwd, env, onStderr }, () => sockets.release());
  } catch (err) {
    sockets.release();
    if (err instanceof TransportError) throw err;
    throw new TransportError(GoPluginErrorCodes.PLUGIN_EXITED, `Could not start ${what}: ${(err as Error).message}.`, { cause: err });
  }
}

/** `plugsock:plugin-start` (see PluginStartMessage). */
function publishStart(o: StartPluginOptions, pid: number, appVersion: number, address: string, tls: boolean, durationMs: number): void {
  const message: PluginStartMessage = { command: o.command, args: [...(o.args ?? [])], pid, appVersion, address, tls, durationMs };
  channels.pluginStart.publish(message);
}

/**
 * Ends a plugin whose start failed, removes what it left, and throws why, with its stderr. An
 * aborted start throws its AbortError as it is, without waiting for the stderr's last words.
 */
async function failed(child: PluginChild, sockets: PluginSocketDir, err: TransportError | AbortError): Promise<never> {
  // Only a running child can show which socket is its own: ask before killing it.
  if (child.announced !== null) sockets.confirm(child.announced, child.isOwn);
  await child.end();
  if (isAbortError(err)) {
    sockets.release();
    throw err;
  }
  const full = await child.stderr.appendTo(err.message);
  sockets.release();
  throw new TransportError(err.code, full, err.cause === undefined ? {} : { cause: err.cause });
}
