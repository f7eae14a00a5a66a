/**
 * The go-plugin handshake: the one line a plugin prints on stdout, and the environment a host
 * passes to the plugin. Semantics follow HashiCorp go-plugin (client.go, server.go); see
 * docs/go-plugin.md for the facts and their sources.
 */
import { readFileSync } from 'node:fs';
import { TransportError } from '../errors';

/** go-plugin's own protocol version (`CoreProtocolVersion`). It has always been 1. */
export const CORE_PROTOCOL_VERSION = 1;

/** go-plugin reads a 6th field as an AutoMTLS certificate only when it is longer than this. */
export const CERT_MIN_LENGTH = 50;

/** Environment variables of the go-plugin protocol. */
export const ENV = {
  PROTOCOL_VERSIONS: 'PLUGIN_PROTOCOL_VERSIONS',
  MIN_PORT: 'PLUGIN_MIN_PORT',
  MAX_PORT: 'PLUGIN_MAX_PORT',
  CLIENT_CERT: 'PLUGIN_CLIENT_CERT',
  UNIX_SOCKET_DIR: 'PLUGIN_UNIX_SOCKET_DIR',
  UNIX_SOCKET_GROUP: 'PLUGIN_UNIX_SOCKET_GROUP',
  MULTIPLEX_GRPC: 'PLUGIN_MULTIPLEX_GRPC',
} as const;

/** Error codes of the go-plugin layer. */
export const GoPluginErrorCodes = {
  /** The plugin did not print a handshake line within the timeout. */
  HANDSHAKE_TIMEOUT: 'ERR_HANDSHAKE_TIMEOUT',
  /** The first stdout line is not a valid handshake line. */
  HANDSHAKE_INVALID: 'ERR_HANDSHAKE_INVALID',
  /** The plugin exited (or closed stdout) before a handshake line. */
  PLUGIN_EXITED: 'ERR_PLUGIN_EXITED',
  /** Core or app protocol version not supported by this side. */
  UNSUPPORTED_VERSION: 'ERR_UNSUPPORTED_VERSION',
  /** A valid protocol this side does not speak (netrpc). */
  UNSUPPORTED_PROTOCOL: 'ERR_UNSUPPORTED_PROTOCOL',
  /** The socket in the handshake is served by a process that is not the plugin (or its child). */
  PEER_MISMATCH: 'ERR_PEER_MISMATCH',
  /** The magic cookie is missing or wrong (plugin side). */
  BAD_COOKIE: 'ERR_MAGIC_COOKIE',
  /** A go-plugin environment variable has an invalid value. */
  INVALID_ENV: 'ERR_INVALID_ENV',
  /** A call to the plugin (Shutdown, health) failed. */
  PLUGIN_CALL: 'ERR_PLUGIN_CALL',
  /** AutoMTLS: the peer's TLS certificate is not the one exchanged at start-up. */
  TLS_PEER: 'ERR_TLS_PEER',
  /** Broker: no connection info for a service id in time, or an unsupported kind of it. */
  BROKER: 'ERR_BROKER',
  /** Plugin side: the host the plugin serves (pinned at start) has exited. */
  HOST_GONE: 'ERR_PLUGIN_HOST_GONE',
  /** Plugin side: no admitted host connected within hostConnectTimeoutMs. */
  HOST_TIMEOUT: 'ERR_PLUGIN_HOST_TIMEOUT',
} as const;

export type Network = 'unix' | 'tcp';
export type RpcProtocol = 'grpc' | 'netrpc';

/** A parsed handshake line. */
export interface Handshake {
  /** Always 1 (anything else is rejected). */
  coreVersion: number;
  /** The app protocol version the plugin chose. */
  appVersion: number;
  network: Network;
  /** Absolute socket path (unix) or host:port (tcp). */
  address: string;
  /** `netrpc` when the line has only four fields (go-plugin's default). */
  protocol: RpcProtocol;
  /** Base64 (unpadded, standard alphabet) DER certificate, when the 6th field is one (> 50 chars). */
  serverCert: string | null;
  /** The 7th field: whether the plugin supports gRPC broker multiplexing; null when absent. */
  multiplex: boolean | null;
}

export interface ParseHandshakeOptions {
  /** App versions the host accepts; a line with another version gives ERR_UNSUPPORTED_VERSION. */
  appVersions?: readonly number[];
  /**
   * Whether the host sent PLUGIN_CLIENT_CERT (AutoMTLS). When false (the default), a
   * certificate in the 6th field is an error: the host has no key to do TLS with.
   */
  clientCertSent?: boolean;
  /** Whether the host set PLUGIN_MULTIPLEX_GRPC; when false a 7th field is an error. */
  multiplexRequested?: boolean;
}

