/**
 * Plugin side: serve a go-plugin compatible gRPC plugin from Node over UnixSocketTransport.
 */
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { capabilities } from '../capabilities';
import { TransportError } from '../errors';
import type { PeerPolicy } from '../peer';
import { UnixSocketTransport, type PeerSocket } from '../transport';
import {
  GoPluginErrorCodes,
  MAGIC_COOKIE_MESSAGE,
  buildHandshakeLine,
  checkMagicCookie,
  negotiateVersion,
  readPluginEnv,
  resolveGroup,
} from './handshake';
import { HEALTH_SERVICE_NAME, goPluginServices, type ConnInfo, type StdioData } from './proto';
import { VerifiedUnixCredentials, type MutualTlsOptions } from './channel';
import { generateAutoMtlsCert, parseClientCertPem } from './mtls';

/** The plugin's side of go-plugin's GRPCBroker (non-multiplexed). */
export interface PluginBroker {
  /**
   * Opens a grpc-js channel to a service the host serves through the broker under `id` (the host
   * passes the id in an RPC, as go-plugin's `broker.NextId()` + `AcceptAndServe`). Waits up to
   * `timeoutMs` (default 5000, as go-plugin's Dial) for the host's connection info. The
   * connection gets the same peer check (only the parent, by default) and AutoMTLS as the
   * plugin's own socket. Rejects with ERR_BROKER.
   */
  dial(id: number, options?: { timeoutMs?: number; channelOptions?: grpc.ChannelOptions }): Promise<grpc.Channel>;
  /** What the host announced so far (service id -> where the host serves it). */
  readonly info: ReadonlyMap<number, ConnInfo>;
}

/** Registers the plugin's own services on the gRPC server for the negotiated version. */
export type RegisterServices = (
  server: grpc.Server,
  appVersion: number,
  context: { broker: PluginBroker },
) => void | Promise<void>;

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
   * Who may connect. Default: only the parent process (`{ pids: [process.ppid] }`), which is
   * the go-plugin host that launched us. `null`: anyone the socket's mode lets in.
   * Needs the native addon: without it servePlugin rejects with
   * ERR_NATIVE_REQUIRED (before printing a handshake) unless you pass `peer: null` explicitly.
   */
  peer?: PeerPolicy | null;
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
   * Ctrl-C); SIGTERM cleans up and re-raises; after Shutdown the process exits 0.
   * With false, errors are thrown and `closed` resolves instead.
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
  /** Resolves when the plugin stopped serving (Shutdown RPC, shutdown() or SIGTERM). */
  readonly closed: Promise<void>;
  /** Stops serving, closes the transport (removes the socket and its directory). Idempotent. */
  shutdown(): Promise<void>;
}

const STDIO_BUFFER_LIMIT = 1 << 20;

class StdioPump {
  #queue: StdioData[] = [];
  #size = 0;
  #call: grpc.ServerWritableStream<unknown, StdioData> | null = null;
  #ended = false;

