/**
 * grpc-js channel credentials whose every connection is opened by plugsock (with a peer
 * check) and, for AutoMTLS, wrapped in mutual TLS pinned to one certificate.
 */
import type { TLSSocket } from 'node:tls';
import type { Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { TransportError } from '../errors';
import { GoPluginErrorCodes } from './errors';
import { TlsHandshakeTimeout, connectPinnedTls } from './pinned-tls';

/** The two certificates of a pinned mutual-TLS connection (AutoMTLS), as `wrapMutualTls` takes them. */
export interface MutualTlsOptions {
  /** The only certificate the server may present (PEM); it is also the trust anchor. */
  serverCertPem: string;
  /** Our certificate and key (PEM). */
  certPem: string;
  /** The private key of `certPem` (PEM). */
  keyPem: string;
  /** Name checked against the server certificate (go-plugin: "localhost"). */
  servername?: string;
}

/**
 * Channel credentials for a Unix-socket channel that swap the socket grpc-js opened for one
 * opened by `connectVerified` (UnixSocketTransport with a peer policy), so no RPC ever goes over
 * a connection whose peer was not checked; with `tls`, the verified socket is then wrapped in
 * mutual TLS (TLS >= 1.2, ALPN h2, the server certificate must be exactly `serverCertPem`).
 * Uses grpc-js's `_createSecureConnector` hook (declared in its public typings since 1.13).
 */
export class VerifiedUnixCredentials extends grpc.ChannelCredentials {
  constructor(
    private readonly connectVerified: () => Promise<Socket>,
    private readonly tls: MutualTlsOptions | null = null,
  ) {
    super();
  }
  override compose(): grpc.ChannelCredentials {
    throw new Error('plugsock: verified Unix-socket credentials cannot be composed with call credentials');
  }
  _isSecure(): boolean {
    return this.tls !== null;
  }
  _equals(other: grpc.ChannelCredentials): boolean {
    return other === this;
  }
  /** @internal grpc-js's hook: connects through `connectVerified`, then wraps the socket in TLS when configured. */
  _createSecureConnector(_target: unknown, _options: unknown, callCredentials?: grpc.CallCredentials) {
    const creds = callCredentials ?? grpc.credentials.createEmpty();
    const connectVerified = this.connectVerified;
    const tls = this.tls;
    return {
      async connect(socket: Socket) {
        socket.destroy();
        const verified = await connectVerified();
        if (!tls) return { socket: verified, secure: false };
        return { socket: await wrapMutualTls(verified, tls), secure: true };
      },
      waitForReady: () => Promise.resolve(),
      getCallCredentials: () => creds,
      destroy() {},
    };
  }
}

/**
 * Client side of go-plugin's AutoMTLS on an already connected socket: the server must present
 * exactly `serverCertPem` (pinned, see pinned-tls.ts), else ERR_TLS_PEER.
 */
export async function wrapMutualTls(socket: Socket, o: MutualTlsOptions): Promise<TLSSocket> {
  try {
    return await connectPinnedTls(socket, {
      certPem: o.certPem,
      keyPem: o.keyPem,
      expected: pemToDer(o.serverCertPem),
      servername: o.servername ?? 'localhost',
    });
  } catch (err) {
    if ((err as { code?: string }).code !== undefined) throw err; // a TLS or system error, as before
    if (err instanceof TlsHandshakeTimeout) throw new TransportError(GoPluginErrorCodes.TLS_PEER, `AutoMTLS: ${err.message}.`);
    throw new TransportError(
      GoPluginErrorCodes.TLS_PEER,
      `AutoMTLS: the server did not present the certificate from its handshake (${(err as Error).message}).`,
    );
  }
}

function pemToDer(pem: string): Buffer {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem);
  return Buffer.from((m ? m[1]! : pem).replace(/\s+/g, ''), 'base64');
}