function invalid(message: string, line: string): TransportError {
  return new TransportError(
    GoPluginErrorCodes.HANDSHAKE_INVALID,
    `Invalid go-plugin handshake line ${JSON.stringify(truncate(line, 300))}: ${message}`,
  );
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}...` : s;
}

const INT_RE = /^[+-]?\d+$/; // what Go's strconv.Atoi accepts (decimal, optional sign)
const HANDSHAKE_INSIDE_RE = /\d+\|\d+\|(unix|tcp)\|/;

/**
 * What both sides agree an address is: no '|' and no control character (the line is split on
 * '|' and trimmed), a unix address absolute, a tcp address host:port. Returns why not, or null.
 */
export function addressProblem(network: Network, address: string): string | null {
  if (address === '') return 'the address field is empty';
  if (/[|\x00-\x1f\x7f]/.test(address)) return `address ${JSON.stringify(address)} contains '|' or a control character`;
  if (network === 'unix' && !address.startsWith('/')) return `unix socket address ${JSON.stringify(address)} is not an absolute path`;
  if (network === 'tcp') {
    const m = /^(.+):(\d{1,5})$/.exec(address);
    if (!m || Number(m[2]) > 65535) return `tcp address ${JSON.stringify(address)} is not host:port`;
  }
  return null;
}

function parseIntField(s: string): number | null {
  if (!INT_RE.test(s)) return null;
  const n = Number(s);
  return Number.isSafeInteger(n) ? n : null;
}

/** Go's strconv.ParseBool. */
export function parseGoBool(s: string): boolean | null {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false;
  return null;
}

/**
 * Parses and validates a handshake line (`CORE|APP|NETWORK|ADDR|PROTOCOL[|CERT[|MUX]]`).
 * Surrounding whitespace is trimmed, as go-plugin does. Throws `TransportError`:
 * ERR_HANDSHAKE_INVALID for a malformed line, ERR_UNSUPPORTED_VERSION for a core version other
 * than 1 or an app version not in `appVersions`.
 */
export function parseHandshakeLine(line: string, options: ParseHandshakeOptions = {}): Handshake {
  if (typeof line !== 'string') throw invalid(`expected a string, got ${line === null ? 'null' : typeof line}`, String(line));
  options = options ?? {};
  const raw = line;
  line = line.trim();
  if (line === '') throw invalid('the line is empty (the plugin printed an empty first line)', raw);
  const parts = line.split('|');
  if (parts.length < 4) {
    throw invalid(
      `expected at least 4 '|'-separated fields CORE|APP|NETWORK|ADDR[|PROTOCOL[|CERT]], got ${parts.length}. ` +
        `The plugin's first stdout line must be the handshake; this one looks like ordinary output`,
      raw,
    );
  }
  if (parts.length > 7) {
    throw invalid(`too many fields (${parts.length}); at most 7 are defined`, raw);
  }
  const [coreS, appS, networkS, address, protocolS, certS, muxS] = parts as [
    string, string, string, string, string?, string?, string?,
  ];

  const core = parseIntField(coreS);
  if (core === null) {
    const inside = HANDSHAKE_INSIDE_RE.exec(line);
    if (inside && inside.index > 0) {
      throw invalid(
        `text before the handshake: ${JSON.stringify(truncate(line.slice(0, inside.index), 80))}. ` +
          `The handshake must be the very first output on stdout (log to stderr instead)`,
        raw,
      );
    }
    throw invalid(`core protocol version ${JSON.stringify(coreS)} is not an integer`, raw);
  }
  if (core !== CORE_PROTOCOL_VERSION) {
    throw new TransportError(
      GoPluginErrorCodes.UNSUPPORTED_VERSION,
      `Incompatible go-plugin core protocol version ${core} (this library speaks ${CORE_PROTOCOL_VERSION}) ` +
        `in handshake line ${JSON.stringify(truncate(raw, 300))}.`,
    );
  }
  const app = parseIntField(appS);
  if (app === null || app < 0) throw invalid(`app protocol version ${JSON.stringify(appS)} is not a non-negative integer`, raw);
  if (options.appVersions && !options.appVersions.includes(app)) {
    throw new TransportError(
      GoPluginErrorCodes.UNSUPPORTED_VERSION,
      `Incompatible API version with plugin: the plugin chose version ${app}, ` +
        `this host supports ${options.appVersions.join(', ')}.`,
    );
  }
  if (networkS !== 'unix' && networkS !== 'tcp') {
    throw invalid(`unknown network ${JSON.stringify(networkS)} (expected "unix" or "tcp")`, raw);
  }
  const problem = addressProblem(networkS, address);
  if (problem !== null) throw invalid(problem, raw);
  let protocol: RpcProtocol = 'netrpc';
  if (protocolS !== undefined) {
    if (protocolS !== 'grpc' && protocolS !== 'netrpc') {
      throw invalid(`unknown protocol ${JSON.stringify(protocolS)} (expected "grpc" or "netrpc")`, raw);
    }
    protocol = protocolS;
  }
  let serverCert: string | null = null;
  if (certS !== undefined && certS.length > CERT_MIN_LENGTH) {
    if (!/^[A-Za-z0-9+/]+$/.test(certS)) {
      throw invalid('the certificate field is not unpadded standard base64', raw);
    }
    if (!options.clientCertSent) {
      throw invalid(
        'the plugin sent a TLS server certificate (AutoMTLS) although this host did not send ' +
          'PLUGIN_CLIENT_CERT, so no TLS connection can be made',
        raw,
      );
    }
    serverCert = certS;
  }
  let multiplex: boolean | null = null;
  if (muxS !== undefined) {
    if (!options.multiplexRequested) {
      throw invalid('a 7th field (gRPC broker multiplexing) although the host did not set PLUGIN_MULTIPLEX_GRPC', raw);
    }
    multiplex = parseGoBool(muxS);
    if (multiplex === null) throw invalid(`the 7th field ${JSON.stringify(muxS)} is not a boolean`, raw);
  }
  return { coreVersion: core, appVersion: app, network: networkS, address, protocol, serverCert, multiplex };
}

