/**
 * The go-plugin handshake line: the one line a plugin prints on stdout
 * (`CORE|APP|NETWORK|ADDR|PROTOCOL|CERT[|MUX]`), parsed and built as both sides agree.
 * Semantics follow HashiCorp go-plugin (client.go, server.go); see docs/go-plugin.md for the
 * facts and their sources. The environment a host passes to the plugin is in env.ts.
 */
import { ErrorCodes, TransportError } from '../errors';
import { GoPluginErrorCodes } from './errors';
import { parseGoBool, parseIntField } from './strconv';

/** go-plugin's own protocol version (`CoreProtocolVersion`). It has always been 1. */
export const CORE_PROTOCOL_VERSION = 1;

/** go-plugin reads a 6th field as an AutoMTLS certificate only when it is longer than this. */
export const CERT_MIN_LENGTH = 50;

/** The handshake's NETWORK field: where the plugin listens. */
export type Network = 'unix' | 'tcp';
/** The handshake's PROTOCOL field (only `grpc` is served and connected to here). */
export type RpcProtocol = 'grpc' | 'netrpc';

/** A parsed handshake line. */
export interface Handshake {
  /** Always 1 (anything else is rejected). */
  coreVersion: number;
  /** The app protocol version the plugin chose. */
  appVersion: number;
  /** `unix` or `tcp`. */
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

/** What `parseHandshakeLine` checks the line against: the host's side of the negotiation. */
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
  return new TransportError(GoPluginErrorCodes.HANDSHAKE_INVALID, `Invalid go-plugin handshake line ${JSON.stringify(truncate(line, 300))}: ${message}`);
}

function truncate(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n)}...` : s;
}

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
  const [coreS, appS, networkS, address, protocolS, certS, muxS] = parts as [string, string, string, string, string?, string?, string?];

  const core = coreVersion(coreS, line, raw);
  const app = parseIntField(appS);
  if (app === null || app < 0) throw invalid(`app protocol version ${JSON.stringify(appS)} is not a non-negative integer`, raw);
  if (options.appVersions && !options.appVersions.includes(app)) {
    throw new TransportError(
      GoPluginErrorCodes.UNSUPPORTED_VERSION,
      `Incompatible API version with plugin: the plugin chose version ${app}, ` + `this host supports ${options.appVersions.join(', ')}.`,
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
  const serverCert = certField(certS, options, raw);
  const multiplex = multiplexField(muxS, options, raw);
  return { coreVersion: core, appVersion: app, network: networkS, address, protocol, serverCert, multiplex };
}

/** The core version (field 1): an integer, and 1; text before it means output before the line. */
function coreVersion(coreS: string, line: string, raw: string): number {
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
  return core;
}

/** The 6th field: an AutoMTLS certificate only when longer than CERT_MIN_LENGTH (as go-plugin). */
function certField(certS: string | undefined, options: ParseHandshakeOptions, raw: string): string | null {
  if (certS === undefined || certS.length <= CERT_MIN_LENGTH) return null;
  if (!/^[A-Za-z0-9+/]+$/.test(certS)) {
    throw invalid('the certificate field is not unpadded standard base64', raw);
  }
  if (!options.clientCertSent) {
    throw invalid(
      'the plugin sent a TLS server certificate (AutoMTLS) although this host did not send ' + 'PLUGIN_CLIENT_CERT, so no TLS connection can be made',
      raw,
    );
  }
  return certS;
}

/** The 7th field, a Go bool; only when the host asked for multiplexing. */
function multiplexField(muxS: string | undefined, options: ParseHandshakeOptions, raw: string): boolean | null {
  if (muxS === undefined) return null;
  if (!options.multiplexRequested) {
    throw invalid('a 7th field (gRPC broker multiplexing) although the host did not set PLUGIN_MULTIPLEX_GRPC', raw);
  }
  const multiplex = parseGoBool(muxS);
  if (multiplex === null) throw invalid(`the 7th field ${JSON.stringify(muxS)} is not a boolean`, raw);
  return multiplex;
}

/** The fields of a handshake line, for `buildHandshakeLine`. */
export interface BuildHandshakeInput {
  /** The negotiated app protocol version. */
  appVersion: number;
  /** Default `unix`. */
  network?: Network;
  /** Absolute socket path (unix) or host:port (tcp). */
  address: string;
  /** Default `grpc`. */
  protocol?: RpcProtocol;
  /** AutoMTLS: the plugin's DER certificate in unpadded base64; null or absent leaves CERT empty. */
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
    throw new TransportError(ErrorCodes.INVALID_OPTION, `appVersion must be a non-negative integer, got ${h.appVersion}.`);
  }
  if (network !== 'unix' && network !== 'tcp') {
    throw new TransportError(ErrorCodes.INVALID_OPTION, `network must be "unix" or "tcp", got ${JSON.stringify(network)}.`);
  }
  if (protocol !== 'grpc' && protocol !== 'netrpc') {
    throw new TransportError(ErrorCodes.INVALID_OPTION, `protocol must be "grpc" or "netrpc", got ${JSON.stringify(protocol)}.`);
  }
  const problem = addressProblem(network, h.address ?? '');
  if (problem !== null) throw new TransportError(ErrorCodes.INVALID_OPTION, `${problem}.`);
  const cert = h.serverCert ?? '';
  if (cert !== '' && (cert.length <= CERT_MIN_LENGTH || !/^[A-Za-z0-9+/]+$/.test(cert))) {
    throw new TransportError(ErrorCodes.INVALID_OPTION, 'serverCert must be unpadded base64 DER longer than 50 characters.');
  }
  let line = `${CORE_PROTOCOL_VERSION}|${h.appVersion}|${network}|${h.address}|${protocol}|${cert}`;
  if (h.multiplex !== undefined && h.multiplex !== null) line += `|${h.multiplex}`;
  return line;
}
