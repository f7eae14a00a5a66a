/**
 * Plugin side: serve a go-plugin compatible gRPC plugin from Node over UnixSocketTransport.
 */
import type { Duplex } from 'node:stream';
// biome-ignore lint/suspicious/noTsIgnore: in the published .d.ts; @ts-expect-error would fail wherever grpc-js is installed
/** @ts-ignore grpc-js is an optional peer: without it (a Terraform provider needs none) these types are `any` rather than an error. */
import type * as grpc from '@grpc/grpc-js';
import { ErrorCodes, TransportError } from '../errors';
import { checkOptionKeys, optionKeys } from '../options';
import type { PeerPolicy } from '../peer';
import type { UnixSocketTransport, PeerSocket } from '../transport';
import { Broker, type PluginBroker } from './broker';
import { asyncDispose } from './dispose';
import type { HostPolicy } from './host-pin';
import { grpcJs } from './grpc-js';
import { HostWatch } from './host-watch';
import { type GrpcServiceHost, Http2GrpcServer, type Http2GrpcServerOptions } from './http2-server';
import { createPluginLogger, formatLogLine } from './log';
import { messageSizeOptions } from './message-size';
import { type PluginMtls, pluginMtls } from './mtls';
import { acceptPinnedTls } from './pinned-tls';
import type { ConnInfo } from './proto';
import type { ReattachConfig } from './reattach';
import { ServeLifetime, cannotServe, type ShutdownReason } from './serve-lifetime';
import { listener, negotiate, printHandshake, serverTls, shutdownOptions, type NegotiateOptions, type RegisterServices, type ServerTls } from './serve-setup';
import { addGoPluginServices } from './services';
import { StdioPump } from './stdio';

export type { RegisterServices } from './serve-setup';
export type { ShutdownReason } from './serve-lifetime';

/** Options of `servePlugin(options)`; unknown keys are ERR_INVALID_OPTION. */
export interface ServePluginOptions extends NegotiateOptions {
  /** The host's magic cookie (go-plugin `HandshakeConfig.MagicCookieKey`/`Value`); not checked in debug mode. */
  magicCookieKey: string;
  /** The magic cookie's value (see `magicCookieKey`). */
  magicCookieValue: string;
  /**
   * The app protocol versions this plugin speaks, each with its services:
   * `{ 1: (server) => server.addService(...) }`. Alternatively `protocolVersion` + `register`.
   * The version served is the highest one the host lists in PLUGIN_PROTOCOL_VERSIONS; without
   * that variable (a plugin started by hand, in debug mode) the lowest, as go-plugin does.
   */
  versions?: Record<number, RegisterServices>;
  /** The one app protocol version this plugin speaks, with `register` (instead of `versions`). */
  protocolVersion?: number;
  /** Adds the services of `protocolVersion` to the server (instead of `versions`). */
  register?: RegisterServices;
  /**
   * Debug mode (go-plugin's `ServeConfig.Test`, terraform-plugin-go's `WithDebug`): for a plugin
   * started by hand (in a debugger), to which hosts attach with its `reattachConfig` (Terraform:
   * TF_REATTACH_PROVIDERS, see `reattachEnv`; Node: `attachPlugin`). Then: the magic cookie is
   * not checked; no handshake line is printed and stdout is not captured (unless
   * `captureStdout: true`); no parent is pinned and no host watched: by default only processes
   * of the plugin's own user may connect (`peer: { sameUser: true }`; `peer` replaces it, `host`
   * is an error); hosts may come and go, and the plugin keeps serving across their sessions: a
   * host's Shutdown RPC is answered but ignored (go-plugin hosts never send it to a `Test`
   * reattach config); AutoMTLS is off (a reattach config carries no certificate); no time limit
   * for a host to connect unless `hostConnectTimeoutMs` is given. It ends on SIGINT (Ctrl-C) or
   * SIGTERM (cleanly: socket removed, `onShutdown` run, then the signal re-raised) or
   * `served.shutdown()`.
   */
  debug?: boolean;
  /**
   * Runs once the plugin has stopped serving (after the host's Shutdown RPC, SIGTERM, the host
   * gone, or `served.shutdown()`; the reason is passed), before the process exits (with
   * `ownProcess`) or `closed` settles. Awaited for at most `shutdownTimeoutMs`: a hook that
   * throws or takes longer is logged as an error line and the plugin stops anyway, with exit
   * status 1 (a signal is still re-raised), or `closed` rejecting with ERR_PLUGIN_SHUTDOWN_HOOK.
   */
  onShutdown?: (reason: ShutdownReason) => void | Promise<void>;
  /**
   * Time limit of `onShutdown`, in ms (1..2147483647). Default 1500: go-plugin hosts, Terraform
   * among them, SIGKILL the plugin 2 s after their Shutdown RPC, so a longer hook would be cut
   * without a word; within the default the plugin says what happened and exits itself.
   */
  shutdownTimeoutMs?: number;
  /**
   * Who may connect. Default: the host, as `host` says (the parent process, pinned at start);
   * in debug mode, processes of the plugin's own user (`{ sameUser: true }`). A policy given here replaces that (and cannot be combined with `host`); `null`: anyone the
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
  /** Where the handshake line goes (default: the process's stdout, fd 1). */
  handshakeOut?: {
    /** Called once with the handshake line, newline included. */
    write(s: string): unknown;
  };
  /**
   * Route what the process writes to stdout/stderr after the handshake into the
   * `plugin.GRPCStdio` stream, as go-plugin does. Default: stdout true (false in debug mode),
   * stderr false (stderr stays the pipe the host logs, which older hosts rely on).
   */
  captureStdout?: boolean;
  /** Route stderr into `plugin.GRPCStdio` too (default false); see `captureStdout`. */
  captureStderr?: boolean;
  /**
   * Behave like go-plugin's `Serve()` owning the process (default true): a wrong cookie
   * prints go-plugin's explanation on stderr and exits 1; SIGINT is ignored (the host handles
   * Ctrl-C; in debug mode SIGINT ends it like SIGTERM); SIGTERM cleans up and re-raises; after
   * Shutdown the process exits 0 (1 when `onShutdown` failed); when the host is gone or never
   * connects (see `host`, `hostConnectTimeoutMs`) it cleans up and exits 1.
   * With false, errors are thrown and `closed` settles instead (rejecting in the last case).
   */
  ownProcess?: boolean;
  /**
   * Options for the grpc-js server. The largest message received and sent defaults to 256 MiB
   * each way (`grpc.max_receive_message_length`, `grpc.max_send_message_length`; as Terraform
   * and terraform-plugin-go; grpc-js alone receives 4 MiB); set them here to change that.
   */
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
  debug: true,
  onShutdown: true,
  shutdownTimeoutMs: true,
});

