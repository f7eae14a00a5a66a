/**
 * AutoMTLS with a pinned certificate and no trust store. Each side of go-plugin's AutoMTLS
 * accepts exactly one certificate, the other's, whose bytes it already has (the handshake line,
 * PLUGIN_CLIENT_CERT). So the check is: the TLS handshake proved the peer holds that
 * certificate's key (its CertificateVerify or its signed key exchange, which OpenSSL checks
 * whatever the verify mode), and the certificate is byte for byte the one expected and within
 * its validity window. Chain building against a CA adds nothing to that.
 *
 * Why not `ca: cert`: Node builds a context's trust store from its whole bundled root store
 * plus `ca` (and the root store alone when `ca` is absent). On Node 20 parsing those ~140
 * roots takes ~25-40 ms of a provider's start (Terraform starts a provider 3-5 times per
 * command); an empty `ca` list skips the store.
 */
import { type SecureContext, type TLSSocket, TLSSocket as ServerTlsSocket, connect as tlsConnect, createSecureContext } from 'node:tls';
import type { Socket } from 'node:net';

/** A TLS handshake that did not complete within its time limit. */
export class TlsHandshakeTimeout extends Error {}

/** Node's TLS handshake limit for a tls.Server (handshakeTimeout): a peer that stalls is cut off. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 120_000;

/** Why `socket`'s peer certificate is not `expected` (DER), or null when it is, and valid now. */
export function pinMismatch(socket: TLSSocket, expected: Buffer, now = Date.now()): string | null {
  // The legacy object carries the validity too (X509Certificate would parse the DER again, ~0.3 ms cold).
  const peer = socket.getPeerCertificate(false);
  const raw = peer?.raw;
  if (!raw || raw.length === 0) return 'no certificate was presented';
  if (!raw.equals(expected)) return 'the certificate presented is not the expected one';
  const from = Date.parse(peer.valid_from);
  const to = Date.parse(peer.valid_to);
  if (!(now >= from && now <= to)) return `the certificate is not valid now (valid from ${peer.valid_from} to ${peer.valid_to})`;
  return null;
}

/** The server side's context: our key and certificate, no trust store (see above). */
export function pinnedServerContext(certPem: string, keyPem: string): SecureContext {
  return createSecureContext({ cert: certPem, key: keyPem, ca: [], minVersion: 'TLSv1.2' });
}

/**
 * Server side of AutoMTLS on an accepted socket: TLS >= 1.2, ALPN h2, a client certificate
 * required and pinned to `expected` (DER). Calls `onSecure` with the TLS socket once the peer is
 * the one expected, synchronously in the handshake's last step: what the client sent right
 * after its Finished (an HTTP/2 preface) is decrypted in that same step, and a consumer that
 * takes over the socket's handle later (node:http2) would never see it. Otherwise destroys the
 * socket and calls `onRefused` with the reason (`hungUp`: the client
 * closed first). Bounded by `timeoutMs`.
 */
export function acceptPinnedTls(
  socket: Socket,
  context: SecureContext,
  expected: Buffer,
  onSecure: (secure: TLSSocket) => void,
  onRefused: (err: Error, hungUp: boolean) => void,
  timeoutMs = TLS_HANDSHAKE_TIMEOUT_MS,
): void {
  const t = new ServerTlsSocket(socket, {
    isServer: true,
    secureContext: context,
    requestCert: true,
    rejectUnauthorized: false, // the pin below decides; there is no store to verify against
    ALPNProtocols: ['h2'],
  });
  let settled = false;
  const fail = (err: Error, hungUp = false) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    t.destroy();
    socket.destroy();
    onRefused(err, hungUp);
  };
  // Unref'd: the socket holds the process while it is open; closed, it ends this (onClose).
  const timer = setTimeout(() => fail(new TlsHandshakeTimeout(`the TLS handshake did not complete within ${timeoutMs} ms`)), timeoutMs).unref();
  // A host's probe (startPlugin's) hangs up right after its side of the handshake: not a refusal.
  const onClose = () => fail(new Error('the connection closed during the TLS handshake'), true);
  t.once('secure', () => {
    const why = pinMismatch(t, expected);
    if (why !== null) return fail(new Error(`client rejected: ${why}`));
    settled = true;
    clearTimeout(timer);
    t.removeListener('error', fail);
    t.removeListener('close', onClose);
    // As tls.Server does before 'secureConnection' (only it, not the socket, clears this), else
    // node:http2 takes the socket for one still connecting and waits for 'secureConnect'.
    (t as TLSSocket & { secureConnecting: boolean }).secureConnecting = false;
    onSecure(t);
  });
  t.once('error', fail);
  t.once('close', onClose);
}

/**
 * Client side: TLS >= 1.2, ALPN h2, our certificate, the server's pinned to `expected` (DER).
 * Bounded by `timeoutMs`: a server that accepts and never answers is cut off (the connections
 * grpc-js opens after startPlugin's first one have no other limit of ours).
 */
export function connectPinnedTls(
  socket: Socket,
  o: { certPem: string; keyPem: string; expected: Buffer; servername: string },
  timeoutMs = TLS_HANDSHAKE_TIMEOUT_MS,
): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const t = tlsConnect({
      socket,
      ca: [],
      cert: o.certPem,
      key: o.keyPem,
      servername: o.servername,
      rejectUnauthorized: false, // the pin below decides
      checkServerIdentity: () => undefined, // an exact certificate pins more than a name does
      ALPNProtocols: ['h2'],
      minVersion: 'TLSv1.2',
    });
    const fail = (err: Error) => {
      clearTimeout(timer);
      t.destroy();
      socket.destroy();
      reject(err);
    };
    // Unref'd: the connection holds the process while it is open.
    const timer = setTimeout(() => fail(new TlsHandshakeTimeout(`the TLS handshake did not complete within ${timeoutMs} ms`)), timeoutMs).unref();
    t.once('secureConnect', () => {
      clearTimeout(timer);
      const why = pinMismatch(t, o.expected);
      if (why !== null) return fail(new Error(why));
      t.removeListener('error', fail);
      resolve(t);
    });
    t.once('error', fail);
  });
}
