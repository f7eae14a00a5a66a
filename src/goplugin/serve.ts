/**
 * Plugin side: serve a go-plugin compatible gRPC plugin from Node over UnixSocketTransport.
 */
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { capabilities } from '../capabilities';
import { TransportError } from '../errors';
import { checkOptionKeys, optionKeys } from '../options';
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
import { PinnedHost, goPluginLogLine, isAncestorOf, type HostPolicy } from './host-pin';

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
  magicCookieKey: true, magicCookieValue: true, versions: true, protocolVersion: true, register: true,
  peer: true, mode: true, env: true, handshakeOut: true, captureStdout: true, captureStderr: true,
  ownProcess: true, serverOptions: true, autoMTLS: true, host: true, hostConnectTimeoutMs: true,
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

const STDIO_BUFFER_LIMIT = 1 << 20;
/** Refused connections logged one by one before the rest are only counted. */
const MAX_REFUSAL_LINES = 20;
/** How often the plugin looks whether its host still runs. */
const HOST_CHECK_INTERVAL_MS = 1000;

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
  checkOptionKeys(options, SERVE_PLUGIN_OPTION_KEYS, '');
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

  // Peer policy. The default (the host, pinned) is a security boundary: fail closed without the addon.
  if (options.host !== undefined && options.peer !== undefined) {
    throw new TransportError(
      'ERR_INVALID_OPTION',
      'servePlugin: `host` chooses the default peer policy and `peer` replaces it; give one of them (put extra checks in peer.verify).',
    );
  }
  const hostPolicy = options.host ?? 'parent';
  if (hostPolicy !== 'parent' && hostPolicy !== 'ancestors') {
    throw new TransportError('ERR_INVALID_OPTION', `servePlugin: host must be 'parent' or 'ancestors', got ${JSON.stringify(hostPolicy)}.`);
  }
  const hostConnectTimeoutMs = options.hostConnectTimeoutMs ?? 60000;
  if (typeof hostConnectTimeoutMs !== 'number' || !Number.isFinite(hostConnectTimeoutMs) || hostConnectTimeoutMs < 0 || hostConnectTimeoutMs > 2 ** 31 - 1) {
    throw new TransportError('ERR_INVALID_OPTION', `servePlugin: hostConnectTimeoutMs must be a number of ms from 0 (no limit) to 2147483647, got ${String(hostConnectTimeoutMs)}.`);
  }
  // Pinned now, before the socket exists: a connection from a pinned pid can only be that process.
  const pinned = options.peer === undefined ? PinnedHost.pin(hostPolicy) : null;
  if (options.peer === undefined && !pinned) {
    throw new TransportError(
      'ERR_INVALID_OPTION',
      hostPolicy === 'ancestors'
        ? "servePlugin: host: 'ancestors' needs /proc to pin the parent's ancestors by start time; use the default host: 'parent' (and exec the plugin from any wrapper)."
        : `servePlugin: this process has no parent to serve (ppid ${process.ppid}); pass a peer policy.`,
    );
  }
  const refusals = new WeakMap<object, string>();
  const peer: PeerPolicy | null =
    options.peer === undefined
      ? {
          verify: (cred) => {
            const why = pinned!.rejection(cred.pid);
            if (why !== null) refusals.set(cred, why);
            return why === null;
          },
        }
      : options.peer;
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
  let rejectClosed!: (err: TransportError) => void;
  const closed = new Promise<void>((res, rej) => {
    resolveClosed = res;
    rejectClosed = rej;
  });
  closed.catch(() => {}); // a caller that never looks at `closed` gets no unhandled rejection
  // Why the plugin stopped on its own (host gone, or never connected), or null.
  let failure: TransportError | null = null;

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
  // The host's lines go to the real stderr pipe, which go-plugin hosts log, even when
  // captureStderr routes process.stderr into GRPCStdio (no host reads that before it connects).
  const stderrWrite = process.stderr.write;
  const logLine = (message: string, fields: Record<string, string | number> = {}) => {
    try {
      stderrWrite.call(process.stderr, goPluginLogLine('error', message, fields));
    } catch {
      /* stderr closed: nothing to tell */
    }
  };
  let hostConnected = false;
  let refusedCount = 0;
  let hostTimer: NodeJS.Timeout | null = null;
  let hostWatch: NodeJS.Timeout | null = null;
  transport.on('connection', (socket: PeerSocket) => {
    if (!hostConnected) {
      hostConnected = true;
      if (hostTimer) clearTimeout(hostTimer);
      if (pinned && socket.peer) pinned.admitted(socket.peer.pid);
    }
    injector.injectConnection(socket);
  });
  // A refused connection is said at once, in go-plugin's log format, so the host logs it; a
  // flood of them is cut after a few lines.
  transport.on('peerRejected', (cred, reason) => {
    refusedCount++;
    if (refusedCount > MAX_REFUSAL_LINES) {
      if (refusedCount === MAX_REFUSAL_LINES + 1) logLine('plugsock: further refused connections to the plugin socket are not logged');
      return;
    }
    const why = (cred && refusals.get(cred)) ?? reason;
    let hint = '';
    if (pinned && cred && pinned.policy === 'parent' && !pinned.host && isAncestorOf(cred.pid, pinned.pins[0]!.pid)) {
      hint =
        `; it is an ancestor of the plugin's parent (pid ${pinned.pins[0]!.pid}): the host seems to start the plugin through a wrapper` +
        " that does not exec it; end the wrapper with `exec`, or serve with host: 'ancestors'";
    }
    const who = cred ? `pid ${cred.pid} (uid ${cred.uid})` : 'a process that is already gone';
    // No final full stop: go-plugin's host prints the fields after the message (`msg: k=v`).
    logLine(`plugsock: refused a connection to the plugin socket from ${who}: ${why}${hint}`, {
      ...(cred ? { peer_pid: cred.pid, peer_uid: cred.uid } : {}),
      socket: transport.path,
    });
  });
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

  // The host has hostConnectTimeoutMs to connect; the plugin stops when its host is gone.
  const stopOnOwn = (code: string, message: string) => {
    if (shuttingDown) return;
    logLine(message);
    failure = new TransportError(code, message);
    void shutdown();
  };
  if (hostConnectTimeoutMs > 0 && !hostConnected) {
    hostTimer = setTimeout(() => {
      if (hostConnected) return;
      const refusedNote = refusedCount ? ` (${refusedCount} connection${refusedCount === 1 ? '' : 's'} refused, see above)` : '';
      stopOnOwn(
        GoPluginErrorCodes.HOST_TIMEOUT,
        `plugsock: no admitted host connected to the plugin socket within ${hostConnectTimeoutMs} ms${refusedNote}; the plugin exits`,
      );
    }, hostConnectTimeoutMs);
    hostTimer.unref();
  }
  if (pinned) {
    hostWatch = setInterval(() => {
      const gone = pinned.gone();
      if (gone) {
        stopOnOwn(GoPluginErrorCodes.HOST_GONE, `plugsock: the plugin's host (pid ${gone.pid}) has exited; the plugin stops serving and exits`);
      }
    }, HOST_CHECK_INTERVAL_MS);
    hostWatch.unref();
  }

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
        if (hostTimer) clearTimeout(hostTimer);
        if (hostWatch) clearInterval(hostWatch);
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
        if (failure) rejectClosed(failure);
        else resolveClosed();
      })();
      if (ownProcess) {
        void shuttingDown.then(
          () => {
            if (terminated) {
              // Cleaned up; now die of the signal as the host expects.
              process.removeListener('SIGTERM', onSigterm);
              process.kill(process.pid, 'SIGTERM');
            } else {
              process.exit(failure ? 1 : 0);
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
