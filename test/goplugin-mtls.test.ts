/**
 * AutoMTLS certificates (src/goplugin/mtls.ts): what go-plugin's generateCert() makes, encoded
 * without any X.509 dependency; and the handshake's 6th-field encoding (base64.RawStdEncoding).
 * Interop with Go's x509/tls and with pyvider is in goplugin-modern and pyvider-interop.
 */
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { type Socket, connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { clientCertDer } from '../src/goplugin/mtls';
import { goplugin, root } from './kit';

const gp = goplugin;

describe('generateAutoMtlsCert', () => {
  it("makes go-plugin's own P-521 certificate on request, and refuses other curves", () => {
    const p521 = new X509Certificate(gp.generateAutoMtlsCert({ curve: 'P-521' }).certPem);
    expect(p521.publicKey.asymmetricKeyDetails?.namedCurve).toBe('secp521r1');
    expect(p521.verify(p521.publicKey)).toBe(true);
    expect(() => gp.generateAutoMtlsCert({ curve: 'P-384' as never })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
  });

  it("encodes the key's SPKI and PKCS#8 exactly as node:crypto exports them, on both curves (100 keys each)", () => {
    for (const curve of ['P-256', 'P-521'] as const) {
      for (let i = 0; i < 100; i++) {
        const cert = gp.generateAutoMtlsCert({ curve });
        const key = createPrivateKey(cert.keyPem);
        const certificate = new X509Certificate(cert.certPem);
        // Re-exported by OpenSSL, the key is the same text: same structure, same number lengths.
        expect(key.export({ type: 'pkcs8', format: 'pem' })).toBe(cert.keyPem);
        expect(certificate.checkPrivateKey(key)).toBe(true);
        expect(certificate.verify(certificate.publicKey)).toBe(true);
        expect(
          createPublicKey(key)
            .export({ type: 'spki', format: 'der' })
            .equals(certificate.publicKey.export({ type: 'spki', format: 'der' })),
        ).toBe(true);
      }
    }
  });

  it("takes PLUGIN_CLIENT_CERT's DER without an X.509 parse: what go-plugin writes, byte for byte; anything else ERR_INVALID_ENV", () => {
    for (const curve of ['P-256', 'P-521'] as const) {
      const { certPem, certDer } = gp.generateAutoMtlsCert({ curve });
      expect(clientCertDer(certPem).equals(certDer)).toBe(true);
      expect(clientCertDer(certPem.replace(/\n/g, '\r\n')).equals(certDer)).toBe(true);
      expect(clientCertDer(`\n  ${certPem}\n`).equals(certDer)).toBe(true);
      expect(clientCertDer(certPem).equals(new X509Certificate(certPem).raw)).toBe(true);
    }
    const { certPem, certDer } = gp.generateAutoMtlsCert();
    const pem = (der: Buffer, label = 'CERTIFICATE') =>
      `-----BEGIN ${label}-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END ${label}-----\n`;
    const outer = (body: Buffer) => Buffer.concat([Buffer.from([0x30, 0x82, body.length >> 8, body.length & 0xff]), body]);
    const inner = certDer.subarray(4); // tbs, algorithm, signature
    // Where the DER element at `at` ends (lengths of 1 or 2 bytes, as in these certificates).
    const tlvEnd = (der: Buffer, at: number) =>
      der[at + 1]! < 0x80 ? at + 2 + der[at + 1]! : at + 2 + (der[at + 1]! & 0x7f) + der.readUIntBE(at + 2, der[at + 1]! & 0x7f);
    const bad: Array<[string, string]> = [
      ['not a pem', 'not a pem'],
      ['two blocks', certPem + certPem],
      ['text after the block', `${certPem}trailing\n`],
      ['another label', pem(certDer, 'PRIVATE KEY')],
      ['base64 with a stray character', certPem.replace(/\n(?=[A-Za-z0-9])/, '\n*')],
      ['truncated DER', pem(certDer.subarray(0, certDer.length - 1))],
      ['a byte after the DER', pem(Buffer.concat([certDer, Buffer.from([0])]))],
      ['a fourth element', pem(outer(Buffer.concat([inner, Buffer.from([0x05, 0x00])])))],
      ['only two elements', pem(outer(inner.subarray(0, tlvEnd(inner, tlvEnd(inner, 0)))))],
      ['an empty block', '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n'],
      ['a lying length', pem(Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff, 0x30, 0x00]))],
    ];
    for (const [what, text] of bad) {
      expect(() => clientCertDer(text), what).toThrow(
        expect.objectContaining({ code: 'ERR_INVALID_ENV', message: expect.stringMatching(/^PLUGIN_CLIENT_CERT is set but is not a PEM certificate/) }),
      );
    }
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
      // Nor can one with a certificate of its own: the plugin pins the host's exact certificate.
      const other = gp.generateAutoMtlsCert();
      const stranger = new grpc.Client(
        `unix:${p.address}`,
        grpc.credentials.createSsl(Buffer.from(cert.toString()), Buffer.from(other.keyPem), Buffer.from(other.certPem), {
          checkServerIdentity: () => undefined,
        }),
      );
      const refused = await new Promise<Error | null>((resolve) => stranger.waitForReady(Date.now() + 1500, (e) => resolve(e ?? null)));
      expect(refused).not.toBe(null);
      stranger.close();
      await p.ping(); // the host itself still gets in
    } finally {
      await p.kill();
    }
  });
});

