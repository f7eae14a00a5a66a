#!/usr/bin/env node
'use strict';
// The floor of a Node go-plugin provider's start-up, for bench/terraform.mjs: what any Node
// provider speaking AutoMTLS over node:http2 must do at least. No grpc-js, no plugsock, no
// schema: node:http2 over TLS with the host's certificate pinned (no trust store, as plugsock
// does), a certificate made ahead of time (FLOOR_CERT / FLOOR_KEY files), and an empty message
// with grpc-status 0 for every call; the streams Terraform opens (stdio, broker) stay open.
const { readFileSync, unlinkSync } = require('node:fs');
const http2 = require('node:http2');
const { X509Certificate } = require('node:crypto');

const cert = readFileSync(process.env.FLOOR_CERT);
const key = readFileSync(process.env.FLOOR_KEY);
const hostDer = new X509Certificate(process.env.PLUGIN_CLIENT_CERT).raw;
const path = `${process.env.FLOOR_DIR}/p${process.pid}.sock`;
const server = http2.createSecureServer({ key, cert, ca: [], requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' });
server.on('secureConnection', (s) => {
  if (!s.getPeerCertificate().raw?.equals(hostDer)) s.destroy();
});
server.on('stream', (stream, headers) => {
  const p = headers[':path'];
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  if (p.endsWith('/StreamStdio') || p.endsWith('/StartStream')) return;
  stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
  stream.end(Buffer.alloc(5)); // one empty message: flag 0, length 0
  if (p.endsWith('/Shutdown')) setImmediate(() => process.exit(0));
});
const field = new X509Certificate(cert).raw.toString('base64').replace(/=+$/, '');
server.listen(path, () => process.stdout.write(`1|6|unix|${path}|grpc|${field}\n`));
process.on('exit', () => {
  try {
    unlinkSync(path);
  } catch {}
});
process.on('SIGTERM', () => process.exit(0));
