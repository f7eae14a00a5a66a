/**
 * Plugin side: serve a go-plugin compatible gRPC plugin from Node over UnixSocketTransport.
 */
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ErrorCodes, TransportError } from '../errors';
import { checkOptionKeys, optionKeys } from '../options';
import type { PeerPolicy } from '../peer';
import { UnixSocketTransport, type PeerSocket } from '../transport';
import { Broker, type PluginBroker } from './broker';
import { MAGIC_COOKIE_MESSAGE, checkMagicCookie, negotiateVersion, readPluginEnv, resolveGroup, type PluginEnv } from './env';
import { GoPluginErrorCodes } from './errors';
import { buildHandshakeLine } from './handshake';
import type { HostPolicy } from './host-pin';
import { HostWatch, stderrLog } from './host-watch';
import { pluginMtls, type PluginMtls } from './mtls';
import type { ConnInfo } from './proto';
import { ServeLifetime, cannotServe } from './serve-lifetime';
import { addGoPluginServices } from './services';
import { StdioPump } from './stdio';

/** Registers the plugin's own services on the gRPC server for the negotiated version. */
export type RegisterServices = (server: grpc.Server, appVersion: number, context: { broker: PluginBroker }) => void | Promise<void>;

export interface ServePluginOptions {
  /** The host's magic cookie (go-plugin `HandshakeConfig.MagicCookieKey`/`Value`). */
  magicCookieKey: string;
  magicCookieValue: string;
  /**
   * The app protocol versions this plugin speaks, each with its services:
   * `{ 1: (server) => server.addService(...) }`. Alternatively `protocolVersion` + `register`.
   */
  versions?: Record<number, RegisterServices>;
  protocolVersion?: number;
  register?: RegisterServices;
  /**
   * Who may connect. Default: the host, as `host` says (the parent process, pinned at start).
   * A policy given here replaces that (and cannot be combined with `host`); `null`: anyone the
   * socket's mode lets in. Needs the native addon: without it servePlugin rejects with
   * ERR_NATIVE_REQUIRED (before printing a handshake) unless you pass `peer: null` explicitly.
   */
  peer?: PeerPolicy | null;
  /**
   * The default policy, used when `peer` is not given. Each process is pinned when the plugin
   * starts by its pid and its start time (/proc/<pid>/stat), so a process that later wins one of
   * those pids is refused; once one of them has connected, only that one is admitted, and the
   * plugin stops (as after SIGTERM, exit status 1) within about a second of that process exiting.
   * - `'parent'` (default): only the process that launched the plugin.
   * - `'ancestors'`: the parent and each of its ancestors (up to 64, init included), for hosts
   *   that launch the plugin through a wrapper script that does not `exec` it (the wrapper is
   *   the parent, the host the grandparent). Trade-off: every ancestor may connect, e.g. your
   *   shell, terminal, tmux server or sshd session, not just the host. Linux only (needs /proc).
   */
  host?: HostPolicy;
  /**
   * How long after the handshake an admitted host has to connect before the plugin gives up:
   * it prints an error line on stderr and exits 1 (with `ownProcess: false`, `closed` rejects
   * with ERR_PLUGIN_HOST_TIMEOUT). Default 60000 (go-plugin's own StartTimeout; a go-plugin
   * host connects within milliseconds of reading the handshake). 0: wait forever.
   */
  hostConnectTimeoutMs?: number;
  /** Socket file mode. Default 0o600, or 0o660 when PLUGIN_UNIX_SOCKET_GROUP is set. */
  mode?: number;
  /** Environment to read (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Where the handshake line goes (default `process.stdout`). */
  handshakeOut?: { write(s: string): unknown };
  /**
   * Route what the process writes to stdout/stderr after the handshake into the
   * `plugin.GRPCStdio` stream, as go-plugin does. Default: stdout true, stderr false (stderr
   * stays the pipe the host logs, which older hosts rely on).
   */
  captureStdout?: boolean;
  captureStderr?: boolean;
  /**
   * Behave like go-plugin's `Serve()` owning the process (default true): a wrong cookie
   * prints go-plugin's explanation on stderr and exits 1; SIGINT is ignored (the host handles
   * Ctrl-C); SIGTERM cleans up and re-raises; after Shutdown the process exits 0; when the host
   * is gone or never connects (see `host`, `hostConnectTimeoutMs`) it cleans up and exits 1.
   * With false, errors are thrown and `closed` settles instead (rejecting in the last case).
   */
  ownProcess?: boolean;
  /** Options for the grpc-js server. */
  serverOptions?: grpc.ServerOptions;
  /**
   * go-plugin AutoMTLS (default true): when the host sets PLUGIN_CLIENT_CERT, generate a
   * certificate, print it in the handshake and serve mutual TLS that accepts only the host's
   * certificate. `false` ignores PLUGIN_CLIENT_CERT (the host will then fail to connect).
   */
  autoMTLS?: boolean;
}

