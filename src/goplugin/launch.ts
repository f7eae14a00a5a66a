/**
 * Host side: launch a go-plugin plugin (Go or Node), read and validate its handshake, verify
 * who serves the socket, and hand out grpc-js clients whose every connection is verified.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { capabilities } from '../capabilities';
import { TransportError } from '../errors';
import { checkOptionKeys, optionKeys } from '../options';
import type { PeerCredentials } from '../peer';
import { UnixSocketTransport } from '../transport';
import {
  GoPluginErrorCodes,
  buildHostEnv,
  parseHandshakeLine,
  type Handshake,
} from './handshake';
import { HEALTH_SERVICE_NAME, goPluginServices, type StdioData } from './proto';
import { VerifiedUnixCredentials, wrapMutualTls, type MutualTlsOptions } from './channel';
import { generateAutoMtlsCert, parseHandshakeCert } from './mtls';
import { PluginSocketDir } from './socket-dir';
import { readProcStat } from './host-pin';

export interface StartPluginOptions {
  /** The plugin executable. */
  command: string;
  args?: readonly string[];
  cwd?: string;
  /** Base environment (default `process.env`); the go-plugin variables are added on top. */
  env?: NodeJS.ProcessEnv;
  magicCookieKey: string;
  magicCookieValue: string;
  /** App protocol versions this host speaks (PLUGIN_PROTOCOL_VERSIONS). Default [1]. */
  versions?: readonly number[];
  /** How long to wait for the handshake line. Default 60000 (go-plugin's StartTimeout). */
  startTimeoutMs?: number;
  /** How long kill() waits after the Shutdown RPC before SIGKILL. Default 2000 (as go-plugin). */
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
  /** Extra grpc-js channel options. */
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
}

/** Every key of `StartPluginOptions` (a missing one does not compile); others are errors. */
export const START_PLUGIN_OPTION_KEYS = optionKeys<StartPluginOptions>({
  command: true, args: true, cwd: true, env: true, magicCookieKey: true, magicCookieValue: true,
  versions: true, startTimeoutMs: true, killGraceMs: true, socketDir: true, socketGroup: true,
  verifyPeer: true, onStderr: true, onStdout: true, channelOptions: true, autoMTLS: true, onStdio: true,
});

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

const STDERR_TAIL = 8192;
const MAX_LINE = 64 * 1024;

/** Parent pid of `pid` from /proc/<pid>/stat, or null. */
function parentPid(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ppid = Number(fields[1]);
    return Number.isInteger(ppid) ? ppid : null;
  } catch {
    return null;
  }
}

/**
 * SIGKILLs the child's process group (its id is the child's pid: the child is spawned detached).
 * A pid is not reused while a process group of that id has members, so while the child runs or
 * any of its group does, this reaches only the plugin's processes; once the child has exited and
 * its pid belongs to a new process, the group is known to be empty and nothing is sent.
 */
function killGroup(child: ChildProcess): void {
  const pid = child.pid;
  if (pid === undefined) return;
  const exited = child.exitCode !== null || child.signalCode !== null;
  if (exited && existsSync(`/proc/${pid}`)) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* ESRCH: the group is empty */
  }
}

