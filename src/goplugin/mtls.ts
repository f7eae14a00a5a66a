/**
 * go-plugin AutoMTLS: the throw-away certificates both sides generate, and the TLS options
 * built from them.
 *
 * go-plugin's `generateCert()` (mtls.go, v1.8) makes an ECDSA P-521 key and a self-signed
 * certificate: CN and DNS SAN `localhost`, IsCA, KeyUsage digitalSignature | keyEncipherment |
 * keyAgreement | certSign, ExtKeyUsage clientAuth + serverAuth, a random 128-bit serial,
 * valid from 30 s ago for 262980 h (30 years). The host sends its certificate as PEM in
 * PLUGIN_CLIENT_CERT; the plugin answers with its own DER certificate in the 6th handshake
 * field as unpadded standard base64 (`base64.RawStdEncoding`), serves TLS >= 1.2 requiring a
 * client certificate signed by (= equal to) the host's, and the host trusts only the plugin's.
 *
 * plugsock does the same with one difference: its key is ECDSA P-256 (signed with SHA-256)
 * unless asked for P-521. Either side only pins the other's exact certificate, so the curve is
 * free; P-256 costs a fraction of P-521 to generate and in every TLS handshake (it is paid at
 * each plugin start: Terraform starts a provider 3-5 times per command), and BoringSSL-based
 * peers (Python gRPC) accept it, which they refuse for P-521.
 *
 * node:crypto can sign but not build X.509, so this module encodes the certificate's DER
 * itself (a fixed, small structure) and signs it with node:crypto: no dependency.
 */