export interface BuildHandshakeInput {
  appVersion: number;
  network?: Network;
  address: string;
  protocol?: RpcProtocol;
  serverCert?: string | null;
  /** Appends the 7th field; only when the host set PLUGIN_MULTIPLEX_GRPC (old hosts misparse it). */
  multiplex?: boolean | null;
}

/**
 * Builds the handshake line (without the newline), as go-plugin's server prints it:
 * always six fields (an empty CERT leaves a trailing `|`), a 7th only when `multiplex` is given.
 */
export function buildHandshakeLine(h: BuildHandshakeInput): string {
  const network = h.network ?? 'unix';
  const protocol = h.protocol ?? 'grpc';
  if (!Number.isSafeInteger(h.appVersion) || h.appVersion < 0) {
    throw new TransportError('ERR_INVALID_OPTION', `appVersion must be a non-negative integer, got ${h.appVersion}.`);
  }
  if (network !== 'unix' && network !== 'tcp') {
    throw new TransportError('ERR_INVALID_OPTION', `network must be "unix" or "tcp", got ${JSON.stringify(network)}.`);
  }
  if (protocol !== 'grpc' && protocol !== 'netrpc') {
    throw new TransportError('ERR_INVALID_OPTION', `protocol must be "grpc" or "netrpc", got ${JSON.stringify(protocol)}.`);
  }
  const problem = addressProblem(network, h.address ?? '');
  if (problem !== null) throw new TransportError('ERR_INVALID_OPTION', `${problem}.`);
  const cert = h.serverCert ?? '';
  if (cert !== '' && (cert.length <= CERT_MIN_LENGTH || !/^[A-Za-z0-9+/]+$/.test(cert))) {
    throw new TransportError('ERR_INVALID_OPTION', 'serverCert must be unpadded base64 DER longer than 50 characters.');
  }
  let line = `${CORE_PROTOCOL_VERSION}|${h.appVersion}|${network}|${h.address}|${protocol}|${cert}`;
  if (h.multiplex !== undefined && h.multiplex !== null) line += `|${h.multiplex}`;
  return line;
}

// ---------------------------------------------------------------------------------------------
// Environment

/**
 * Parses PLUGIN_PROTOCOL_VERSIONS as go-plugin's server does: comma-separated, each entry must
 * be a plain decimal integer (no spaces); invalid entries are skipped and reported in `invalid`.
 */
export function parseProtocolVersions(value: string | undefined): { versions: number[]; invalid: string[] } {
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
  if (pluginVersions.length === 0) throw new TransportError('ERR_INVALID_OPTION', 'the plugin offers no protocol version');
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
export function parsePortRange(env: NodeJS.ProcessEnv): { min: number; max: number } {
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
    throw new TransportError(
      GoPluginErrorCodes.INVALID_ENV,
      `${ENV.MIN_PORT} value of ${min} is greater than ${ENV.MAX_PORT} value of ${max}.`,
    );
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
  unixSocketDir: string | null;
  unixSocketGroup: string | null;
  /** PLUGIN_CLIENT_CERT (PEM), for AutoMTLS. */
  clientCert: string | null;
  /** PLUGIN_MULTIPLEX_GRPC parsed as a Go bool (go-plugin multiplexes only when true). */
  multiplex: boolean;
  /** Whether PLUGIN_MULTIPLEX_GRPC is set at all (go-plugin then adds the 7th field). */
  multiplexSet: boolean;
}

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

export interface HostEnvOptions {
  magicCookieKey: string;
  magicCookieValue: string;
  /** App protocol versions the host supports. */
  versions: readonly number[];
  minPort?: number;
  maxPort?: number;
  unixSocketDir?: string;
  unixSocketGroup?: string | number;
  clientCert?: string;
  multiplex?: boolean;
}

/** The variables a go-plugin host adds to the plugin's environment. */
export function buildHostEnv(o: HostEnvOptions): Record<string, string> {
  if (!o.magicCookieKey || !o.magicCookieValue) {
    throw new TransportError('ERR_INVALID_OPTION', 'magicCookieKey and magicCookieValue must both be non-empty.');
  }
  if (o.versions.length === 0 || !o.versions.every((v) => Number.isSafeInteger(v) && v >= 0)) {
    throw new TransportError('ERR_INVALID_OPTION', 'versions must be a non-empty list of non-negative integers.');
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
