/**
 * Host side: the handle startPlugin returns for a started plugin: clients on the verified
 * channel, go-plugin's Ping and stdio stream, and kill() (Shutdown RPC, then SIGKILL to what is
 * left, then the leftovers in the socket directory).
 */
import * as grpc from '@grpc/grpc-js';
import { TransportError } from '../errors';
import type { PluginChild } from './child-process';
import { GoPluginErrorCodes } from './errors';
import type { Handshake } from './handshake';
import type { PluginConnection } from './plugin-connection';
import { HEALTH_SERVICE_NAME, goPluginServices } from './proto';
import type { PluginSocketDir } from './socket-dir';
import { receiveStdio } from './stdio';

export interface PluginProcess {
  readonly pid: number;
  readonly handshake: Handshake;
  readonly appVersion: number;
  /** Absolute socket path. */
  readonly address: string;
  /** grpc-js target for the socket, `unix:/abs/path`. */
  readonly target: string;
  /** Channel credentials whose connector verifies the peer of every connection grpc-js makes. */
  readonly credentials: grpc.ChannelCredentials;
  /** The shared channel. */
  readonly channel: grpc.Channel;
  /** Builds a client of a service on the shared channel. */
  client<T extends grpc.Client = grpc.Client>(ctor: grpc.ServiceClientConstructor | (new (...a: any[]) => T)): T;
  /** Health check of service "plugin" (what go-plugin's Ping does). */
  ping(timeoutMs?: number): Promise<void>;
  /** Opens the plugin's GRPCStdio stream (only once per plugin); rejects when it lacks the service. */
  streamStdio(onData: (channel: 'stdout' | 'stderr', data: Buffer) => void): Promise<void>;
  /** The last bytes of the plugin's stderr. */
  stderrTail(): string;
  /** Settles when the process exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Graceful Shutdown RPC, then SIGKILL after the grace period; removes what is left. Idempotent. */
  kill(): Promise<void>;
  /** Whether the connection uses AutoMTLS. */
  readonly tls: boolean;
}

export interface PluginProcessParts {
  /** What the messages call the plugin: `plugin <command>`. */
  what: string;
  child: PluginChild;
  sockets: PluginSocketDir;
  handshake: Handshake;
  connection: PluginConnection;
  /** How long kill() waits after the Shutdown RPC before SIGKILL. */
  killGraceMs: number;
  /** Opens the stdio stream at once, as go-plugin's host does (see StartPluginOptions.onStdio). */
  onStdio?: (channel: 'stdout' | 'stderr', data: Buffer) => void;
}

/** The handle of a plugin whose start is complete. */
export function pluginProcess(p: PluginProcessParts): PluginProcess {
  const { what, child, connection } = p;
  const services = goPluginServices();
  const makeClient = <T extends grpc.Client>(ctor: any): T => connection.client<T>(ctor);
  let killing: Promise<void> | null = null;
  const plugin: PluginProcess = {
    pid: child.pid!,
    handshake: p.handshake,
    appVersion: p.handshake.appVersion,
    address: p.handshake.address,
    target: connection.target,
    credentials: connection.credentials,
    channel: connection.channel,
    client: makeClient,
    ping: (timeoutMs = 5000) => ping(makeClient(services.health), what, timeoutMs),
    streamStdio: (onData) => receiveStdio(makeClient(services.stdio), what, onData),
    stderrTail: () => child.stderr.text(),
    exited: child.exited,
    kill: () => (killing ??= kill(p, () => makeClient(services.controller))),
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

/** go-plugin's Ping: the health of service "plugin". */
function ping(health: grpc.Client, what: string, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    (health as any).Check({ service: HEALTH_SERVICE_NAME }, { deadline: Date.now() + timeoutMs }, (err: Error | null, res: any) => {
      if (err) reject(new TransportError(GoPluginErrorCodes.PLUGIN_CALL, `Health check of ${what} failed: ${err.message}`, { cause: err }));
      else if (res?.status !== 'SERVING') reject(new TransportError(GoPluginErrorCodes.PLUGIN_CALL, `${what} reports ${res?.status} for service "plugin".`));
      else resolve();
    });
  });
}

async function kill(p: PluginProcessParts, controllerClient: () => grpc.Client): Promise<void> {
  const { child, killGraceMs: graceMs } = p;
  if (child.running) {
    const controller = controllerClient();
    await new Promise<void>((resolve) => {
      (controller as any).Shutdown({}, { deadline: Date.now() + graceMs }, () => resolve());
    });
    const r = await Promise.race([child.exited, new Promise<null>((res) => setTimeout(() => res(null), graceMs))]);
    if (!r) {
      child.killAll();
      await child.exited;
    }
  }
  // Whatever is left of the plugin (a wrapper's children, a server that left the group).
  await child.end();
  await p.connection.close();
  // A plugin killed (or crashed) leaves its socket behind; the directory decides what goes.
  p.sockets.release();
}
