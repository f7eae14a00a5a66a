/**
 * AutoMTLS certificates (src/goplugin/mtls.ts): what go-plugin's generateCert() makes, encoded
 * without any X.509 dependency; and the handshake's 6th-field encoding (base64.RawStdEncoding).
 * Interop with Go's x509/tls and with pyvider is in goplugin-modern and pyvider-interop.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { goplugin, root } from './kit';

const gp = goplugin;

describe('generateAutoMtlsCert', () => {
  it("makes go-plugin's own P-521 certificate on request, and refuses other curves", () => {
    const p521 = new X509Certificate(gp.generateAutoMtlsCert({ curve: 'P-521' }).certPem);
    expect(p521.publicKey.asymmetricKeyDetails?.namedCurve).toBe('secp521r1');
    expect(p521.verify(p521.publicKey)).toBe(true);
    expect(() => gp.generateAutoMtlsCert({ curve: 'P-384' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
  });

  const c = gp.generateAutoMtlsCert();
  const x = new X509Certificate(c.certPem);

  it('is a self-signed P-256 CA for localhost, valid from 30 s ago for 30 years', () => {
    expect(x.subject).toBe('O=plugsock\nCN=localhost');
    expect(x.issuer).toBe(x.subject);
    expect(x.ca).toBe(true);
    expect(x.subjectAltName).toBe('DNS:localhost');
    expect(x.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(x.verify(x.publicKey)).toBe(true);
    expect(x.checkPrivateKey(createPrivateKey(c.keyPem))).toBe(true);
    const from = Date.parse(x.validFrom);
    expect(Math.abs(Date.now() - 30_000 - from)).toBeLessThan(5_000);
    expect(Date.parse(x.validTo) - from).toBeGreaterThan(29 * 365 * 86400_000);
    expect(x.keyUsage ?? []).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'])); // ExtKeyUsage
    expect(x.serialNumber.length).toBeGreaterThanOrEqual(30);
  });

  it('prints as unpadded standard base64 DER, as go-plugin does', () => {
    expect(c.handshakeField).not.toMatch(/=/);
    expect(c.handshakeField.length).toBeGreaterThan(gp.CERT_MIN_LENGTH);
    expect(Buffer.from(c.handshakeField, 'base64').equals(c.certDer)).toBe(true);
    expect(gp.parseHandshakeCert(c.handshakeField).raw.equals(c.certDer)).toBe(true);
    for (const n of [1, 2, 3, 4, 5]) expect(gp.toHandshakeField(Buffer.alloc(n, 0xfb))).toBe(Buffer.alloc(n, 0xfb).toString('base64').replace(/=+$/, ''));
    const line = gp.buildHandshakeLine({ appVersion: 1, address: '/tmp/p', serverCert: c.handshakeField });
    expect(gp.parseHandshakeLine(line, { clientCertSent: true }).serverCert).toBe(c.handshakeField);
  });

  it('gives clear errors for a bad certificate field or PLUGIN_CLIENT_CERT', () => {
    expect(() => gp.parseHandshakeCert('A'.repeat(60))).toThrow(/does not parse/);
    expect(() => gp.parseClientCertPem('not a pem')).toThrow(/PLUGIN_CLIENT_CERT/);
  });

  it('servePlugin with PLUGIN_CLIENT_CERT prints its certificate and a Node host with autoMTLS talks to it', async () => {
    const grpc: typeof import('@grpc/grpc-js') = require('@grpc/grpc-js');
    const p = await gp.startPlugin({
      command: process.execPath,
      args: [join(root, 'examples', 'kv-plugin.mjs')],
      magicCookieKey: 'PLUGSOCK_INTEROP_COOKIE',
      magicCookieValue: 'kv-3b1f9e',
      autoMTLS: true,
      env: { ...process.env, KV_PLUGIN_QUIET: '1' },
    });
    try {
      expect(p.tls).toBe(true);
      const cert = gp.parseHandshakeCert(p.handshake.serverCert!);
      expect(cert.subject).toBe('O=plugsock\nCN=localhost');
      await p.ping();
      // A client without our key cannot get in: the plugin requires the host's certificate.
      const bad = new grpc.Client(
        `unix:${p.address}`,
        grpc.credentials.createSsl(Buffer.from(cert.toString()), null, null, { checkServerIdentity: () => undefined }),
      );
      const err = await new Promise<Error | null>((resolve) => bad.waitForReady(Date.now() + 1500, (e) => resolve(e ?? null)));
      expect(err).not.toBe(null);
      bad.close();
    } finally {
      await p.kill();
    }
  });
});
