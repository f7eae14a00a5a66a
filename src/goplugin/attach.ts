/**
 * Host side: attach to a plugin that is already running (go-plugin's `ClientConfig.Reattach`),
 * typically one served in debug mode and started by hand, given its ReattachConfig. Nothing is
 * launched, so nothing is ours to kill: kill() ends our connection (and by default, for a config
 * that is not `Test`, asks the plugin to shut down), never signals a process.
 */
import type * as grpc from '@grpc/grpc-js';
import { ErrorCodes, TransportError } from '../errors';
import { checkOptionKeys, optionKeys } from '../options';
import { abortError, checkSignal, isAbortError } from './abort';
import type { ChildExit } from './child-process';
import { GoPluginErrorCodes } from './errors';
import type { Handshake } from './handshake';
import { peerCheck } from './launch';
import { PluginConnection } from './plugin-connection';
import { ping, pluginProcess, type PluginProcess } from './plugin-process';
import { goPluginServices } from './proto';
import { isRunning, processId, type ProcessId } from './proc';
import { checkReattachConfig, type ReattachConfig } from './reattach';

/** How often an attached plugin's process is looked at, to settle `exited`. */
const EXIT_POLL_MS = 1000;
/** How long attachPlugin waits for the plugin's health check. */
const ATTACH_PING_MS = 5000;

/** Options of `attachPlugin(reattachConfig, options)`; unknown keys are ERR_INVALID_OPTION. */
export interface AttachPluginOptions {
  /** App versions this host speaks; the config's ProtocolVersion must be one of them. Default: any. */
  versions?: readonly number[];
  /**
   * Check that every connection to the socket is served by exactly the config's `Pid`
   * (SO_PEERCRED). Default true when the native addon is loaded; true without it throws.
   */
  verifyPeer?: boolean;
  /** Extra grpc-js channel options (message sizes default to 256 MiB each way, as startPlugin). */
  channelOptions?: grpc.ChannelOptions;
  /** Receives what the plugin sends over GRPCStdio (see StartPluginOptions.onStdio). */
  onStdio?: (channel: 'stdout' | 'stderr', data: Buffer) => void;
  /**
   * Whether kill() sends go-plugin's Shutdown RPC before closing the connection. Default: when
   * the config is not `Test`, as go-plugin's Kill() does; a `Test` (debug mode) plugin ends
   * itself and go-plugin's Kill() leaves it alone. kill() never sends a signal either way: the
   * process is not ours, and its pid may have been reused since the config was written.
   */
  shutdown?: boolean;
  /** How long kill() waits for the Shutdown RPC's answer and then for the process to exit. Default 2000. */
  killGraceMs?: number;
  /**
   * Cancels the attach (connecting, the peer check, the health check): attachPlugin rejects at
   * once with an `AbortError` (name `AbortError`, code `ABORT_ERR`, `cause` the signal's reason),
   * its connection closed; the plugin's process is not ours and is left alone. Already aborted:
   * rejects before any system call. After attachPlugin resolved, aborting does nothing.
   */
  signal?: AbortSignal;
}

/** Every key of `AttachPluginOptions`; others are errors. */
export const ATTACH_PLUGIN_OPTION_KEYS = optionKeys<AttachPluginOptions>({
  versions: true,
  verifyPeer: true,
  channelOptions: true,
  onStdio: true,
  shutdown: true,
  killGraceMs: true,
  signal: true,
});

/**
 * Connects to a running go-plugin plugin described by `config` (what `served.reattachConfig`
 * or TF_REATTACH_PROVIDERS gives) and returns the same handle as startPlugin, once the socket's
 * server is verified to be the config's `Pid` and the plugin answered its health check. No
 * AutoMTLS (a reattach config carries no certificate). On the handle: `pid` is the config's;
 * `stderrTail()` is '' (its stderr is not ours); `exited` resolves `{ code: null, signal: null }`
 * when the process is seen gone (looked at once a second until kill(), after which it settles
 * only if the process ended within killGraceMs); kill() is described at `shutdown`.
 * Errors (TransportError): ERR_INVALID_OPTION (options or config), ERR_UNSUPPORTED_PROTOCOL
 * (netrpc, tcp), ERR_UNSUPPORTED_VERSION, ERR_PLUGIN_EXITED (no process with that pid),
 * ERR_PEER_MISMATCH (the socket is served by another process), the transport's connect errors,
 * ERR_PLUGIN_CALL (connected but no health answer, e.g. the plugin's peer policy refused us);
 * an AbortError when `options.signal` fires.
 */
