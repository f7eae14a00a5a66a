/**
 * Host side: the handle startPlugin (and attachPlugin) returns: clients on the verified channel,
 * go-plugin's Ping and stdio stream, and kill(), whose meaning the caller gives (startPlugin:
 * Shutdown RPC, then SIGKILL to what is left, then the leftovers in the socket directory;
 * attachPlugin: see attach.ts).
 */
import * as grpc from '@grpc/grpc-js';
import { TransportError } from '../errors';
import { abortError, onAbort } from './abort';
import type { ChildExit } from './child-process';
import { asyncDispose } from './dispose';
import { GoPluginErrorCodes } from './errors';
import type { Handshake } from './handshake';
import type { PluginConnection } from './plugin-connection';
import { HEALTH_SERVICE_NAME, goPluginServices } from './proto';
import { receiveStdio } from './stdio';

/** A running go-plugin plugin, as `startPlugin` and `attachPlugin` hand it out. */
export interface PluginProcess {
  /** The plugin's process id (attachPlugin: the reattach config's `Pid`). */
  readonly pid: number;
  /** The handshake line, parsed (attachPlugin: made from the reattach config). */
  readonly handshake: Handshake;
  /** The negotiated app protocol version. */
  readonly appVersion: number;
  /** Absolute socket path. */
  readonly address: string;
  /** grpc-js target for the socket, `unix:/abs/path`. */
  readonly target: string;
  /** Channel credentials whose connector verifies the peer of every connection grpc-js makes. */
  readonly credentials: grpc.ChannelCredentials;
  /** The shared channel. */
  readonly channel: grpc.Channel;
  /**
   * Builds a client of a service on the shared channel. Closing any such client (`close()`)
   * closes that channel: every client of this plugin (and ping, streamStdio) then fails with
   * "Channel has been shut down", and a new client cannot call either. kill() still ends the
   * plugin (it sends Shutdown on a channel of its own); leave clients open and call kill().
   */
  client<T extends grpc.Client = grpc.Client>(ctor: grpc.ServiceClientConstructor | (new (...a: any[]) => T)): T;
  /** Health check of service "plugin" (what go-plugin's Ping does). */
  ping(timeoutMs?: number): Promise<void>;
  /** Opens the plugin's GRPCStdio stream (only once per plugin); rejects when it lacks the service. */
  streamStdio(onData: (channel: 'stdout' | 'stderr', data: Buffer) => void): Promise<void>;
  /** The last bytes of the plugin's stderr ('' for an attached plugin: its stderr is not ours). */
  stderrTail(): string;
  /**
   * Settles when the process exited. For an attached plugin (attachPlugin) the exit status is
   * not ours to read: `{ code: null, signal: null }` once the process is seen gone.
   */
  readonly exited: Promise<{
    /** The exit status, or null when it ended by a signal (or is not ours to read). */
    code: number | null;
    /** The signal that ended it, or null. */
    signal: NodeJS.Signals | null;
  }>;
  /**
   * startPlugin: graceful Shutdown RPC, then SIGKILL after the grace period; removes what is
   * left. attachPlugin: never a signal (see AttachPluginOptions.shutdown). Idempotent.
   */
  kill(): Promise<void>;
  /**
   * kill(), for `await using p = await startPlugin(...)`: the plugin ends when the block is
   * left, however it is left.
   */
  [Symbol.asyncDispose](): Promise<void>;
  /** Whether the connection uses AutoMTLS. */
  readonly tls: boolean;
}

export interface PluginProcessParts {
  /** What the messages call the plugin: `plugin <command>`. */
  what: string;
  pid: number;
  handshake: Handshake;
  connection: PluginConnection;
  exited: Promise<ChildExit>;
  stderrTail(): string;
  /**
   * What kill() does, once; `shutdown(timeoutMs)` sends the Shutdown RPC and resolves when it
   * answered or failed or the time is up.
   */
  end(shutdown: (timeoutMs: number) => Promise<void>): Promise<void>;
  /** Opens the stdio stream at once, as go-plugin's host does (see StartPluginOptions.onStdio). */
  onStdio?: (channel: 'stdout' | 'stderr', data: Buffer) => void;
}

