/**
 * Host side: the plugin's handshake as this host takes it. Reads the first stdout line, parses
 * it, and checks what this host requires: gRPC over a unix socket and, with AutoMTLS, the
 * plugin's certificate. Every refusal is a TransportError naming the plugin; the caller ends the
 * plugin and adds its stderr.
 */
import { TransportError } from '../errors';
import { abortError } from './abort';
import type { MutualTlsOptions } from './channel';
import { MAX_LINE, type PluginChild } from './child-process';
import { GoPluginErrorCodes } from './errors';
import { parseHandshakeLine, type Handshake } from './handshake';
import { parseHandshakeCert, type AutoMtlsCert } from './mtls';

export interface ReadHandshakeOptions {
  /** What the messages call the plugin: `plugin <command>`. */
  what: string;
  /** The app protocol versions this host speaks. */
  versions: readonly number[];
  startTimeoutMs: number;
  /** The certificate this host sent in PLUGIN_CLIENT_CERT (AutoMTLS), or null. */
  mtlsCert: AutoMtlsCert | null;
  onStdout?: (chunk: Buffer) => void;
  /** Stops the wait: the AbortError is thrown (the caller ends the plugin). */
  signal?: AbortSignal;
}

export interface AcceptedHandshake {
  handshake: Handshake;
  /** How to talk TLS to the plugin (AutoMTLS), or null. */
  tls: MutualTlsOptions | null;
}

/** Waits for the plugin's handshake line and accepts it, or throws why not. */
export async function readHandshake(child: PluginChild, o: ReadHandshakeOptions): Promise<AcceptedHandshake> {
  const line = await handshakeLine(child, o);
  const handshake = parseLine(child, line, o);
  if (handshake.protocol !== 'grpc') {
    throw new TransportError(GoPluginErrorCodes.UNSUPPORTED_PROTOCOL, `${o.what} speaks go-plugin's ${handshake.protocol} protocol; only grpc is supported.`);
  }
  if (handshake.network !== 'unix') {
    throw new TransportError(
      GoPluginErrorCodes.UNSUPPORTED_PROTOCOL,
      `${o.what} listens on ${handshake.network} ${handshake.address}; this host connects only to unix sockets.`,
    );
  }
  const tls = o.mtlsCert ? mutualTls(handshake, o.mtlsCert, o.what) : null;
  child.announced = handshake.address;
  return { handshake, tls };
}

/** The first stdout line, or why there is none. */
async function handshakeLine(child: PluginChild, o: ReadHandshakeOptions): Promise<string> {
  const first = await child.firstLine(o.startTimeoutMs, o.onStdout, o.signal);
  switch (first.kind) {
    case 'aborted':
      throw abortError(o.signal!, `waiting for the handshake of ${o.what}`);
    case 'line':
      return first.line;
    case 'spawn':
      throw new TransportError(GoPluginErrorCodes.PLUGIN_EXITED, `Could not start ${o.what}: ${first.err.message}.`, { cause: first.err });
    case 'timeout':
      throw new TransportError(
        GoPluginErrorCodes.HANDSHAKE_TIMEOUT,
        `Timed out after ${o.startTimeoutMs} ms waiting for the go-plugin handshake line from ${o.what} (pid ${child.pid}).`,
      );
    case 'toolong':
      throw new TransportError(
        GoPluginErrorCodes.HANDSHAKE_INVALID,
        `${o.what} printed over ${MAX_LINE} bytes on stdout without a newline; that is not a go-plugin handshake.`,
      );
    case 'eof': {
      const last = first.partial.length ? ` It printed ${JSON.stringify(first.partial.toString('utf8').slice(0, 200))} without a newline.` : '';
      const r = await exitWithin(child, 1000);
      const how = r ? (r.signal ? `was killed by ${r.signal}` : `exited with code ${r.code}`) : 'closed its stdout';
      throw new TransportError(GoPluginErrorCodes.PLUGIN_EXITED, `${o.what} (pid ${child.pid}) ${how} before printing the go-plugin handshake line.${last}`);
    }
  }
}

/** The child's exit, if it comes within `ms` (the timer does not outlive the wait). */
async function exitWithin(child: PluginChild, ms: number) {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([child.exited, new Promise<null>((res) => (timer = setTimeout(() => res(null), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

function parseLine(child: PluginChild, line: string, o: ReadHandshakeOptions): Handshake {
  try {
    return parseHandshakeLine(line, { appVersions: o.versions, clientCertSent: o.mtlsCert !== null });
  } catch (err) {
    const e = err as TransportError;
    // A well-formed line with a version we refuse still names the child's socket: clean it up.
    // Parsed again as the first time, minus the version check (an AutoMTLS line has a cert).
    if (e.code === GoPluginErrorCodes.UNSUPPORTED_VERSION) {
      try {
        const h = parseHandshakeLine(line, { clientCertSent: o.mtlsCert !== null });
        if (h.network === 'unix') child.announced = h.address;
      } catch {
        /* core version mismatch: not parseable further */
      }
    }
    throw new TransportError(e.code, `${o.what}: ${e.message}`, { cause: err });
  }
}

/** AutoMTLS: the plugin's certificate from the handshake, which its TLS must present. */
function mutualTls(handshake: Handshake, mtlsCert: AutoMtlsCert, what: string): MutualTlsOptions {
  if (!handshake.serverCert) {
    throw new TransportError(
      GoPluginErrorCodes.HANDSHAKE_INVALID,
      `${what} printed no AutoMTLS certificate in its handshake (6th field) although this host sent PLUGIN_CLIENT_CERT: ` +
        'the plugin does not support AutoMTLS (or ignored it); refusing to talk to it without TLS.',
    );
  }
  let serverCertPem: string;
  try {
    serverCertPem = parseHandshakeCert(handshake.serverCert).toString();
  } catch (err) {
    throw new TransportError(GoPluginErrorCodes.HANDSHAKE_INVALID, `${what}: ${(err as Error).message}`, { cause: err });
  }
  return { serverCertPem, certPem: mtlsCert.certPem, keyPem: mtlsCert.keyPem };
}
