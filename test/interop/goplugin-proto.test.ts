/**
 * go-plugin's own services are defined by hand (src/goplugin/proto.ts + wire.ts). Here they are
 * compared, in both directions, with what @grpc/proto-loader makes of the
 * upstream .proto files: go-plugin v1.8's internal/plugin/*.proto (the module the v1.8 interop
 * build resolves) and grpc's health/v1/health.proto (from Debian's grpc sources).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { goV18, itWithPeers, root } from './peers';

const requireHere = createRequire(__filename);
const proto: typeof import('../../src/goplugin/proto') = requireHere(join(root, 'dist', 'goplugin', 'proto.js'));
const protoLoader: typeof import('@grpc/proto-loader') = requireHere('@grpc/proto-loader');

const HEALTH_PROTO_DIR = '/usr/share/gocode/src/google.golang.org/grpc/debian/missing-sources/grpc/grpc-proto/master';

/** Where the upstream .proto files are, or why not. */
function upstream(): { ok: true; pluginDir: string } | { ok: false; reason: string } {
  const built = goV18();
  if (!built.ok) return built;
  const pluginDir = join(built.moduleDir, 'internal', 'plugin');
  for (const f of [join(pluginDir, 'grpc_stdio.proto'), join(HEALTH_PROTO_DIR, 'grpc/health/v1/health.proto')]) {
    if (!existsSync(f)) return { ok: false, reason: `${f} missing (golang-google-grpc-dev and the v1.8 module cache provide it)` };
  }
  return { ok: true, pluginDir };
}

const where = upstream();
const LOADER = { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true } as const;

function loadUpstream(pluginDir: string) {
  return protoLoader.loadSync(['grpc_controller.proto', 'grpc_stdio.proto', 'grpc_broker.proto', 'grpc/health/v1/health.proto'], {
    ...LOADER,
    includeDirs: [pluginDir, HEALTH_PROTO_DIR],
  });
}

const ours = () => proto.goPluginServices();
const pairs = [
  ['plugin.GRPCController', 'controller'],
  ['plugin.GRPCStdio', 'stdio'],
  ['plugin.GRPCBroker', 'broker'],
  ['grpc.health.v1.Health', 'health'],
] as const;

const text = fc.string({ unit: 'grapheme', maxLength: 40 });
const uint32 = fc.integer({ min: 0, max: 2 ** 32 - 1 });
const empty = fc.constant({});
const healthRequest = fc.record({ service: text });
const healthResponse = fc.record({ status: fc.constantFrom(...proto.SERVING_STATUSES) });
const connInfo = fc.record({
  serviceId: uint32,
  network: fc.constantFrom('', 'unix', 'tcp'),
  address: text,
  knock: fc.option(fc.record({ knock: fc.boolean(), ack: fc.boolean(), error: text }), { nil: null }),
});
/** Request and response messages of every method upstream defines (a missing one fails the test). */
const arbitraries: Record<string, { request: fc.Arbitrary<unknown>; response: fc.Arbitrary<unknown> }> = {
  '/grpc.health.v1.Health/Check': { request: healthRequest, response: healthResponse },
  '/grpc.health.v1.Health/Watch': { request: healthRequest, response: healthResponse },
  '/plugin.GRPCStdio/StreamStdio': {
    request: empty,
    response: fc.record({ channel: fc.constantFrom(...proto.STDIO_CHANNELS), data: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)) }),
  },
  '/plugin.GRPCBroker/StartStream': { request: connInfo, response: connInfo },
  '/plugin.GRPCController/Shutdown': { request: empty, response: empty },
};