  push(channel: 'STDOUT' | 'STDERR', chunk: string | Uint8Array, encoding?: BufferEncoding): void {
    if (this.#ended) return;
    const data = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : Buffer.from(chunk);
    if (data.length === 0) return;
    const msg: StdioData = { channel, data };
    if (this.#call) {
      this.#call.write(msg);
      return;
    }
    this.#queue.push(msg);
    this.#size += data.length;
    while (this.#size > STDIO_BUFFER_LIMIT && this.#queue.length > 1) {
      this.#size -= this.#queue.shift()!.data.length;
    }
  }

  attach(call: grpc.ServerWritableStream<unknown, StdioData>): void {
    if (this.#call || this.#ended) {
      // go-plugin: "This RPC endpoint must only be called ONCE."
      call.emit('error', { code: grpc.status.FAILED_PRECONDITION, details: 'StreamStdio may be called only once' });
      return;
    }
    this.#call = call;
    for (const m of this.#queue) call.write(m);
    this.#queue = [];
    this.#size = 0;
    call.on('cancelled', () => {
      if (this.#call === call) this.#call = null;
    });
  }

  end(): void {
    this.#ended = true;
    this.#call?.end();
    this.#call = null;
  }
}

/**
 * Serves a go-plugin gRPC plugin: checks the magic cookie, negotiates the app version, listens
 * with `UnixSocketTransport`, prints the handshake line, and serves the go-plugin services
 * (health, GRPCController, GRPCStdio, GRPCBroker) plus the plugin's own.
 */
export async function servePlugin(options: ServePluginOptions): Promise<ServedPlugin> {
  const env = options.env ?? process.env;
  const ownProcess = options.ownProcess ?? true;

  if (!options.magicCookieKey || !options.magicCookieValue) {
    const msg =
      'Misconfigured ServeConfig given to serve this plugin: no magic cookie\n' +
      'key or value was set. Please notify the plugin author and report\n' +
      'this as a bug.\n';
    if (ownProcess) {
      process.stderr.write(msg);
      process.exit(1);
    }
    throw new TransportError('ERR_INVALID_OPTION', msg.replace(/\n/g, ' ').trim());
  }
  if (!checkMagicCookie(env, options.magicCookieKey, options.magicCookieValue)) {
    if (ownProcess) {
      process.stderr.write(MAGIC_COOKIE_MESSAGE);
      process.exit(1);
    }
    throw new TransportError(GoPluginErrorCodes.BAD_COOKIE, MAGIC_COOKIE_MESSAGE.replace(/\n/g, ' ').trim());
  }

  // Versions.
  const versions = new Map<number, RegisterServices>();
  for (const [k, fn] of Object.entries(options.versions ?? {})) versions.set(Number(k), fn);
  if (options.register) versions.set(options.protocolVersion ?? 1, options.register);
  if (versions.size === 0) {
    throw new TransportError('ERR_INVALID_OPTION', 'servePlugin needs `versions` or `register` (with `protocolVersion`).');
  }
  const penv = readPluginEnv(env);
  for (const bad of penv.invalidVersions) {
    process.stderr.write(`server sent invalid plugin version ${JSON.stringify(bad)}\n`);
  }
  const appVersion = negotiateVersion([...versions.keys()], penv.hostVersions);

  // Peer policy. The default (parent only) is a security boundary: fail closed without the addon.
  const peer: PeerPolicy | null = options.peer === undefined ? { pids: [process.ppid] } : options.peer;
  if (peer && !capabilities().native) {
    const why = capabilities().reason ?? 'unknown reason';
    const msg =
      `servePlugin: the native addon is not loaded (${why}), so the ` +
      (options.peer === undefined ? 'default parent-only peer policy' : 'peer policy') +
      ' cannot be enforced. Refusing to serve. Install a build of plugsock with its addon, or pass ' +
      '`peer: null` to serve without peer checks (any process the socket mode lets in may connect).';
    // Thrown even with ownProcess: the caller decides; uncaught, the process dies with this
    // message on stderr before any handshake, which a host reports with the stderr tail.
    throw new TransportError('ERR_NATIVE_REQUIRED', msg);
  }

  // Listener.
  const gid = penv.unixSocketGroup ? resolveGroup(penv.unixSocketGroup) : null;
  const mode = options.mode ?? (gid !== null ? 0o660 : 0o600);
  const path = penv.unixSocketDir ? join(penv.unixSocketDir, `plugin${randomInt(1e9, 1e10)}`) : undefined;
  // The group is given to the socket inside the claim's private stage, before it is published.
  const transport = new UnixSocketTransport({ ...(path ? { path } : {}), mode, ...(gid !== null ? { group: gid } : {}), ...(peer ? { peer } : {}) });

  // AutoMTLS (go-plugin server.go): a certificate of our own, TLS that requires the host's.
  let mtls: { certPem: string; keyPem: string; handshakeField: string; hostCertPem: string } | null = null;
  if (penv.clientCert && (options.autoMTLS ?? true)) {
    parseClientCertPem(penv.clientCert); // clear error for a malformed PLUGIN_CLIENT_CERT
    const own = generateAutoMtlsCert();
    mtls = { certPem: own.certPem, keyPem: own.keyPem, handshakeField: own.handshakeField, hostCertPem: penv.clientCert };
  }
  const serverCredentials = mtls
    ? grpc.ServerCredentials.createSsl(Buffer.from(mtls.hostCertPem), [{ private_key: Buffer.from(mtls.keyPem), cert_chain: Buffer.from(mtls.certPem) }], true)
    : grpc.ServerCredentials.createInsecure();

  const server = new grpc.Server({ 'grpc.max_receive_message_length': -1, ...options.serverOptions });
  const services = goPluginServices();
  const stdio = new StdioPump();
  const brokerInfo = new Map<number, ConnInfo>();
  const brokerWaiters = new Map<number, Set<(info: ConnInfo) => void>>();
  const brokerChannels = new Set<grpc.Channel>();
  const brokerConnector = new UnixSocketTransport({ connectTimeoutMs: 5000 });
  const broker: PluginBroker = {
    info: brokerInfo,
    async dial(id, o = {}) {
      const timeoutMs = o.timeoutMs ?? 5000;
      const info =
        brokerInfo.get(id) ??
        (await new Promise<ConnInfo | null>((resolve) => {
          const set = brokerWaiters.get(id) ?? new Set();
          brokerWaiters.set(id, set);
          const done = (i: ConnInfo | null) => {
            clearTimeout(timer);
            set.delete(done);
            resolve(i);
          };
          const timer = setTimeout(() => done(null), timeoutMs);
          set.add(done);
        }));
      if (!info) {
        throw new TransportError(GoPluginErrorCodes.BROKER, `broker: the host announced no service with id ${id} within ${timeoutMs} ms.`);
      }
      if (info.network !== 'unix' || !info.address.startsWith('/')) {
        throw new TransportError(
          GoPluginErrorCodes.BROKER,
          `broker: service ${id} is at ${info.network} ${JSON.stringify(info.address)}; only unix sockets are supported.`,
        );
      }
      const tlsOptions: MutualTlsOptions | null = mtls
        ? { serverCertPem: mtls.hostCertPem, certPem: mtls.certPem, keyPem: mtls.keyPem }
        : null;
      const creds = new VerifiedUnixCredentials(() => brokerConnector.connect(info.address, { peer }), tlsOptions);
      const ch = new grpc.Channel(`unix:${info.address}`, creds, { 'grpc.max_receive_message_length': -1, ...o.channelOptions });
      brokerChannels.add(ch);
      return ch;
    },
  };
  const brokerCalls = new Set<grpc.ServerDuplexStream<ConnInfo, ConnInfo>>();
  const healthWatchers = new Set<grpc.ServerWritableStream<unknown, unknown>>();
  let shuttingDown: Promise<void> | null = null;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));

  server.addService(services.health.service, {
    Check(call: grpc.ServerUnaryCall<{ service: string }, unknown>, cb: grpc.sendUnaryData<unknown>) {
      const name = call.request.service;
      if (name === '' || name === HEALTH_SERVICE_NAME) cb(null, { status: shuttingDown ? 'NOT_SERVING' : 'SERVING' });
      else cb({ code: grpc.status.NOT_FOUND, details: `unknown service ${name}` });
    },
    Watch(call: grpc.ServerWritableStream<{ service: string }, unknown>) {
      const name = call.request.service;
      call.write({ status: name === '' || name === HEALTH_SERVICE_NAME ? 'SERVING' : 'SERVICE_UNKNOWN' });
      healthWatchers.add(call);
      call.on('cancelled', () => healthWatchers.delete(call));
    },
  });
  server.addService(services.controller.service, {
    Shutdown(_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) {
      cb(null, {});
      // Let the response go out before the server stops (go-plugin stops at once; hosts ignore the result).
      setTimeout(() => void shutdown(), 10);
    },
  });
  server.addService(services.stdio.service, {
    StreamStdio(call: grpc.ServerWritableStream<unknown, StdioData>) {
      stdio.attach(call);
    },
  });
  server.addService(services.broker.service, {
    StartStream(call: grpc.ServerDuplexStream<ConnInfo, ConnInfo>) {
      // A minimal broker: remember where the host serves brokered services; refuse knocks
      // (multiplexed sub-connections), which this plugin does not implement.
      brokerCalls.add(call);
      call.on('data', (info: ConnInfo) => {
        if (info.knock?.knock && !info.knock.ack) {
          call.write({
            serviceId: info.serviceId,
            network: '',
            address: '',
            knock: { knock: true, ack: false, error: 'plugsock: brokered sub-connections are not supported' },
          });
          return;
        }
        brokerInfo.set(info.serviceId, info);
        for (const w of [...(brokerWaiters.get(info.serviceId) ?? [])]) w(info);
      });
      call.on('end', () => {
        brokerCalls.delete(call);
        call.end();
      });
      call.on('error', () => brokerCalls.delete(call));
    },
  });

  await versions.get(appVersion)!(server, appVersion, { broker });

  const injector = server.createConnectionInjector(serverCredentials);
  transport.on('connection', (socket: PeerSocket) => injector.injectConnection(socket));
  transport.on('error', (err) => process.stderr.write(`plugsock: accept failed: ${err.message}\n`));

  try {
    await transport.listen();
  } catch (err) {
    await transport.close().catch(() => {});
    if (ownProcess) {
      // go-plugin logs "plugin init error" and exits without a handshake line.
      process.stderr.write(`plugin init error: ${(err as Error).message}\n`);
      process.exit(1);
    }
    throw err;
  }

  const handshakeLine = buildHandshakeLine({
    appVersion,
    network: 'unix',
    address: transport.path,
    protocol: 'grpc',
    serverCert: mtls?.handshakeField ?? null,
    ...(penv.multiplexSet ? { multiplex: false } : {}),
  });
  (options.handshakeOut ?? process.stdout).write(`${handshakeLine}\n`);

  // After the handshake: route stdio into the GRPCStdio stream.
  const restore: Array<() => void> = [];
  const capture = (stream: NodeJS.WriteStream, channel: 'STDOUT' | 'STDERR') => {
    const original = stream.write;
    stream.write = function (this: NodeJS.WriteStream, chunk: any, encoding?: any, cb?: any): boolean {
      if (typeof encoding === 'function') {
        cb = encoding;
        encoding = undefined;
      }
      stdio.push(channel, chunk, encoding);
      if (typeof cb === 'function') process.nextTick(cb);
      return true;
    } as typeof stream.write;
    restore.push(() => {
      stream.write = original;
    });
  };
  if (options.captureStdout ?? true) capture(process.stdout, 'STDOUT');
  if (options.captureStderr ?? false) capture(process.stderr, 'STDERR');

  let terminated = false;
  const onSigint = () => {};
  const onSigterm = () => {
    terminated = true;
    void shutdown();
  };
  if (ownProcess) {
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigterm);
  }

  function shutdown(): Promise<void> {
    if (!shuttingDown) {
      shuttingDown = (async () => {
        for (const w of healthWatchers) w.end();
        for (const c of brokerCalls) c.end();
        stdio.end();
        for (const r of restore) r();
        for (const ch of brokerChannels) ch.close();
        await brokerConnector.close().catch(() => {});
        server.forceShutdown();
        injector.destroy();
        await transport.close();
        process.removeListener('SIGINT', onSigint);
        if (!ownProcess) process.removeListener('SIGTERM', onSigterm);
        resolveClosed();
      })();
      if (ownProcess) {
        void shuttingDown.then(
          () => {
            if (terminated) {
              // Cleaned up; now die of the signal as the host expects.
              process.removeListener('SIGTERM', onSigterm);
              process.kill(process.pid, 'SIGTERM');
            } else {
              process.exit(0);
            }
          },
          (err) => {
            process.stderr.write(`plugsock: shutdown failed: ${(err as Error).message}\n`);
            process.exit(1);
          },
        );
      }
    }
    return shuttingDown;
  }

  return {
    appVersion,
    address: transport.path,
    handshakeLine,
    server,
    transport,
    brokerInfo,
    broker,
    tls: mtls !== null,
    closed,
    shutdown,
  };
}