/** Every key of `ServePluginOptions` (a missing one does not compile); others are errors. */
export const SERVE_PLUGIN_OPTION_KEYS = optionKeys<ServePluginOptions>({
  magicCookieKey: true,
  magicCookieValue: true,
  versions: true,
  protocolVersion: true,
  register: true,
  peer: true,
  mode: true,
  env: true,
  handshakeOut: true,
  captureStdout: true,
  captureStderr: true,
  ownProcess: true,
  serverOptions: true,
  autoMTLS: true,
  host: true,
  hostConnectTimeoutMs: true,
});

export interface ServedPlugin {
  /** The negotiated app protocol version. */
  readonly appVersion: number;
  /** Absolute socket path. */
  readonly address: string;
  /** The handshake line printed (without newline). */
  readonly handshakeLine: string;
  readonly server: grpc.Server;
  readonly transport: UnixSocketTransport;
  /** Messages the host sent on the broker stream (service id -> where the host serves it). */
  readonly brokerInfo: Map<number, ConnInfo>;
  /** Dial services the host serves through the broker. */
  readonly broker: PluginBroker;
  /** Whether the plugin serves AutoMTLS (the host sent PLUGIN_CLIENT_CERT). */
  readonly tls: boolean;
  /**
   * Resolves when the plugin stopped serving (Shutdown RPC, shutdown() or SIGTERM). Rejects
   * with ERR_PLUGIN_HOST_GONE when it stopped because its host exited, ERR_PLUGIN_HOST_TIMEOUT
   * when no admitted host connected in time (only seen with `ownProcess: false`).
   */
  readonly closed: Promise<void>;
  /** Stops serving, closes the transport (removes the socket and its directory). Idempotent. */
  shutdown(): Promise<void>;
}

/**
 * Serves a go-plugin gRPC plugin: checks the magic cookie, negotiates the app version, listens
 * with `UnixSocketTransport`, prints the handshake line, and serves the go-plugin services
 * (health, GRPCController, GRPCStdio, GRPCBroker) plus the plugin's own.
 */
export async function servePlugin(options: ServePluginOptions): Promise<ServedPlugin> {
  checkOptionKeys(options, SERVE_PLUGIN_OPTION_KEYS, '');
  const ownProcess = options.ownProcess ?? true;
  const { env, appVersion, register } = negotiate(options, ownProcess);
  const host = HostWatch.resolve(options);
  const transport = listener(env, options.mode, host.peer);
  const mtls = env.clientCert && (options.autoMTLS ?? true) ? pluginMtls(env.clientCert) : null;
  const credentials = serverCredentials(mtls);

  const server = new grpc.Server({ 'grpc.max_receive_message_length': -1, ...options.serverOptions });
  const life = new ServeLifetime(ownProcess);
  const stdio = new StdioPump();
  const broker = new Broker(host.peer, mtls);
  const services = addGoPluginServices(server, {
    stdio,
    broker,
    stopping: () => life.stopping,
    shutdown: () => void life.shutdown(),
  });
  await register(server, appVersion, { broker: broker.pluginBroker });

  const injector = server.createConnectionInjector(credentials);
  // The host's lines go to the real stderr pipe, which go-plugin hosts log, even when
  // captureStderr routes process.stderr into GRPCStdio (no host reads that before it connects).
  const log = stderrLog();
  transport.on('connection', (socket: PeerSocket) => {
    host.connected(socket);
    injector.injectConnection(socket);
  });
  transport.on('peerRejected', (cred, reason) => host.refused(cred, reason, transport.path, log));
  transport.on('error', (err) => process.stderr.write(`plugsock: accept failed: ${err.message}\n`));
  try {
    await transport.listen();
  } catch (err) {
    await transport.close().catch(() => {});
    // go-plugin logs "plugin init error" and exits without a handshake line.
    cannotServe(ownProcess, `plugin init error: ${(err as Error).message}\n`, err);
  }

  const handshakeLine = printHandshake(options.handshakeOut ?? process.stdout, appVersion, transport.path, mtls, env);
  host.start(log, life);
  // After the handshake: route stdio into the GRPCStdio stream.
  if (options.captureStdout ?? true) stdio.capture(process.stdout, 'STDOUT');
  if (options.captureStderr ?? false) stdio.capture(process.stderr, 'STDERR');
  life.start(async () => {
    host.stop();
    services.end();
    stdio.end();
    await broker.close();
    server.forceShutdown();
    injector.destroy();
    await transport.close();
  });
  return {
    appVersion,
    address: transport.path,
    handshakeLine,
    server,
    transport,
    brokerInfo: broker.info,
    broker: broker.pluginBroker,
    tls: mtls !== null,
    closed: life.closed,
    shutdown: life.shutdown,
  };
}