describe('go-plugin service definitions without a protobuf runtime', () => {
  it('plugsock/goplugin loads neither proto-loader nor protobufjs', () => {
    const out = execFileSync(
      process.execPath,
      ['-e', `require(${JSON.stringify(join(root, 'dist', 'goplugin', 'index.js'))}); console.log(JSON.stringify(Object.keys(require.cache)))`],
      { encoding: 'utf8' },
    );
    const loaded = JSON.parse(out) as string[];
    expect(loaded.some((p) => p.includes('@grpc/grpc-js'))).toBe(true);
    expect(loaded.filter((p) => /proto-loader|protobufjs/.test(p))).toEqual([]);
  });

  itWithPeers(
    where,
    'the upstream go-plugin and grpc .proto files',
    "every method has upstream's path and streaming, and each side decodes what the other encodes",
    async () => {
      const def = loadUpstream((where as { pluginDir: string }).pluginDir);
      for (const [name, key] of pairs) {
        const theirs = def[name] as Record<string, import('@grpc/proto-loader').MethodDefinition<object, object>>;
        const mine = ours()[key].service as unknown as Record<string, import('@grpc/grpc-js').MethodDefinition<object, object>>;
        expect(Object.keys(mine).sort()).toEqual(Object.keys(theirs).sort());
        for (const m of Object.keys(theirs)) {
          const t = theirs[m]!;
          const o = mine[m]!;
          expect({ path: o.path, requestStream: o.requestStream, responseStream: o.responseStream }).toEqual({
            path: t.path,
            requestStream: t.requestStream,
            responseStream: t.responseStream,
          });
          const arb = arbitraries[t.path];
          expect(arb, `no messages for ${t.path}`).toBeDefined();
          for (const side of ['request', 'response'] as const) {
            const ser = side === 'request' ? [o.requestSerialize, t.requestSerialize] : [o.responseSerialize, t.responseSerialize];
            const de = side === 'request' ? [o.requestDeserialize, t.requestDeserialize] : [o.responseDeserialize, t.responseDeserialize];
            fc.assert(
              fc.property(arb![side], (msg) => {
                // Not byte for byte: protobufjs writes a zero value it was given, Go's marshaller
                // (the real peer) and ours leave it out; both are valid encodings of one message.
                const mineBytes = ser[0]!(msg as object);
                const theirBytes = ser[1]!(msg as object);
                expect(de[1]!(mineBytes), `${t.path} ${side}: upstream reads ours`).toEqual(msg);
                expect(de[0]!(theirBytes), `${t.path} ${side}: ours reads upstream's`).toEqual(msg);
                expect(de[0]!(mineBytes)).toEqual(msg);
                // Zero values omitted, as Go writes them: never longer than upstream's encoding.
                expect(mineBytes.length).toBeLessThanOrEqual(theirBytes.length);
              }),
              { numRuns: 200 },
            );
          }
        }
      }
    },
    60_000,
  );

  it('decoding arbitrary bytes returns a message or throws an Error, and never reads past the input', () => {
    const codecs = Object.values(proto.codecs);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        for (const codec of codecs) {
          try {
            codec.decode(Buffer.from(bytes));
          } catch (err) {
            expect(err).toBeInstanceOf(Error);
            expect((err as Error).message).toMatch(/^malformed protobuf message: /);
          }
        }
      }),
      { numRuns: 2000 },
    );
    // Unknown fields of every wire type are skipped, as protobuf requires of readers.
    const unknown = Buffer.from([0x28, 0x05, 0x31, 1, 2, 3, 4, 5, 6, 7, 8, 0x3d, 1, 2, 3, 4, 0x42, 0x01, 0x00]);
    expect(proto.codecs.healthRequest.decode(Buffer.concat([unknown, Buffer.from([0x0a, 0x01, 0x78])]))).toEqual({ service: 'x' });
    expect(() => proto.codecs.connInfo.decode(Buffer.from([0x1a, 0x05, 0x61]))).toThrow(/length past the end/);
    // A field of the wrong wire type is malformed, not read as its default.
    expect(() => proto.codecs.healthRequest.decode(Buffer.from([0x08, 0x01]))).toThrow(/field 1 should be length-delimited/);
    expect(() => proto.codecs.stdioData.decode(Buffer.from([0x0a, 0x00]))).toThrow(/field 1 should be a varint/);
    expect(() => proto.codecs.connInfo.encode({ serviceId: -1 })).toThrow(TypeError);
  });
});