/** Whether the child's process group still has members (zombies included). */
function groupAlive(child: ChildProcess): boolean {
  const pid = child.pid;
  if (pid === undefined) return false;
  const exited = child.exitCode !== null || child.signalCode !== null;
  if (exited && existsSync(`/proc/${pid}`)) return false;
  try {
    process.kill(-pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Waits (at most 2 s) until the process that served the socket has died (a zombie has: its
 * reaper, often not this process, may take its time), so its socket is no longer served when
 * the leftovers are removed. The rest of the group got SIGKILL, which nothing survives.
 */
async function serverGone(server: { pid: number; startTime: string } | null): Promise<void> {
  const deadline = Date.now() + 2000;
  for (let i = 0; i < 200 && server && Date.now() < deadline; i++) {
    const stat = readProcStat(server.pid);
    if (stat === null || stat.startTime !== server.startTime || stat.state === 'Z' || stat.state === 'X') return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Whether `pid` is `ancestor` or one of its descendants (walks the ppid chain). */
export function isSameOrDescendant(pid: number, ancestor: number): boolean {
  let p: number | null = pid;
  for (let i = 0; i < 64 && p !== null && p > 1; i++) {
    if (p === ancestor) return true;
    p = parentPid(p);
  }
  return p === ancestor;
}

/**
 * The plugin's environment. Variables only this host may decide are never passed on from the
 * base environment (a Node host that is itself a plugin has them in process.env);
 * PLUGIN_MULTIPLEX_GRPC would make a go-plugin >= 1.6 plugin wrap the connection in yamux, which
 * this host does not speak.
 */
function pluginEnv(options: StartPluginOptions, versions: readonly number[], socketDir: string | null, clientCert: string | null): NodeJS.ProcessEnv {
  const baseEnv: NodeJS.ProcessEnv = { ...(options.env ?? process.env) };
  for (const k of ['PLUGIN_MULTIPLEX_GRPC', 'PLUGIN_CLIENT_CERT', 'PLUGIN_UNIX_SOCKET_DIR', 'PLUGIN_UNIX_SOCKET_GROUP']) delete baseEnv[k];
  return {
    ...baseEnv,
    ...buildHostEnv({
      magicCookieKey: options.magicCookieKey,
      magicCookieValue: options.magicCookieValue,
      versions,
      ...(socketDir ? { unixSocketDir: socketDir } : {}),
      ...(options.socketGroup !== undefined ? { unixSocketGroup: options.socketGroup } : {}),
      ...(clientCert ? { clientCert } : {}),
    }),
  };
}

function tailOf(buf: Buffer[]): string {
  return Buffer.concat(buf).toString('utf8').slice(-STDERR_TAIL);
}

/**
 * Starts a go-plugin plugin and returns once its handshake is validated and (by default) its
 * socket's peer is verified. Errors (all `TransportError`, with the stderr tail in the message):
 * ERR_PLUGIN_EXITED, ERR_HANDSHAKE_TIMEOUT, ERR_HANDSHAKE_INVALID, ERR_UNSUPPORTED_VERSION,
 * ERR_UNSUPPORTED_PROTOCOL, ERR_PEER_MISMATCH.
 */
export async function startPlugin(options: StartPluginOptions): Promise<PluginProcess> {
  checkOptionKeys(options, START_PLUGIN_OPTION_KEYS, '');
  const versions = options.versions ?? [1];
  const native = capabilities().native;
  const verifyPeer = options.verifyPeer ?? native;
  if (verifyPeer && !native) {
    throw new TransportError('ERR_NATIVE_REQUIRED', `verifyPeer needs the native addon: ${capabilities().reason ?? 'not loaded'}.`);
  }
  // AutoMTLS: our certificate goes to the plugin; the plugin's comes back in the handshake.
  const mtlsCert = options.autoMTLS ? generateAutoMtlsCert() : null;
  const what = `plugin ${options.command}`;
  // The only directory whose sockets are ever removed; its fd is held until kill() or failure.
  const sockets = PluginSocketDir.open(options.socketDir, options.cwd);
  let child: ChildProcess;
  try {
    child = spawn(options.command, [...(options.args ?? [])], {
      cwd: options.cwd,
      env: pluginEnv(options, versions, sockets.path, mtlsCert?.certPem ?? null),
      stdio: ['ignore', 'pipe', 'pipe'],
      // Its own process group (and session), whose id is its pid: kill() and the exit hook end
      // the whole group, so a wrapper script's children do not outlive the plugin.
      detached: true,
    });
  } catch (err) {
    sockets.release();
    if (err instanceof TransportError) throw err;
    throw new TransportError(GoPluginErrorCodes.PLUGIN_EXITED, `Could not start ${what}: ${(err as Error).message}.`, { cause: err });
  }
  // The process that served the socket at start (pid and start time), killed with the group in
  // case it left it (setsid). Set once verified.
  let server: { pid: number; startTime: string } | null = null;
  /** Ends the plugin: its process group, and the process that served its socket. Synchronous. */
  const killAll = () => {
    killGroup(child);
    if (server && server.pid !== child.pid) {
      const stat = readProcStat(server.pid);
      if (stat && stat.startTime === server.startTime) {
        try {
          process.kill(server.pid, 'SIGKILL');
        } catch {
          /* gone meanwhile */
        }
      }
    }
  };
  const exitHook = () => {
    killAll();
    sockets.release();
  };
  process.on('exit', exitHook);

  const stderrChunks: Buffer[] = [];
  let stderrLen = 0;

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => {
      // The exit hook stays while the group has members (a wrapper's orphans): a host that
      // exits still ends them. Looked at again each second (unref'd, bounded) until it is empty.
      if (!groupAlive(child)) {
        process.removeListener('exit', exitHook);
      } else {
        let checks = 0;
        const recheck = setInterval(() => {
          if (!groupAlive(child) || ++checks >= 600) {
            clearInterval(recheck);
            if (!groupAlive(child)) process.removeListener('exit', exitHook);
          }
        }, 1000);
        recheck.unref();
      }
      resolve({ code, signal });
    });
  });
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  void spawnError.then(() => process.removeListener('exit', exitHook));
  child.stderr!.on('data', (chunk: Buffer) => {
    stderrChunks.push(chunk);
    stderrLen += chunk.length;
    while (stderrLen > STDERR_TAIL * 2 && stderrChunks.length > 1) stderrLen -= stderrChunks.shift()!.length;
    options.onStderr?.(chunk);
  });
  const stderrDone = new Promise<void>((r) => child.stderr!.once('close', () => r()));
  const stderrTail = () => tailOf(stderrChunks);
  const withStderr = async (msg: string): Promise<string> => {
    // Let the plugin's last words arrive (bounded: a grandchild may hold the pipe open).
    await Promise.race([stderrDone, new Promise((r) => setTimeout(r, 200))]);
    const tail = stderrTail().trimEnd();
    return tail ? `${msg}\n--- plugin stderr (last ${Math.min(tail.length, STDERR_TAIL)} chars) ---\n${tail}` : `${msg} (the plugin wrote nothing to stderr)`;
  };

  const isChild = (pid: number) => child.pid !== undefined && isSameOrDescendant(pid, child.pid);
  let announced: string | null = null; // the socket the handshake names, once parsed
  const fail = async (code: string, msg: string, cause?: unknown): Promise<never> => {
    // Only a running child can show which socket is its own: ask before killing it.
    if (announced !== null) sockets.confirm(announced, isChild);
    killAll();
    await Promise.race([exited, spawnError]);
    await serverGone(server);
    process.removeListener('exit', exitHook);
    const full = await withStderr(msg);
    sockets.release();
    throw new TransportError(code, full, cause === undefined ? {} : { cause });
  };

  // Read the first stdout line.
  const startTimeoutMs = options.startTimeoutMs ?? 60000;
  type First = { kind: 'line'; line: string } | { kind: 'eof' } | { kind: 'timeout' } | { kind: 'spawn'; err: Error } | { kind: 'toolong' };
  let buffered = Buffer.alloc(0);
  let gotLine = false;
  const first = await new Promise<First>((resolve) => {
    const timer = setTimeout(() => resolve({ kind: 'timeout' }), startTimeoutMs);
    const done = (f: First) => {
      clearTimeout(timer);
      resolve(f);
    };
    child.stdout!.on('data', (chunk: Buffer) => {
      if (gotLine) {
        options.onStdout?.(chunk);
        return;
      }
      buffered = Buffer.concat([buffered, chunk]);
      const nl = buffered.indexOf(0x0a);
      if (nl >= 0) {
        gotLine = true;
        const rest = buffered.subarray(nl + 1);
        if (rest.length) options.onStdout?.(rest);
        done({ kind: 'line', line: buffered.subarray(0, nl).toString('utf8') });
      } else if (buffered.length > MAX_LINE) {
        gotLine = true;
        done({ kind: 'toolong' });
      }
    });
    child.stdout!.once('end', () => {
      if (!gotLine) done({ kind: 'eof' });
    });
    spawnError.then((err) => done({ kind: 'spawn', err }));
  });

  switch (first.kind) {
    case 'spawn':
      return fail(GoPluginErrorCodes.PLUGIN_EXITED, `Could not start ${what}: ${first.err.message}.`, first.err);
    case 'timeout':
      return fail(
        GoPluginErrorCodes.HANDSHAKE_TIMEOUT,
        `Timed out after ${startTimeoutMs} ms waiting for the go-plugin handshake line from ${what} (pid ${child.pid}).`,
      );
    case 'toolong':
      return fail(GoPluginErrorCodes.HANDSHAKE_INVALID, `${what} printed over ${MAX_LINE} bytes on stdout without a newline; that is not a go-plugin handshake.`);
    case 'eof': {
      const last = buffered.length ? ` It printed ${JSON.stringify(buffered.toString('utf8').slice(0, 200))} without a newline.` : '';
      const r = await Promise.race([exited, new Promise<null>((res) => setTimeout(() => res(null), 1000))]);
      const how = r ? (r.signal ? `was killed by ${r.signal}` : `exited with code ${r.code}`) : 'closed its stdout';
      return fail(GoPluginErrorCodes.PLUGIN_EXITED, `${what} (pid ${child.pid}) ${how} before printing the go-plugin handshake line.${last}`);
    }
    case 'line':
      break;
  }
  let handshake: Handshake;
  try {
    handshake = parseHandshakeLine(first.line, { appVersions: versions, clientCertSent: mtlsCert !== null });
  } catch (err) {
    const e = err as TransportError;
    // A well-formed line with a version we refuse still names the child's socket: clean it up.
    // Parsed again as the first time, minus the version check (an AutoMTLS line has a cert).
    if (e.code === GoPluginErrorCodes.UNSUPPORTED_VERSION) {
      try {
        const h = parseHandshakeLine(first.line, { clientCertSent: mtlsCert !== null });
        if (h.network === 'unix') announced = h.address;
      } catch {
        /* core version mismatch: not parseable further */
      }
    }
    return fail(e.code, `${what}: ${e.message}`, err);
  }
  if (handshake.protocol !== 'grpc') {
    return fail(GoPluginErrorCodes.UNSUPPORTED_PROTOCOL, `${what} speaks go-plugin's ${handshake.protocol} protocol; only grpc is supported.`);
  }
  if (handshake.network !== 'unix') {
    return fail(GoPluginErrorCodes.UNSUPPORTED_PROTOCOL, `${what} listens on ${handshake.network} ${handshake.address}; this host connects only to unix sockets.`);
  }
  let tlsOptions: MutualTlsOptions | null = null;
  if (mtlsCert) {
    if (!handshake.serverCert) {
      return fail(
        GoPluginErrorCodes.HANDSHAKE_INVALID,
        `${what} printed no AutoMTLS certificate in its handshake (6th field) although this host sent PLUGIN_CLIENT_CERT: ` +
          'the plugin does not support AutoMTLS (or ignored it); refusing to talk to it without TLS.',
      );
    }
    let serverCertPem: string;
    try {
      serverCertPem = parseHandshakeCert(handshake.serverCert).toString();
    } catch (err) {
      return fail(GoPluginErrorCodes.HANDSHAKE_INVALID, `${what}: ${(err as Error).message}`, err);
    }
    tlsOptions = { serverCertPem, certPem: mtlsCert.certPem, keyPem: mtlsCert.keyPem };
  }
  const address = handshake.address;
  const childPid = child.pid!;
  if (handshake.network === 'unix') announced = address;

  // Peer verification: every connection (this probe and each grpc-js makes) must be served by
  // the child or one of its descendants.
  const connector = new UnixSocketTransport({ connectTimeoutMs: 5000 });
  const peerPolicy = verifyPeer
    ? { verify: (cred: PeerCredentials) => isSameOrDescendant(cred.pid, childPid) }
    : null;
  const connectVerified = async (): Promise<Socket> => {
    try {
      return await connector.connect(address, { peer: peerPolicy });
    } catch (err) {
      if (err instanceof TransportError && err.code === 'ERR_PEER_REJECTED') {
        throw new TransportError(
          GoPluginErrorCodes.PEER_MISMATCH,
          `The socket ${address} named in the handshake of ${what} (pid ${childPid}) is served by another process ` +
            `(${err.message}); refusing to talk to it.`,
          { cause: err },
        );
      }
      throw err;
    }
  };
  try {
    const probe = await connectVerified();
    // Pin the process that serves the socket (verified: the child or a descendant), so kill()
    // ends it even if it left the child's process group.
    const servedBy = (probe as Socket & { peer?: PeerCredentials | null }).peer;
    const servedStat = servedBy ? readProcStat(servedBy.pid) : null;
    if (servedBy && servedStat) server = { pid: servedBy.pid, startTime: servedStat.startTime };
    if (tlsOptions) {
      try {
        (await wrapMutualTls(probe, tlsOptions)).destroy();
      } catch (err) {
        probe.destroy();
        const e = err as Error & { code?: string };
        throw e.code === GoPluginErrorCodes.TLS_PEER
          ? e
          : new TransportError(GoPluginErrorCodes.TLS_PEER, `AutoMTLS handshake with ${address} failed: ${e.message}`, { cause: err });
      }
    } else {
      probe.destroy();
    }
  } catch (err) {
    await connector.close();
    const e = err as TransportError;
    return fail(e.code ?? 'ERR_TRANSPORT', `${what}: ${e.message}`, err);
  }

  // In the caller's socketDir, what kill() may remove: the socket the child is seen to serve.
  sockets.confirm(address, isChild);

  const credentials = new VerifiedUnixCredentials(connectVerified, tlsOptions);
  const target = `unix:${address}`;
  const channel = new grpc.Channel(target, credentials, {
    'grpc.max_receive_message_length': -1,
    ...options.channelOptions,
  });
  const services = goPluginServices();
  const makeClient = <T extends grpc.Client>(ctor: any): T => {
    return new ctor(target, credentials, { channelOverride: channel }) as T;
  };

  let killing: Promise<void> | null = null;
  const kill = (): Promise<void> => {
    killing ??= (async () => {
      const graceMs = options.killGraceMs ?? 2000;
      if (child.exitCode === null && child.signalCode === null) {
        const controller = makeClient<grpc.Client>(services.controller);
        await new Promise<void>((resolve) => {
          (controller as any).Shutdown({}, { deadline: Date.now() + graceMs }, () => resolve());
        });
        const r = await Promise.race([exited, new Promise<null>((res) => setTimeout(() => res(null), graceMs))]);
        if (!r) {
          killAll();
          await exited;
        }
      }
      // Whatever is left of the plugin (a wrapper's children, a server that left the group).
      killAll();
      await serverGone(server);
      process.removeListener('exit', exitHook);
      // Clients share `channel` (channelOverride): closing it closes them all.
      channel.close();
      await connector.close();
      // A plugin killed (or crashed) leaves its socket behind; the directory decides what goes.
      sockets.release();
    })();
    return killing;
  };

  const plugin: PluginProcess = {
    pid: childPid,
    handshake,
    appVersion: handshake.appVersion,
    address,
    target,
    credentials,
    channel,
    client: makeClient,
    ping(timeoutMs = 5000) {
      const health = makeClient<grpc.Client>(services.health);
      return new Promise<void>((resolve, reject) => {
        (health as any).Check({ service: HEALTH_SERVICE_NAME }, { deadline: Date.now() + timeoutMs }, (err: Error | null, res: any) => {
          if (err) reject(new TransportError(GoPluginErrorCodes.PLUGIN_CALL, `Health check of ${what} failed: ${err.message}`, { cause: err }));
          else if (res?.status !== 'SERVING') reject(new TransportError(GoPluginErrorCodes.PLUGIN_CALL, `${what} reports ${res?.status} for service "plugin".`));
          else resolve();
        });
      });
    },
    streamStdio(onData) {
      const c = makeClient<grpc.Client>(services.stdio);
      return new Promise<void>((resolve, reject) => {
        const call = (c as any).StreamStdio({}) as grpc.ClientReadableStream<StdioData>;
        call.on('data', (d: StdioData) => onData(d.channel === 'STDERR' ? 'stderr' : 'stdout', d.data));
        call.on('error', (err: grpc.ServiceError) => {
          if (err.code === grpc.status.CANCELLED || err.code === grpc.status.UNAVAILABLE) resolve();
          else reject(new TransportError(GoPluginErrorCodes.PLUGIN_CALL, `StreamStdio of ${what} failed: ${err.message}`, { cause: err }));
        });
        call.on('end', () => resolve());
      });
    },
    stderrTail,
    exited,
    kill,
    tls: tlsOptions !== null,
  };
  if (options.onStdio) {
    const onStdio = options.onStdio;
    plugin.streamStdio(onStdio).catch((err: TransportError) => {
      // go-plugin's host logs and goes on when the plugin has no stdio service.
      const cause = err.cause as grpc.ServiceError | undefined;
      if (cause?.code !== grpc.status.UNIMPLEMENTED) onStdio('stderr', Buffer.from(`plugsock: ${err.message}\n`));
    });
  }
  return plugin;
}