/**
 * The magic cookie (with ownProcess, a wrong one prints go-plugin's explanation and exits 1),
 * the plugin's versions, the go-plugin environment and the version agreed with the host.
 */
function negotiate(options: ServePluginOptions, ownProcess: boolean): { env: PluginEnv; appVersion: number; register: RegisterServices } {
  if (!options.magicCookieKey || !options.magicCookieValue) {
    const msg =
      'Misconfigured ServeConfig given to serve this plugin: no magic cookie\n' +
      'key or value was set. Please notify the plugin author and report\n' +
      'this as a bug.\n';
    cannotServe(ownProcess, msg, new TransportError(ErrorCodes.INVALID_OPTION, msg.replace(/\n/g, ' ').trim()));
  }
  const processEnv = options.env ?? process.env;
  if (!checkMagicCookie(processEnv, options.magicCookieKey, options.magicCookieValue)) {
    cannotServe(ownProcess, MAGIC_COOKIE_MESSAGE, new TransportError(GoPluginErrorCodes.BAD_COOKIE, MAGIC_COOKIE_MESSAGE.replace(/\n/g, ' ').trim()));
  }
  const versions = new Map<number, RegisterServices>();
  for (const [k, fn] of Object.entries(options.versions ?? {})) versions.set(Number(k), fn);
  if (options.register) versions.set(options.protocolVersion ?? 1, options.register);
  if (versions.size === 0) {
    throw new TransportError(ErrorCodes.INVALID_OPTION, 'servePlugin needs `versions` or `register` (with `protocolVersion`).');
  }
  const env = readPluginEnv(processEnv);
  for (const bad of env.invalidVersions) {
    process.stderr.write(`server sent invalid plugin version ${JSON.stringify(bad)}\n`);
  }
  const appVersion = negotiateVersion([...versions.keys()], env.hostVersions);
  return { env, appVersion, register: versions.get(appVersion)! };
}

/** The plugin's socket: in PLUGIN_UNIX_SOCKET_DIR when set, with PLUGIN_UNIX_SOCKET_GROUP's group. */
function listener(env: PluginEnv, mode: number | undefined, peer: PeerPolicy | null): UnixSocketTransport {
  const gid = env.unixSocketGroup ? resolveGroup(env.unixSocketGroup) : null;
  const path = env.unixSocketDir ? join(env.unixSocketDir, `plugin${randomInt(1e9, 1e10)}`) : undefined;
  // The group is given to the socket inside the claim's private stage, before it is published.
  return new UnixSocketTransport({
    ...(path ? { path } : {}),
    mode: mode ?? (gid !== null ? 0o660 : 0o600),
    ...(gid !== null ? { group: gid } : {}),
    ...(peer ? { peer } : {}),
  });
}

/** Prints the handshake line; a 7th field (no multiplexing) only when the host set PLUGIN_MULTIPLEX_GRPC. */
function printHandshake(out: { write(s: string): unknown }, appVersion: number, address: string, mtls: PluginMtls | null, env: PluginEnv): string {
  const line = buildHandshakeLine({
    appVersion,
    network: 'unix',
    address,
    protocol: 'grpc',
    serverCert: mtls?.handshakeField ?? null,
    ...(env.multiplexSet ? { multiplex: false } : {}),
  });
  out.write(`${line}\n`);
  return line;
}

/** AutoMTLS (go-plugin server.go): TLS that requires the host's certificate. */
function serverCredentials(mtls: PluginMtls | null): grpc.ServerCredentials {
  return mtls
    ? grpc.ServerCredentials.createSsl(Buffer.from(mtls.hostCertPem), [{ private_key: Buffer.from(mtls.keyPem), cert_chain: Buffer.from(mtls.certPem) }], true)
    : grpc.ServerCredentials.createInsecure();
}