/** The handle of a plugin whose start (or attach) is complete. */
export function pluginProcess(p: PluginProcessParts): PluginProcess {
  const { what, connection } = p;
  const services = goPluginServices();
  const makeClient = <T extends grpc.Client>(ctor: any): T => connection.client<T>(ctor);
  let killing: Promise<void> | null = null;
  const shutdown = (timeoutMs: number) => callShutdown(connection, services.controller, timeoutMs);
  const kill = () => (killing ??= p.end(shutdown));
  const plugin: PluginProcess = {
    pid: p.pid,
    handshake: p.handshake,
    appVersion: p.handshake.appVersion,
    address: p.handshake.address,
    target: connection.target,
    credentials: connection.credentials,
    channel: connection.channel,
    client: makeClient,
    ping: (timeoutMs = 5000) => ping(makeClient(services.health), what, timeoutMs),
    streamStdio: (onData) => receiveStdio(makeClient(services.stdio), what, onData),
    stderrTail: p.stderrTail,
    exited: p.exited,
    kill,
    [asyncDispose]: kill,
    tls: connection.tls,
  };
  if (p.onStdio) {
    const onStdio = p.onStdio;
    plugin.streamStdio(onStdio).catch((err: TransportError) => {
      // go-plugin's host logs and goes on when the plugin has no stdio service.
      const cause = err.cause as grpc.ServiceError | undefined;
      if (cause?.code !== grpc.status.UNIMPLEMENTED) onStdio('stderr', Buffer.from(`plugsock: ${err.message}\n`));
    });
  }
  return plugin;
}

/**
 * go-plugin's Ping: the health of service "plugin". `signal` (attachPlugin's) cancels the call:
 * it then rejects with the AbortError, its deadline timer gone.
 */
export function ping(health: grpc.Client, what: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const failed = (err: Error) => new TransportError(GoPluginErrorCodes.PLUGIN_CALL, `Health check of ${what} failed: ${err.message}`, { cause: err });
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) return reject(abortError(signal, `the health check of ${what}`));
    let call: grpc.ClientUnaryCall | undefined;
    const aborting = onAbort(signal, () => call?.cancel());
    try {
      call = (health as any).Check({ service: HEALTH_SERVICE_NAME }, { deadline: Date.now() + timeoutMs }, (err: Error | null, res: any) => {
        aborting.dispose();
        if (signal?.aborted) reject(abortError(signal, `the health check of ${what}`));
        else if (err) reject(failed(err));
        else if (res?.status !== 'SERVING') reject(new TransportError(GoPluginErrorCodes.PLUGIN_CALL, `${what} reports ${res?.status} for service "plugin".`));
        else resolve();
      });
    } catch (err) {
      // A closed shared channel (a caller closed a client) throws instead of failing the call.
      aborting.dispose();
      reject(failed(err as Error));
    }
  });
}

/**
 * go-plugin's GRPCController.Shutdown; the answer does not matter (go-plugin ignores it too).
 * Never rejects, so kill() always goes on to end the process. A caller that closed a client has
 * closed the shared channel (grpc-js then throws on every call): Shutdown goes on a channel of
 * its own, closed after it, so the plugin still stops gracefully (its onShutdown hook runs).
 */
function callShutdown(connection: PluginConnection, ctor: grpc.ServiceClientConstructor, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    let controller: grpc.Client | null = null;
    const shared = connection.channel.getConnectivityState(false) !== grpc.connectivityState.SHUTDOWN;
    try {
      controller = shared ? connection.client(ctor) : new ctor(connection.target, connection.credentials);
      (controller as any).Shutdown({}, { deadline: Date.now() + timeoutMs }, () => {
        if (!shared) controller!.close();
        resolve();
      });
    } catch {
      // No call could start: the grace period and the kill that follow end the plugin.
      if (!shared) controller?.close();
      resolve();
    }
  });
}