import { X509Certificate, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { ErrorCodes, TransportError } from '../errors';
import { GoPluginErrorCodes } from './errors';
import { goTimestamp } from './log';

/** A certificate and key as go-plugin's AutoMTLS makes them (see generateAutoMtlsCert). */
export interface AutoMtlsCert {
  /** PEM certificate (what a host puts in PLUGIN_CLIENT_CERT). */
  certPem: string;
  /** PEM private key (PKCS#8). */
  keyPem: string;
  /** DER certificate. */
  certDer: Buffer;
  /** The DER certificate as go-plugin prints it in the handshake: base64 without padding. */
  handshakeField: string;
}

// ---- Minimal DER encoder --------------------------------------------------------------------

function len(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  while (n > 0) {
    bytes.unshift(n & 0xff);
    n >>>= 8;
  }
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}
const tlv = (tag: number, ...content: Buffer[]): Buffer => {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
};
const seq = (...c: Buffer[]) => tlv(0x30, ...c);
const set = (...c: Buffer[]) => tlv(0x31, ...c);
const explicit = (n: number, ...c: Buffer[]) => tlv(0xa0 | n, ...c);
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const octets = (b: Buffer) => tlv(0x04, b);
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
const bitString = (b: Buffer, unused = 0) => tlv(0x03, Buffer.from([unused]), b);

function integer(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  b = b.subarray(i);
  if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
  return tlv(0x02, b);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const out: number[] = [parts[0]! * 40 + parts[1]!];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [p & 0x7f];
    let v = Math.floor(p / 128);
    while (v > 0) {
      chunk.unshift((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/**
 * RFC 5280: UTCTime (YYMMDDHHMMSSZ) through 2049, GeneralizedTime (YYYYMMDDHHMMSSZ) from 2050.
 * Cut from goTimestamp's `YYYY-MM-DDTHH:MM:SS.ffffffZ`, made from the UTC fields: toISOString()
 * and a regex cost ~0.3 ms of each start.
 */
function time(d: Date): Buffer {
  const t = goTimestamp(d.getTime() * 1000);
  const digits = `${t.slice(0, 4)}${t.slice(5, 7)}${t.slice(8, 10)}${t.slice(11, 13)}${t.slice(14, 16)}${t.slice(17, 19)}Z`;
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(digits.slice(2), 'latin1')) : tlv(0x18, Buffer.from(digits, 'latin1'));
}

/** An EC point's uncompressed form (SEC1 2.3.3): 0x04, then x and y. */
const EC_UNCOMPRESSED = Buffer.from([4]);

const OID = {
  ecPublicKey: '1.2.840.10045.2.1',
  prime256v1: '1.2.840.10045.3.1.7',
  secp521r1: '1.3.132.0.35',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  ecdsaWithSHA512: '1.2.840.10045.4.3.4',
  organization: '2.5.4.10',
  commonName: '2.5.4.3',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  basicConstraints: '2.5.29.19',
  subjectAltName: '2.5.29.17',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  serverAuth: '1.3.6.1.5.5.7.3.1',
};

const ext = (id: string, critical: boolean, value: Buffer) => seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));

/** The key's curve: P-256 (default) or go-plugin's own P-521. */
export type AutoMtlsCurve = 'P-256' | 'P-521';

/**
 * Generates a certificate like go-plugin's `generateCert()`, on `curve` (default P-256, see
 * above). `organization` defaults to "plugsock" (go-plugin writes "HashiCorp"; nothing checks it).
 */
export function generateAutoMtlsCert(options: { organization?: string; commonName?: string; curve?: AutoMtlsCurve } = {}): AutoMtlsCert {
  const host = options.commonName ?? 'localhost';
  const curve = options.curve ?? 'P-256';
  if (curve !== 'P-256' && curve !== 'P-521') {
    throw new TransportError(ErrorCodes.INVALID_OPTION, `curve must be 'P-256' or 'P-521', got ${JSON.stringify(curve)}.`);
  }
  const hash = curve === 'P-256' ? 'sha256' : 'sha512';
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: curve });
  // The key's numbers as JWK, and its SPKI and PKCS#8 encoded here: export() to DER or PEM goes
  // through OpenSSL 3's encoder lookup, ~0.6 ms of every plugin's start (twice the JWK way).
  const jwk = privateKey.export({ format: 'jwk' });
  const point = Buffer.concat([EC_UNCOMPRESSED, Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  const keyAlgorithm = seq(oid(OID.ecPublicKey), oid(curve === 'P-256' ? OID.prime256v1 : OID.secp521r1));
  const spki = seq(keyAlgorithm, bitString(point));
  const algorithm = seq(oid(curve === 'P-256' ? OID.ecdsaWithSHA256 : OID.ecdsaWithSHA512));
  const name = seq(set(seq(oid(OID.organization), utf8(options.organization ?? 'plugsock'))), set(seq(oid(OID.commonName), utf8(host))));
  const now = Date.now();
  const serial = randomBytes(16);
  // KeyUsage bits (MSB first): digitalSignature(0), keyEncipherment(2), keyAgreement(4),
  // keyCertSign(5) => 1010 1100, the 2 low bits unused.
  const extensions = seq(
    ext(OID.keyUsage, true, bitString(Buffer.from([0xac]), 2)),
    ext(OID.extKeyUsage, false, seq(oid(OID.clientAuth), oid(OID.serverAuth))),
    ext(OID.basicConstraints, true, seq(bool(true))),
    ext(OID.subjectAltName, false, seq(tlv(0x82, Buffer.from(host, 'ascii')))),
  );
  const tbs = seq(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serial),
    algorithm,
    name,
    seq(time(new Date(now - 30_000)), time(new Date(now + 262980 * 3600_000))),
    name,
    spki,
    explicit(3, extensions),
  );
  const signature = sign(hash, tbs, privateKey); // DER ECDSA-Sig-Value
  const certDer = seq(tbs, algorithm, bitString(signature));
  const certPem = toPem('CERTIFICATE', certDer);
  // PKCS#8 (RFC 5208) around SEC1's ECPrivateKey (RFC 5915), as export({ type: 'pkcs8' }) writes it.
  const ecPrivateKey = seq(integer(Buffer.from([1])), octets(Buffer.from(jwk.d!, 'base64url')), tlv(0xa1, bitString(point)));
  const keyPem = toPem('PRIVATE KEY', seq(integer(Buffer.from([0])), keyAlgorithm, octets(ecPrivateKey)));
  return { certPem, keyPem, certDer, handshakeField: toHandshakeField(certDer) };
}

function toPem(label: string, der: Buffer): string {
  const b64 = der
    .toString('base64')
    .replace(/(.{64})/g, '$1\n')
    .replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** DER -> the handshake's 6th field (go's base64.RawStdEncoding: standard alphabet, no '='). */
export function toHandshakeField(der: Buffer): string {
  return der.toString('base64').replace(/=+$/, '');
}

/** The handshake's 6th field -> a parsed certificate (throws ERR_HANDSHAKE_INVALID). */
export function parseHandshakeCert(field: string): X509Certificate {
  try {
    if (!/^[A-Za-z0-9+/]+$/.test(field) || field.length % 4 === 1) throw new Error('not unpadded standard base64');
    return new X509Certificate(Buffer.from(field, 'base64'));
  } catch (err) {
    throw new TransportError(
      GoPluginErrorCodes.HANDSHAKE_INVALID,
      `The plugin's AutoMTLS certificate (6th handshake field) does not parse: ${(err as Error).message}.`,
      { cause: err },
    );
  }
}

/** PLUGIN_CLIENT_CERT -> a parsed certificate (throws ERR_INVALID_ENV). */
export function parseClientCertPem(pem: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new TransportError(GoPluginErrorCodes.INVALID_ENV, `PLUGIN_CLIENT_CERT is set but is not a PEM certificate: ${(err as Error).message}.`, {
      cause: err,
    });
  }
}

