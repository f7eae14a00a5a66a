/**
 * The go-plugin environment: what a host puts into its plugin's environment and how a plugin
 * reads it (magic cookie, protocol versions, socket directory and group, AutoMTLS certificate,
 * multiplexing). Semantics follow HashiCorp go-plugin (client.go, server.go); see
 * docs/go-plugin.md for the facts and their sources.
 */
import { readFileSync } from 'node:fs';
import { ErrorCodes, TransportError } from '../errors';
import { GoPluginErrorCodes } from './errors';
import { parseGoBool, parseIntField } from './strconv';

/** Environment variables of the go-plugin protocol. */
export const ENV = {
  /** The host's app versions, comma-separated. */
  PROTOCOL_VERSIONS: 'PLUGIN_PROTOCOL_VERSIONS',
  /** Lowest TCP port a plugin may listen on (tcp only; always set, 0 by default). */
  MIN_PORT: 'PLUGIN_MIN_PORT',
  /** Highest TCP port a plugin may listen on (tcp only; always set, 0 by default). */
  MAX_PORT: 'PLUGIN_MAX_PORT',
  /** AutoMTLS: the host's certificate (PEM); the plugin answers with its own in the handshake. */
  CLIENT_CERT: 'PLUGIN_CLIENT_CERT',
  /** The directory the plugin creates its socket in (go-plugin 1.5+). */
  UNIX_SOCKET_DIR: 'PLUGIN_UNIX_SOCKET_DIR',
  /** Group name or gid the plugin gives its socket, with mode 0660 (go-plugin 1.5+). */
  UNIX_SOCKET_GROUP: 'PLUGIN_UNIX_SOCKET_GROUP',
  /** The host speaks gRPC broker multiplexing (go-plugin 1.6+); the plugin answers in a 7th field. */
  MULTIPLEX_GRPC: 'PLUGIN_MULTIPLEX_GRPC',
} as const;

/**
 * Parses PLUGIN_PROTOCOL_VERSIONS as go-plugin's server does: comma-separated, each entry must
 * be a plain decimal integer (no spaces); invalid entries are skipped and reported in `invalid`.
 */
export function parseProtocolVersions(value: string | undefined): {
  /** The valid entries, in the order given. */
  versions: number[];
  /** The entries that were not plain decimal integers (skipped). */
  invalid: string[];
} {
  const versions: number[] = [];
  const bad: string[] = [];
  if (!value) return { versions, invalid: bad };
  for (const s of value.split(',')) {
    const n = parseIntField(s);
    if (n === null) bad.push(s);
    else versions.push(n);
  }
  return { versions, invalid: bad };
}

/**
 * go-plugin's server-side negotiation: the highest version that both sides list; when there is
 * none (or the host sent no list), the plugin's lowest version, and the host reports the mismatch.
 */
export function negotiateVersion(pluginVersions: readonly number[], hostVersions: readonly number[]): number {
  if (pluginVersions.length === 0) throw new TransportError(ErrorCodes.INVALID_OPTION, 'the plugin offers no protocol version');
  const sorted = [...pluginVersions].sort((a, b) => b - a);
  for (const v of sorted) if (hostVersions.includes(v)) return v;
  return sorted[sorted.length - 1]!;
}

/** go-plugin's magic-cookie check: the variable must equal the value exactly. */
export function checkMagicCookie(env: NodeJS.ProcessEnv, key: string, value: string): boolean {
  return env[key] === value;
}

/** The text go-plugin prints on stderr (before exiting 1) when the cookie does not match. */
export const MAGIC_COOKIE_MESSAGE =
  'This binary is a plugin. These are not meant to be executed directly.\n' +
  'Please execute the program that consumes these plugins, which will\n' +
  'load any plugins automatically\n';

/**
 * PLUGIN_MIN_PORT / PLUGIN_MAX_PORT as go-plugin reads them for tcp: empty means 0, otherwise a
 * base-10 integer; min > max is an error. (0..0 means "any free port".)
 */
export function parsePortRange(env: NodeJS.ProcessEnv): {
  /** PLUGIN_MIN_PORT (0 when empty or unset). */
  min: number;
  /** PLUGIN_MAX_PORT (0 when empty or unset). */
  max: number;
} {
  const read = (name: string): number => {
    const v = env[name];
    if (v === undefined || v === '') return 0;
    const n = parseIntField(v);
    if (n === null || n < 0 || n > 65535) {
      throw new TransportError(GoPluginErrorCodes.INVALID_ENV, `Couldn't get value from ${name}: ${JSON.stringify(v)} is not a port number.`);
    }
    return n;
  };
  const min = read(ENV.MIN_PORT);
  const max = read(ENV.MAX_PORT);
  if (min > max) {
    throw new TransportError(GoPluginErrorCodes.INVALID_ENV, `${ENV.MIN_PORT} value of ${min} is greater than ${ENV.MAX_PORT} value of ${max}.`);
  }
  return { min, max };
}

/**
 * Resolves PLUGIN_UNIX_SOCKET_GROUP to a gid as go-plugin does: a decimal number is a gid,
 * anything else a group name looked up in /etc/group.
 */
export function resolveGroup(group: string, groupFile = '/etc/group'): number {
  if (/^\d+$/.test(group)) return Number(group);
  let text = '';
  try {
    text = readFileSync(groupFile, 'utf8');
  } catch (err) {
    throw new TransportError(GoPluginErrorCodes.INVALID_ENV, `Cannot read ${groupFile} to resolve group ${JSON.stringify(group)}.`, { cause: err });
  }
  for (const l of text.split('\n')) {
    const [name, , gid] = l.split(':');
    if (name === group && gid !== undefined && /^\d+$/.test(gid)) return Number(gid);
  }
  throw new TransportError(
    GoPluginErrorCodes.INVALID_ENV,
    `${ENV.UNIX_SOCKET_GROUP}=${JSON.stringify(group)}: no such group (not a gid and not in ${groupFile}).`,
  );
}

