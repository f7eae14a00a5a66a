/**
 * The go-plugin handshake line and environment: every validation error, and go-plugin's own
 * semantics (field count, trailing '|', cert > 50 chars, 7th field, version negotiation).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as gp from '../src/goplugin/index';
import { removeDir, tempDir } from './kit';

// Pure TypeScript: imports src/ directly, so it runs without a build.
const { parseHandshakeLine, buildHandshakeLine } = gp;

const CERT = 'A'.repeat(51);

function code(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect((err as Error).name).toBe('TransportError');
    return (err as { code: string }).code;
  }
  throw new Error('did not throw');
}

describe('parseHandshakeLine: accepted lines', () => {
  it('parses go-plugin 1.0.1 output (six fields, trailing |)', () => {
    expect(parseHandshakeLine('1|1|unix|/tmp/plugin3962065583|grpc|\n')).toEqual({
      coreVersion: 1,
      appVersion: 1,
      network: 'unix',
      address: '/tmp/plugin3962065583',
      protocol: 'grpc',
      serverCert: null,
      multiplex: null,
    });
  });
  it('trims whitespace like go-plugin', () => {
    expect(parseHandshakeLine('  1|5|unix|/tmp/p|grpc|\r\n').appVersion).toBe(5);
  });
  it('four fields mean netrpc', () => {
    expect(parseHandshakeLine('1|1|tcp|127.0.0.1:1234').protocol).toBe('netrpc');
  });
  it('tcp host:port', () => {
    const h = parseHandshakeLine('1|6|tcp|127.0.0.1:10000|grpc|');
    expect([h.network, h.address]).toEqual(['tcp', '127.0.0.1:10000']);
  });
  it('a 6th field of 50 chars or fewer is ignored (old "extra" data)', () => {
    expect(parseHandshakeLine(`1|1|unix|/tmp/p|grpc|${'A'.repeat(50)}`).serverCert).toBeNull();
  });
  it('a 6th field over 50 chars is the certificate when the host sent PLUGIN_CLIENT_CERT', () => {
    expect(parseHandshakeLine(`1|1|unix|/tmp/p|grpc|${CERT}`, { clientCertSent: true }).serverCert).toBe(CERT);
  });
  it('7th field when multiplexing was requested', () => {
    expect(parseHandshakeLine('1|1|unix|/tmp/p|grpc||true', { multiplexRequested: true }).multiplex).toBe(true);
    expect(parseHandshakeLine('1|1|unix|/tmp/p|grpc||false', { multiplexRequested: true }).multiplex).toBe(false);
    expect(parseHandshakeLine('1|1|unix|/tmp/p|grpc||1', { multiplexRequested: true }).multiplex).toBe(true);
  });
  it('app version in the accepted list', () => {
    expect(parseHandshakeLine('1|2|unix|/tmp/p|grpc|', { appVersions: [1, 2] }).appVersion).toBe(2);
  });
});

describe('parseHandshakeLine: every validation error', () => {
  const cases: Array<[string, string, object?, RegExp?]> = [
    ['', 'ERR_HANDSHAKE_INVALID', {}, /empty/],
    ['   \n', 'ERR_HANDSHAKE_INVALID', {}, /empty/],
    ['hello world', 'ERR_HANDSHAKE_INVALID', {}, /at least 4/],
    ['1|1|unix', 'ERR_HANDSHAKE_INVALID', {}, /at least 4/],
    ['1|1|unix|/tmp/p|grpc||true|x', 'ERR_HANDSHAKE_INVALID', { multiplexRequested: true }, /too many/],
    ['starting up 1|1|unix|/tmp/p|grpc|', 'ERR_HANDSHAKE_INVALID', {}, /text before the handshake/],
    ['x|1|unix|/tmp/p|grpc|', 'ERR_HANDSHAKE_INVALID', {}, /core protocol version "x"/],
    ['2|1|unix|/tmp/p|grpc|', 'ERR_UNSUPPORTED_VERSION', {}, /core protocol version 2/],
    ['1|one|unix|/tmp/p|grpc|', 'ERR_HANDSHAKE_INVALID', {}, /app protocol version/],
    ['1|3|unix|/tmp/p|grpc|', 'ERR_UNSUPPORTED_VERSION', { appVersions: [1, 2] }, /version 3/],
    ['1|1|udp|/tmp/p|grpc|', 'ERR_HANDSHAKE_INVALID', {}, /unknown network "udp"/],
    ['1|1|unix||grpc|', 'ERR_HANDSHAKE_INVALID', {}, /address field is empty/],
    ['1|1|unix|tmp/p|grpc|', 'ERR_HANDSHAKE_INVALID', {}, /not an absolute path/],
    ['1|1|tcp|localhost|grpc|', 'ERR_HANDSHAKE_INVALID', {}, /not host:port/],
    ['1|1|tcp|localhost:70000|grpc|', 'ERR_HANDSHAKE_INVALID', {}, /not host:port/],
    ['1|1|unix|/tmp/p|http|', 'ERR_HANDSHAKE_INVALID', {}, /unknown protocol "http"/],
    ['1|1|unix|/tmp/p||', 'ERR_HANDSHAKE_INVALID', {}, /unknown protocol ""/],
    [`1|1|unix|/tmp/p|grpc|${CERT}`, 'ERR_HANDSHAKE_INVALID', {}, /did not send PLUGIN_CLIENT_CERT/],
    [`1|1|unix|/tmp/p|grpc|${'-'.repeat(51)}`, 'ERR_HANDSHAKE_INVALID', { clientCertSent: true }, /base64/],
    ['1|1|unix|/tmp/p|grpc||true', 'ERR_HANDSHAKE_INVALID', {}, /PLUGIN_MULTIPLEX_GRPC/],
    ['1|1|unix|/tmp/p|grpc||maybe', 'ERR_HANDSHAKE_INVALID', { multiplexRequested: true }, /not a boolean/],
  ];
  for (const [line, want, opts, msg] of cases) {
    it(`${JSON.stringify(line.length > 40 ? line.slice(0, 40) + '...' : line)} -> ${want}`, () => {
      expect(code(() => parseHandshakeLine(line, opts))).toBe(want);
      if (msg) expect(() => parseHandshakeLine(line, opts)).toThrow(msg);
    });
  }
});

describe('buildHandshakeLine', () => {
  it('prints six fields like go-plugin (empty cert leaves a trailing |)', () => {
    expect(buildHandshakeLine({ appVersion: 1, address: '/tmp/x.sock' })).toBe('1|1|unix|/tmp/x.sock|grpc|');
  });
  it('adds the 7th field only when asked', () => {
    expect(buildHandshakeLine({ appVersion: 2, address: '/tmp/x', multiplex: false })).toBe('1|2|unix|/tmp/x|grpc||false');
  });
  it('round-trips', () => {
    const line = buildHandshakeLine({ appVersion: 6, network: 'tcp', address: '127.0.0.1:1', protocol: 'netrpc', serverCert: CERT });
    expect(parseHandshakeLine(line, { clientCertSent: true })).toMatchObject({ appVersion: 6, network: 'tcp', protocol: 'netrpc', serverCert: CERT });
  });
  it('rejects bad input', () => {
    expect(code(() => buildHandshakeLine({ appVersion: -1, address: '/tmp/x' }))).toBe('ERR_INVALID_OPTION');
    expect(code(() => buildHandshakeLine({ appVersion: 1, address: '/tmp/a|b' }))).toBe('ERR_INVALID_OPTION');
    expect(code(() => buildHandshakeLine({ appVersion: 1, address: '' }))).toBe('ERR_INVALID_OPTION');
    expect(code(() => buildHandshakeLine({ appVersion: 1, address: '/x', network: 'udp' as never }))).toBe('ERR_INVALID_OPTION');
    expect(code(() => buildHandshakeLine({ appVersion: 1, address: '/x', protocol: 'http' as never }))).toBe('ERR_INVALID_OPTION');
    expect(code(() => buildHandshakeLine({ appVersion: 1, address: '/x', serverCert: 'short' }))).toBe('ERR_INVALID_OPTION');
  });
});

describe('environment', () => {
  it('PLUGIN_PROTOCOL_VERSIONS: comma list, invalid entries skipped (no spaces allowed, as Atoi)', () => {
    expect(gp.parseProtocolVersions('1,2,5')).toEqual({ versions: [1, 2, 5], invalid: [] });
    expect(gp.parseProtocolVersions('1, 2,x')).toEqual({ versions: [1], invalid: [' 2', 'x'] });
    expect(gp.parseProtocolVersions(undefined)).toEqual({ versions: [], invalid: [] });
  });
  it('negotiation: highest common version, else the plugin lowest', () => {
    expect(gp.negotiateVersion([1, 2, 3], [2, 3, 9])).toBe(3);
    expect(gp.negotiateVersion([4, 5], [1, 2])).toBe(4);
    expect(gp.negotiateVersion([4, 5], [])).toBe(4);
  });
  it('magic cookie must match exactly', () => {
    expect(gp.checkMagicCookie({ K: 'v' }, 'K', 'v')).toBe(true);
    expect(gp.checkMagicCookie({ K: 'v ' }, 'K', 'v')).toBe(false);
    expect(gp.checkMagicCookie({}, 'K', 'v')).toBe(false);
  });
  it('PLUGIN_MIN_PORT / PLUGIN_MAX_PORT', () => {
    expect(gp.parsePortRange({})).toEqual({ min: 0, max: 0 });
    expect(gp.parsePortRange({ PLUGIN_MIN_PORT: '10000', PLUGIN_MAX_PORT: '25000' })).toEqual({ min: 10000, max: 25000 });
    expect(code(() => gp.parsePortRange({ PLUGIN_MIN_PORT: '20', PLUGIN_MAX_PORT: '10' }))).toBe('ERR_INVALID_ENV');
    expect(code(() => gp.parsePortRange({ PLUGIN_MIN_PORT: 'low' }))).toBe('ERR_INVALID_ENV');
  });
  it('PLUGIN_UNIX_SOCKET_GROUP: gid or name from the group file', () => {
    const dir = tempDir('plugsock-gp-test-');
    try {
      const file = join(dir, 'group');
      writeFileSync(file, 'root:x:0:\nplugins:x:4242:alice,bob\n');
      expect(gp.resolveGroup('1234', file)).toBe(1234);
      expect(gp.resolveGroup('plugins', file)).toBe(4242);
      expect(code(() => gp.resolveGroup('nope', file))).toBe('ERR_INVALID_ENV');
    } finally {
      removeDir(dir);
    }
  });
  it('readPluginEnv', () => {
    expect(
      gp.readPluginEnv({
        PLUGIN_PROTOCOL_VERSIONS: '5,6',
        PLUGIN_UNIX_SOCKET_DIR: '/run/p',
        PLUGIN_UNIX_SOCKET_GROUP: 'plugins',
        PLUGIN_MULTIPLEX_GRPC: 'true',
        PLUGIN_CLIENT_CERT: 'PEM',
      }),
    ).toEqual({
      hostVersions: [5, 6],
      invalidVersions: [],
      unixSocketDir: '/run/p',
      unixSocketGroup: 'plugins',
      clientCert: 'PEM',
      multiplex: true,
      multiplexSet: true,
    });
    expect(gp.readPluginEnv({}).multiplexSet).toBe(false);
  });
  it('buildHostEnv sets what a go-plugin host sets', () => {
    expect(gp.buildHostEnv({ magicCookieKey: 'K', magicCookieValue: 'v', versions: [1, 2], unixSocketDir: '/d', unixSocketGroup: 12 })).toEqual({
      K: 'v',
      PLUGIN_MIN_PORT: '0',
      PLUGIN_MAX_PORT: '0',
      PLUGIN_PROTOCOL_VERSIONS: '1,2',
      PLUGIN_UNIX_SOCKET_DIR: '/d',
      PLUGIN_UNIX_SOCKET_GROUP: '12',
    });
    expect(code(() => gp.buildHostEnv({ magicCookieKey: '', magicCookieValue: 'v', versions: [1] }))).toBe('ERR_INVALID_OPTION');
    expect(code(() => gp.buildHostEnv({ magicCookieKey: 'K', magicCookieValue: 'v', versions: [] }))).toBe('ERR_INVALID_OPTION');
  });
});