/** One PEM certificate block, alone but for surrounding whitespace (what go-plugin's pem.Encode writes). */
const PEM_CERTIFICATE = /^\s*-----BEGIN CERTIFICATE-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END CERTIFICATE-----\s*$/;

/**
 * PLUGIN_CLIENT_CERT -> its DER (throws ERR_INVALID_ENV), for the plugin, which only compares
 * it with the certificate a client presents (which TLS has parsed by then). So no X.509 parse
 * here (~0.5 ms of every start, cold): one PEM block whose DER has a certificate's outline,
 * SEQUENCE { SEQUENCE, SEQUENCE, BIT STRING } with every length exact. Anything else cannot
 * equal a certificate a client presents, so a lenient check would only fail later, closed.
 */
export function clientCertDer(pem: string): Buffer {
  const m = PEM_CERTIFICATE.exec(pem);
  const der = m && Buffer.from(m[1]!.replace(/\r?\n/g, ''), 'base64');
  if (der && certificateOutline(der)) return der;
  throw new TransportError(
    GoPluginErrorCodes.INVALID_ENV,
    `PLUGIN_CLIENT_CERT is set but is not a PEM certificate: ${m ? 'its DER is not a certificate' : 'expected exactly one -----BEGIN CERTIFICATE----- block'}.`,
  );
}

/** Whether `der` is exactly SEQUENCE { SEQUENCE, SEQUENCE, BIT STRING } (RFC 5280 4.1). */
function certificateOutline(der: Buffer): boolean {
  const outer = readTlv(der, 0);
  if (outer === null || outer.tag !== 0x30 || outer.end !== der.length) return false;
  let at = outer.body;
  for (const tag of [0x30, 0x30, 0x03]) {
    const part = readTlv(der, at);
    if (part === null || part.tag !== tag) return false;
    at = part.end;
  }
  return at === der.length;
}

/** The DER TLV at `at` (definite lengths of up to 4 bytes), or null if it runs past the end. */
function readTlv(der: Buffer, at: number): { tag: number; body: number; end: number } | null {
  if (at + 2 > der.length) return null;
  const tag = der[at]!;
  let length = der[at + 1]!;
  let body = at + 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    if (n === 0 || n > 4 || body + n > der.length) return null;
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + der[body + i]!;
    body += n;
  }
  const end = body + length;
  return end <= der.length ? { tag, body, end } : null;
}

/** The plugin's side of AutoMTLS: its own certificate, and the host's it requires. */
export interface PluginMtls {
  certPem: string;
  keyPem: string;
  /** The plugin's certificate as the handshake's 6th field. */
  handshakeField: string;
  /** PLUGIN_CLIENT_CERT: the only certificate the plugin accepts from a client. */
  hostCertPem: string;
  /** The same certificate, DER. */
  hostDer: Buffer;
}

/**
 * AutoMTLS as go-plugin's server.go does it: a certificate of our own, TLS that requires the
 * host's (throws ERR_INVALID_ENV for a malformed PLUGIN_CLIENT_CERT).
 */
export function pluginMtls(hostCertPem: string): PluginMtls {
  const hostDer = clientCertDer(hostCertPem);
  const own = generateAutoMtlsCert();
  return { certPem: own.certPem, keyPem: own.keyPem, handshakeField: own.handshakeField, hostCertPem, hostDer };
}

/** The public key of a certificate (used in tests and for pinning). */
export function certPublicKey(cert: X509Certificate): KeyObject {
  return createPublicKey(cert.publicKey.export({ type: 'spki', format: 'pem' }));
}