/**
 * A plugin being served, as `servePlugin` resolves it once the handshake line is printed.
 * `Server` is grpc-js's Server for servePlugin, plugsock's Http2GrpcServer for serveProvider.
 */
export interface ServedPlugin<Server = grpc.Server> {
  /** The negotiated app protocol version. */
  readonly appVersion: number;
  /** Absolute socket path. */
  readonly address: string;
  /** The handshake line (without newline), as printed; in debug mode it is not printed. */
  readonly handshakeLine: string;
  /** The gRPC server the services were added to. */
  readonly server: Server;
  /** The transport listening on the plugin's socket (its peer policy admits the host only). */
  readonly transport: UnixSocketTransport;
  /** Messages the host sent on the broker stream (service id -> where the host serves it). */
  readonly brokerInfo: Map<number, ConnInfo>;
  /** Dial services the host serves through the broker. */
  readonly broker: PluginBroker;
  /** Whether the plugin serves AutoMTLS (the host sent PLUGIN_CLIENT_CERT). */
  readonly tls: boolean;
  /**
   * How a host reaches this plugin without launching it (go-plugin's ReattachConfig, JSON-ready):
   * `{ Protocol: 'grpc', ProtocolVersion, Pid, Test, Addr: { Network: 'unix', String } }`.
   * `Test` is true in debug mode. Outside debug mode the default peer policy admits only the
   * host that launched the plugin, so other hosts cannot attach.
   */
  readonly reattachConfig: ReattachConfig;
  /**
   * Resolves when the plugin stopped serving (Shutdown RPC, shutdown() or SIGTERM) and its
   * onShutdown hook ran. Rejects with ERR_PLUGIN_HOST_GONE when it stopped because its host
   * exited, ERR_PLUGIN_HOST_TIMEOUT when no admitted host connected in time,
   * ERR_PLUGIN_SHUTDOWN_HOOK when the hook failed (only seen with `ownProcess: false`).
   */
  readonly closed: Promise<void>;
  /** Stops serving, closes the transport (removes the socket and its directory). Idempotent. */
  shutdown(): Promise<void>;
  /**
   * shutdown(), for `await using served = await servePlugin(...)`: the plugin stops serving
   * when the block is left (reason `'api'`; with `ownProcess`, the process then exits).
   */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Serves a go-plugin gRPC plugin: checks the magic cookie, negotiates the app version, listens
 * with `UnixSocketTransport`, prints the handshake line, and serves the go-plugin services
 * (health, GRPCController, GRPCStdio, GRPCBroker) plus the plugin's own.
 */
export async function servePlugin(options: ServePluginOptions): Promise<ServedPlugin> {
  checkOptionKeys(options, SERVE_PLUGIN_OPTION_KEYS, '');
  return serveOn(options, grpcJsServer(options.serverOptions));
}

/** A gRPC server that is handed the plugin's connections, and how to stop it. */
export interface PluginServer<Server> {
  server: Server;
  inject(connection: Duplex): void;
  stop(): void;
}

/** grpc-js's server (servePlugin's): every grpc-js API is there for the plugin's services. */
function grpcJsServer(serverOptions: grpc.ServerOptions | undefined): PluginServer<grpc.Server> {
  const grpc = grpcJs();
  const server = new grpc.Server({ ...messageSizeOptions(), ...serverOptions });
  // With AutoMTLS the TLS is ours (serverTls): grpc-js is given the pinned TLS socket.
  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  return {
    server,
    inject: (connection) => injector.injectConnection(connection),
    stop() {
      server.forceShutdown();
      injector.destroy();
    },
  };
}

/** plugsock's own server on node:http2 (serveProvider's): no grpc-js to load at start-up. */
export function http2Server(serverOptions: Http2GrpcServerOptions | undefined): PluginServer<Http2GrpcServer> {
  const server = new Http2GrpcServer(serverOptions, messageSizeOptions());
  return { server, inject: (connection) => server.injectConnection(connection), stop: () => server.forceShutdown() };
}

/** servePlugin on the given server (options already checked). */
export async function serveOn<Server extends GrpcServiceHost>(
  options: Omit<ServePluginOptions, 'versions' | 'register' | 'serverOptions'> & NegotiateOptions<Server>,
  plugin: PluginServer<Server>,
): Promise<ServedPlugin<Server>> {
  const ownProcess = options.ownProcess ?? true;
  const debug = options.debug ?? false;
  if (typeof debug !== 'boolean') throw new TransportError(ErrorCodes.INVALID_OPTION, `servePlugin: debug must be a boolean, got ${typeof debug}.`);
  // plugsock's own lines, in hclog JSON on the stderr pipe, which go-plugin hosts log.
  const log = createPluginLogger({ name: 'plugsock' });
  const shutdownTimeoutMs = shutdownOptions(options);
  const { env, appVersion, register } = negotiate(options, ownProcess, debug, log);
  const host = HostWatch.resolve({ ...options, debug });
  const transport = listener(env, options.mode, host.peer);
  const mtls = env.clientCert && !debug && (options.autoMTLS ?? true) ? pluginMtls(env.clientCert) : null;
  // The TLS context is made right after the handshake line (below), or by the first connection.
  let tls: ServerTls | null = null;
  const serverTlsNow = (m: PluginMtls): ServerTls => (tls ??= serverTls(m)!);

  const { server } = plugin;
  const life = new ServeLifetime({ ownProcess, debug, onShutdown: options.onShutdown, shutdownTimeoutMs, log });
  const stdio = new StdioPump();
  const broker = new Broker(host.peer, mtls);
  const services = addGoPluginServices(server, {
    stdio,
    broker,
    stopping: () => life.stopping,
    shutdown: debug
      ? () => log.info('plugsock: debug mode: the host asked the plugin to shut down; it keeps serving (stop it with Ctrl-C or SIGTERM)')
      : () => void life.shutdown('rpc'),
  });
  await register(server, appVersion, { broker: broker.pluginBroker });

  transport.on('connection', (socket: PeerSocket) => {
    host.connected(socket);
    if (!mtls) return plugin.inject(socket);
    const { context, hostDer } = serverTlsNow(mtls);
    acceptPinnedTls(
      socket,
      context,
      hostDer,
      (secure) => plugin.inject(secure),
      (err, hungUp) => {
        if (hungUp) log.debug(`plugsock: AutoMTLS: ${err.message}`);
        else log.warn(`plugsock: AutoMTLS: connection refused: ${err.message}`);
      },
    );
  });
  transport.on('peerRejected', (cred, reason) => host.refused(cred, reason, transport.path, log));
  transport.on('error', (err) => log.error('plugsock: accept failed', { error: err }));
  await listen(transport, ownProcess);
  // Signals are handled from before the handshake: a host may signal the plugin as soon as it
  // has read the line, which can be before this process runs its next statement.
  life.start(async () => {
    host.stop();
    services.end();
    stdio.end();
    await broker.close();
    plugin.stop();
    await transport.close();
  });

  const handshakeLine = printHandshake(debug ? null : (options.handshakeOut ?? 'stdout'), appVersion, transport.path, mtls, env);
  // Made now, while the host reads the line and dials (~4 ms that the plugin would otherwise wait
  // for; building the context takes ~3 ms), not before the line.
  if (mtls) serverTlsNow(mtls);
  host.start(log, life);
  // After the handshake: route stdio into the GRPCStdio stream (in debug mode the terminal keeps it).
  if (options.captureStdout ?? !debug) stdio.capture(process.stdout, 'STDOUT');
  if (options.captureStderr ?? false) stdio.capture(process.stderr, 'STDERR');
  return {
    appVersion,
    address: transport.path,
    handshakeLine,
    server,
    transport,
    brokerInfo: broker.info,
    broker: broker.pluginBroker,
    tls: mtls !== null,
    reattachConfig: {
      Protocol: 'grpc',
      ProtocolVersion: appVersion,
      Pid: process.pid,
      Test: debug,
      Addr: { Network: 'unix', String: transport.path },
    },
    closed: life.closed,
    shutdown: () => life.shutdown('api'),
    [asyncDispose]: () => life.shutdown('api'),
  };
}

/** Listens; a failure is go-plugin's "plugin init error": logged, and no handshake line. */
async function listen(transport: UnixSocketTransport, ownProcess: boolean): Promise<void> {
  try {
    await transport.listen();
  } catch (err) {
    await transport.close().catch(() => {});
    cannotServe(ownProcess, formatLogLine('error', 'plugin init error', { error: err }), err);
  }
}