export async function attachPlugin(config: ReattachConfig, options: AttachPluginOptions = {}): Promise<PluginProcess> {
  checkOptionKeys(options, ATTACH_PLUGIN_OPTION_KEYS, '');
  const c = checkReattachConfig(config);
  const graceMs = checkGrace(options.killGraceMs);
  const signal = checkSignal(options.signal, 'attachPlugin');
  const address = c.Addr.String;
  const what = `plugin pid ${c.Pid} (${address})`;
  if (c.Protocol !== 'grpc' || c.Addr.Network !== 'unix') {
    throw new TransportError(
      GoPluginErrorCodes.UNSUPPORTED_PROTOCOL,
      `attachPlugin: ${what} serves ${c.Protocol} over ${c.Addr.Network}; plugsock speaks grpc over unix sockets only.`,
    );
  }
  if (options.versions && !options.versions.includes(c.ProtocolVersion)) {
    throw new TransportError(
      GoPluginErrorCodes.UNSUPPORTED_VERSION,
      `Incompatible API version with plugin: ${what} serves version ${c.ProtocolVersion}, this host supports ${options.versions.join(', ')}.`,
    );
  }
  const verifyPeer = peerCheck(options.verifyPeer, 'attachPlugin', 'the reattach config');
  if (signal?.aborted) throw abortError(signal, `attachPlugin to ${what}`);
  const pinned = processId(c.Pid);
  if (pinned === null && !pidExists(c.Pid)) {
    throw new TransportError(GoPluginErrorCodes.PLUGIN_EXITED, `attachPlugin: no process with pid ${c.Pid} runs: ${what} has exited.`);
  }
  const connection = await PluginConnection.open({ pid: c.Pid, isOwn: (pid) => pid === c.Pid }, address, {
    what,
    source: 'the reattach config',
    verifyPeer,
    tls: null,
    channelOptions: options.channelOptions,
    signal,
  }).catch((err: unknown) => {
    throw isAbortError(err) ? abortError(signal!, `attachPlugin to ${what}`) : err;
  });
  const watch = watchExit(c.Pid, pinned);
  const handshake: Handshake = {
    coreVersion: 1,
    appVersion: c.ProtocolVersion,
    network: 'unix',
    address,
    protocol: 'grpc',
    serverCert: null,
    multiplex: null,
  };
  const sendShutdown = options.shutdown ?? !c.Test;
  const plugin = pluginProcess({
    what,
    pid: c.Pid,
    handshake,
    connection,
    exited: watch.exited,
    stderrTail: () => '',
    async end(shutdown) {
      if (sendShutdown) {
        await shutdown(graceMs);
        await watch.waitExit(graceMs);
      }
      watch.stop();
      await connection.close();
    },
    onStdio: options.onStdio,
  });
  try {
    await ping(plugin.client(goPluginServices().health), what, ATTACH_PING_MS, signal);
  } catch (err) {
    watch.stop();
    await connection.close();
    if (signal?.aborted) throw abortError(signal, `attachPlugin to ${what}`);
    const e = err as TransportError;
    throw new TransportError(
      e.code ?? GoPluginErrorCodes.PLUGIN_CALL,
      `attachPlugin: ${e.message} (a plugin in debug mode admits only its own user by default; its stderr says when it refused a connection).`,
      { cause: err },
    );
  }
  return plugin;
}

function checkGrace(ms: number | undefined): number {
  const v = ms ?? 2000;
  if (!Number.isSafeInteger(v) || v < 0 || v > 2 ** 31 - 1) {
    throw new TransportError(ErrorCodes.INVALID_OPTION, `attachPlugin: killGraceMs must be an integer number of ms from 0 to 2147483647, got ${String(ms)}.`);
  }
  return v;
}

/** Whether a process with this pid exists (kill(pid, 0); EPERM: it does, as another user). */
function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Looks at the attached process (pinned by start time where /proc tells it, else by pid) until
 * stop(); `exited` resolves when it is gone.
 */
function watchExit(pid: number, pinned: ProcessId | null) {
  let resolveExited!: (e: ChildExit) => void;
  const exited = new Promise<ChildExit>((res) => {
    resolveExited = res;
  });
  let gone = false;
  const check = () => {
    if (!gone && !(pinned ? isRunning(pinned) : pidExists(pid))) {
      gone = true;
      clearInterval(timer);
      resolveExited({ code: null, signal: null });
    }
    return gone;
  };
  const timer = setInterval(check, EXIT_POLL_MS);
  timer.unref();
  return {
    exited,
    stop: () => clearInterval(timer),
    /** Looks more often for a while (after a Shutdown RPC): resolves once gone or after `ms`. */
    async waitExit(ms: number): Promise<void> {
      const until = Date.now() + ms;
      while (!check() && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
    },
  };
}