/** What a plugin reads from its environment. */
export interface PluginEnv {
  /** Host's app versions (PLUGIN_PROTOCOL_VERSIONS); empty when not set. */
  hostVersions: number[];
  /** Entries of PLUGIN_PROTOCOL_VERSIONS that were not integers (skipped, as go-plugin does). */
  invalidVersions: string[];
  /** PLUGIN_UNIX_SOCKET_DIR: where to create the socket; null when unset or empty. */
  unixSocketDir: string | null;
  /** PLUGIN_UNIX_SOCKET_GROUP: the socket's group (name or gid); null when unset or empty. */
  unixSocketGroup: string | null;
  /** PLUGIN_CLIENT_CERT (PEM), for AutoMTLS. */
  clientCert: string | null;
  /** PLUGIN_MULTIPLEX_GRPC parsed as a Go bool (go-plugin multiplexes only when true). */
  multiplex: boolean;
  /** Whether PLUGIN_MULTIPLEX_GRPC is set at all (go-plugin then adds the 7th field). */
  multiplexSet: boolean;
}

/** What a plugin reads from its environment (default `process.env`), as go-plugin's server reads it. */
export function readPluginEnv(env: NodeJS.ProcessEnv = process.env): PluginEnv {
  const { versions, invalid: bad } = parseProtocolVersions(env[ENV.PROTOCOL_VERSIONS]);
  const mux = env[ENV.MULTIPLEX_GRPC];
  return {
    hostVersions: versions,
    invalidVersions: bad,
    unixSocketDir: env[ENV.UNIX_SOCKET_DIR] || null,
    unixSocketGroup: env[ENV.UNIX_SOCKET_GROUP] || null,
    clientCert: env[ENV.CLIENT_CERT] || null,
    multiplex: mux !== undefined && parseGoBool(mux) === true,
    multiplexSet: mux !== undefined && mux !== '',
  };
}

/** What `buildHostEnv` puts into a plugin's environment. */
export interface HostEnvOptions {
  /** The magic cookie's variable name (a UX check, not security: both sides must agree). */
  magicCookieKey: string;
  /** The magic cookie's value. */
  magicCookieValue: string;
  /** App protocol versions the host supports. */
  versions: readonly number[];
  /** PLUGIN_MIN_PORT (default 0). */
  minPort?: number;
  /** PLUGIN_MAX_PORT (default 0). */
  maxPort?: number;
  /** PLUGIN_UNIX_SOCKET_DIR: where the plugin creates its socket. */
  unixSocketDir?: string;
  /** PLUGIN_UNIX_SOCKET_GROUP: the group (name or gid) the plugin gives its socket. */
  unixSocketGroup?: string | number;
  /** PLUGIN_CLIENT_CERT: the host's AutoMTLS certificate (PEM). */
  clientCert?: string;
  /** Sets PLUGIN_MULTIPLEX_GRPC=true. */
  multiplex?: boolean;
}

/** The variables a go-plugin host adds to the plugin's environment. */
export function buildHostEnv(o: HostEnvOptions): Record<string, string> {
  if (!o.magicCookieKey || !o.magicCookieValue) {
    throw new TransportError(ErrorCodes.INVALID_OPTION, 'magicCookieKey and magicCookieValue must both be non-empty.');
  }
  if (o.versions.length === 0 || !o.versions.every((v) => Number.isSafeInteger(v) && v >= 0)) {
    throw new TransportError(ErrorCodes.INVALID_OPTION, 'versions must be a non-empty list of non-negative integers.');
  }
  const env: Record<string, string> = {
    [o.magicCookieKey]: o.magicCookieValue,
    [ENV.MIN_PORT]: String(o.minPort ?? 0),
    [ENV.MAX_PORT]: String(o.maxPort ?? 0),
    [ENV.PROTOCOL_VERSIONS]: o.versions.join(','),
  };
  if (o.unixSocketDir) env[ENV.UNIX_SOCKET_DIR] = o.unixSocketDir;
  if (o.unixSocketGroup !== undefined && o.unixSocketGroup !== '') env[ENV.UNIX_SOCKET_GROUP] = String(o.unixSocketGroup);
  if (o.clientCert) env[ENV.CLIENT_CERT] = o.clientCert;
  if (o.multiplex) env[ENV.MULTIPLEX_GRPC] = 'true';
  return env;
}

/**
 * The plugin's whole environment: `base` (default `process.env`) with the go-plugin variables
 * on top. Variables only this host may decide are never passed on from the base environment (a
 * Node host that is itself a plugin has them in process.env); PLUGIN_MULTIPLEX_GRPC would make a
 * go-plugin >= 1.6 plugin wrap the connection in yamux, which this host does not speak.
 */
export function pluginProcessEnv(base: NodeJS.ProcessEnv | undefined, o: HostEnvOptions): NodeJS.ProcessEnv {
  const baseEnv: NodeJS.ProcessEnv = { ...(base ?? process.env) };
  for (const k of [ENV.MULTIPLEX_GRPC, ENV.CLIENT_CERT, ENV.UNIX_SOCKET_DIR, ENV.UNIX_SOCKET_GROUP]) delete baseEnv[k];
  return { ...baseEnv, ...buildHostEnv(o) };
}