describe('pinned TLS (no trust store: the exact certificate decides)', () => {
  const pinned: typeof import('../src/goplugin/pinned-tls') = require('../dist/goplugin/pinned-tls.js');
  const server = gp.generateAutoMtlsCert();
  const client = gp.generateAutoMtlsCert();

  /**
   * A Unix-socket server handing each accepted socket to `onConnection`, and a client socket
   * connected to it, for `use`; everything (server, accepted sockets, directory) goes after.
   */
  async function withConnection<T>(onConnection: (s: Socket) => void, use: (client: Socket) => Promise<T>): Promise<T> {
    const dir = mkdtempSync(join(tmpdir(), 'plugsock-pin-'));
    const path = join(dir, 's');
    const accepted: Socket[] = [];
    const srv = createServer((s) => {
      accepted.push(s);
      onConnection(s);
    });
    await new Promise<void>((r) => srv.listen(path, r));
    try {
      const sock = connect(path);
      await new Promise((r) => sock.once('connect', r));
      return await use(sock);
    } finally {
      for (const s of accepted) s.destroy();
      srv.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const context = pinned.pinnedServerContext(server.certPem, server.keyPem);

  /** One real handshake: what the server side decided and what the client read. */
  async function handshake(clientCert: { certPem: string; keyPem: string }, expectedByServer: Buffer, check?: (t: TLSSocket) => void) {
    let verdict: Promise<string> | undefined;
    const onConnection = (s: Socket) => {
      verdict = new Promise((resolve) =>
        pinned.acceptPinnedTls(
          s,
          context,
          expectedByServer,
          (t) => {
            check?.(t);
            t.end('ok');
            resolve('accepted');
          },
          (err) => resolve(`refused: ${err.message}`),
        ),
      );
    };
    return withConnection(onConnection, async (sock) => {
      const t = await pinned.connectPinnedTls(sock, { ...clientCert, expected: server.certDer, servername: 'localhost' });
      const got = await new Promise<string>((resolve) => {
        let data = '';
        t.on('data', (d) => (data += d));
        t.on('close', () => resolve(data));
        t.on('error', () => {});
      });
      return { server: await verdict!, client: got };
    });
  }

  it('accepts exactly the expected client certificate, and the connection carries data', async () => {
    expect(await handshake(client, client.certDer)).toEqual({ server: 'accepted', client: 'ok' });
  });

  it("refuses any other certificate, though the client proved it holds that one's key", async () => {
    const other = gp.generateAutoMtlsCert();
    const r = await handshake(other, client.certDer);
    expect(r.server).toBe('refused: client rejected: the certificate presented is not the expected one');
    expect(r.client).toBe('');
  });

  it('refuses the expected certificate outside its validity window', async () => {
    let why: string | null = 'unset';
    await handshake(client, client.certDer, (t) => {
      why = pinned.pinMismatch(t, client.certDer, Date.now() + 31 * 365 * 86400_000);
    });
    expect(why).toMatch(/^the certificate is not valid now/);
  });

  it('the client side gives up on a server that accepts and never answers the handshake', async () => {
    // The server accepts, reads nothing, says nothing.
    await withConnection(
      () => {},
      async (sock) => {
        await expect(
          pinned.connectPinnedTls(sock, { certPem: client.certPem, keyPem: client.keyPem, expected: server.certDer, servername: 'localhost' }, 300),
        ).rejects.toBeInstanceOf(pinned.TlsHandshakeTimeout);
        expect(sock.destroyed).toBe(true);
      },
    );
  });

  it('the client side refuses a server whose certificate is not the pinned one (ERR_TLS_PEER)', async () => {
    const stranger = gp.generateAutoMtlsCert();
    await withConnection(
      (s) =>
        pinned.acceptPinnedTls(
          s,
          context,
          client.certDer,
          () => {},
          () => {},
        ),
      async (sock) => {
        await expect(gp.wrapMutualTls(sock, { serverCertPem: stranger.certPem, certPem: client.certPem, keyPem: client.keyPem })).rejects.toMatchObject({
          code: 'ERR_TLS_PEER',
        });
      },
    );
  });
});
