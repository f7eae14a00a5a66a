/**
 * Plugin side: what servePlugin decides before it serves: the magic cookie and the version agreed
 * with the host, the socket, the handshake line, the server's credentials and its shutdown
 * options.
 */
import { randomInt } from 'node:crypto';
import { join } from 'node:path';
import type { SecureContext } from 'node:tls';
// biome-ignore lint/suspicious/noTsIgnore: in the published .d.ts; @ts-expect-error would fail wherever grpc-js is installed
/** @ts-ignore grpc-js is an optional peer: without it (a Terraform provider needs none) these types are `any` rather than an error. */
import type * as grpc from '@grpc/grpc-js';
import { ErrorCodes, TransportError } from '../errors';
import type { PeerPolicy } from '../peer';
import type { PluginBroker } from './broker';
import { UnixSocketTransport } from '../transport';
import { MAGIC_COOKIE_MESSAGE, checkMagicCookie, negotiateVersion, readPluginEnv, resolveGroup, type PluginEnv } from './env';
import { GoPluginErrorCodes } from './errors';
import { writeStdout } from './stdout-write';
import { buildHandshakeLine } from './handshake';
import type { PluginLogger } from './log';
import type { PluginMtls } from './mtls';
import { pinnedServerContext } from './pinned-tls';
import { cannotServe } from './serve-lifetime';

/** Registers the plugin's own services on the gRPC server for the negotiated version. */
export type RegisterServices<Server = grpc.Server> = (server: Server, appVersion: number, context: { broker: PluginBroker }) => void | Promise<void>;

/** The options negotiate() reads (see ServePluginOptions). */
export interface NegotiateOptions<Server = grpc.Server> {
  magicCookieKey: string;
  magicCookieValue: string;
  versions?: Record<number, RegisterServices<Server>>;
  protocolVersion?: number;
  register?: RegisterServices<Server>;
  env?: NodeJS.ProcessEnv;
}

/** Default time limit of the onShutdown hook: under go-plugin's 2 s grace before its host SIGKILLs. */
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 1500;

/**
 * The magic cookie (with ownProcess, a wrong one prints go-plugin's explanation and exits 1; in
 * debug mode it is not looked at, as in go-plugin's test mode), the plugin's versions, the
 * go-plugin environment and the version agreed with the host (see negotiateVersion: without
 * PLUGIN_PROTOCOL_VERSIONS, as when started by hand, the plugin's lowest version).
 */
export function negotiate<Server>(
  options: NegotiateOptions<Server>,
  ownProcess: boolean,
  debug: boolean,
  log: PluginLogger,
): { env: PluginEnv; appVersion: number; register: RegisterServices<Server> } {
  const processEnv = options.env ?? process.env;
  if (!debug) {
    if (!options.magicCookieKey || !options.magicCookieValue) {
      const msg =
        'Misconfigured ServeConfig given to serve this plugin: no magic cookie\n' +
        'key or value was set. Please notify the plugin author and report\n' +
        'this as a bug.\n';
      cannotServe(ownProcess, msg, new TransportError(ErrorCodes.INVALID_OPTION, msg.replace(/\n/g, ' ').trim()));
    }
    if (!checkMagicCookie(processEnv, options.magicCookieKey, options.magicCookieValue)) {
      cannotServe(ownProcess, MAGIC_COOKIE_MESSAGE, new TransportError(GoPluginErrorCodes.BAD_COOKIE, MAGIC_COOKIE_MESSAGE.replace(/\n/g, ' ').trim()));
    }
  }
  const versions = new Map<number, RegisterServices<Server>>();
  for (const [k, fn] of Object.entries(options.versions ?? {})) versions.set(Number(k), fn);
  if (options.register) versions.set(options.protocolVersion ?? 1, options.register);
  if (versions.size === 0) {
    throw new TransportError(ErrorCodes.INVALID_OPTION, 'servePlugin needs `versions` or `register` (with `protocolVersion`).');
  }
  const env = readPluginEnv(processEnv);
  for (const bad of env.invalidVersions) log.warn(`server sent invalid plugin version ${JSON.stringify(bad)}`);
  const appVersion = negotiateVersion([...versions.keys()], env.hostVersions);
  return { env, appVersion, register: versions.get(appVersion)! };
}

/** Checks `onShutdown` and `shutdownTimeoutMs`; returns the time limit. */
export function shutdownOptions(options: { onShutdown?: unknown; shutdownTimeoutMs?: number }): number {
  if (options.onShutdown !== undefined && typeof options.onShutdown !== 'function') {
    throw new TransportError(ErrorCodes.INVALID_OPTION, `servePlugin: onShutdown must be a function, got ${typeof options.onShutdown}.`);
  }
  const ms = options.shutdownTimeoutMs ?? DEFAULT_SHUTDOWN_TIMEOUT_MS;
  if (!Number.isSafeInteger(ms) || ms < 1 || ms > 2 ** 31 - 1) {
    throw new TransportError(
      ErrorCodes.INVALID_OPTION,
      `servePlugin: shutdownTimeoutMs must be an integer number of ms from 1 to 2147483647, got ${String(ms)}.`,
    );
  }
  return ms;
}

/** The plugin's socket: in PLUGIN_UNIX_SOCKET_DIR when set, with PLUGIN_UNIX_SOCKET_GROUP's group. */
export function listener(env: PluginEnv, mode: number | undefined, peer: PeerPolicy | null): UnixSocketTransport {
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

/**
 * The handshake line; a 7th field (no multiplexing) only when the host set PLUGIN_MULTIPLEX_GRPC.
 * Printed to `out`: the process's stdout (stdout-write.ts), the caller's stream, or nowhere (null:
 * debug mode, where no host reads it, as in go-plugin's test mode).
 */
export function printHandshake(
  out: { write(s: string): unknown } | 'stdout' | null,
  appVersion: number,
  address: string,
  mtls: PluginMtls | null,
  env: PluginEnv,
): string {
  const line = buildHandshakeLine({
    appVersion,
    network: 'unix',
    address,
    protocol: 'grpc',
    serverCert: mtls?.handshakeField ?? null,
    ...(env.multiplexSet ? { multiplex: false } : {}),
  });
  if (out === 'stdout') writeStdout(`${line}\n`);
  else out?.write(`${line}\n`);
  return line;
}

/**
 * AutoMTLS (go-plugin server.go): TLS that requires the host's certificate. plugsock makes the
 * TLS itself (pinned-tls.ts: no trust store to build) and hands grpc-js the TLS socket, so the
 * gRPC server itself serves h2 on what it is given; null without AutoMTLS.
 */
export interface ServerTls {
  /** Our certificate and key, loaded once. */
  context: SecureContext;
  /** PLUGIN_CLIENT_CERT's DER: the only client certificate accepted. */
  hostDer: Buffer;
}

export function serverTls(mtls: PluginMtls | null): ServerTls | null {
  if (!mtls) return null;
  return { context: pinnedServerContext(mtls.certPem, mtls.keyPem), hostDer: mtls.hostDer };
}
