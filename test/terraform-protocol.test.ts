/**
 * Terraform's wire protocol: scripts/tfplugin-protos.mjs (the descriptors from the real Go module),
 * the codec (src/terraform/protobuf.ts) against protobufjs as the oracle, hostile input, the
 * grpc-js service definition over a real Unix socket, and the start-up cost of the built module.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import fc from 'fast-check';
import * as protobuf from 'protobufjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { TransportError } from '../src/errors';
import {
  type FieldDescriptor,
  MAX_DEPTH,
  type MessageType,
  type ProtoDescriptor,
  compileMessages,
  decodeMessage,
  messageTypes,
} from '../src/terraform/protobuf';
import { encodeMessage } from '../src/terraform/protobuf-encode';
import { TERRAFORM_MAGIC_COOKIE_KEY, TERRAFORM_MAGIC_COOKIE_VALUE, type TerraformProtocol, terraformProtocol } from '../src/terraform/protocol';
import { cannotRun, distPath, root, scratchDirs, tempDirEach } from './kit';

const SCRIPT = join(root, 'scripts', 'tfplugin-protos.mjs');
const VERSIONS = [5, 6] as const;

interface Script {
  MODULE: string;
  VERSION: string;
  PROTOS: { version: 5 | 6; file: string }[];
  findGo(): string;
  moduleDir(go: string): string;
  describe(pb: typeof protobuf, ns: protobuf.Root, pkg: string, source: object): ProtoDescriptor;
}

// Filled by beforeAll: the script ran, and the .proto files it read (for protobufjs, the oracle).
let script: Script | undefined;
const protoPath: Record<number, string> = {};
const oracle: Record<number, protobuf.Root> = {};
const dirs = scratchDirs('plugsock-tfproto-');
const dir = tempDirEach('plugsock-tfproto-');

function runScript(args: string[] = [], env: NodeJS.ProcessEnv = process.env) {
  return spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8', env, timeout: 300_000 });
}

beforeAll(async () => {
  const r = runScript();
  if (r.status !== 0) {
    cannotRun(`scripts/tfplugin-protos.mjs failed (needs Go and the Go module proxy once): ${r.stderr.trim()}`);
    return;
  }
  script = (await import(pathToFileURL(SCRIPT).href)) as Script;
  const moduleDir = script.moduleDir(script.findGo());
  for (const { version, file } of script.PROTOS) {
    protoPath[version] = join(moduleDir, file);
    oracle[version] = new protobuf.Root().loadSync(protoPath[version], { keepCase: true });
  }
}, 300_000);

/** The test needs the generated descriptors (a local run without Go skips; CI fails in beforeAll). */
function needScript(ctx: { skip: () => void }): Script {
  if (!script) ctx.skip();
  return script!;
}

function expectCode(fn: () => unknown, code: string): TransportError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TransportError);
    expect((err as TransportError).code).toBe(code);
    return err as TransportError;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

// ---- Sample values: every field set (one member per oneof), several variants per type ----

const SCALARS: Record<string, unknown[]> = {
  double: [0.5, -1e300, -0, Number.POSITIVE_INFINITY, Number.NaN, 2 ** -1074],
  float: [0.5, -1.25, 3.4028234663852886e38, -0],
  int32: [-1, 2 ** 31 - 1, -(2 ** 31), 7, 300],
  int64: [-1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, 2 ** 40, 300],
  uint32: [1, 2 ** 32 - 1, 128],
  uint64: [1, Number.MAX_SAFE_INTEGER, 2 ** 35],
  sint32: [-1, 2 ** 31 - 1, -(2 ** 31), 64],
  sint64: [-1, -Number.MAX_SAFE_INTEGER, 2 ** 45 + 3],
  fixed32: [1, 2 ** 32 - 1],
  fixed64: [1, Number.MAX_SAFE_INTEGER],
  sfixed32: [-1, 2 ** 31 - 1, -(2 ** 31)],
  sfixed64: [-1, -Number.MAX_SAFE_INTEGER, 2 ** 52],
  bool: [true, false],
  string: ['a', 'ünïcødé ✓ 𝄞', 'x'.repeat(300), ''],
};

function scalar(type: string, seed: number): unknown {
  if (type === 'bytes') return [Buffer.from([seed & 255, 0, 255]), Buffer.alloc(200, 7), Buffer.alloc(0)][seed % 3];
  const values = SCALARS[type]!;
  return values[seed % values.length];
}

function mapKey(type: string, seed: number): string {
  if (type === 'bool') return seed % 2 ? 'true' : 'false';
  if (type === 'string') return [`k${seed}`, '', 'ключ'][seed % 3]!;
  return String(scalar(type, seed));
}

/** A value of `typeName` (messages nested `maxDepth` deep at most). */
function sample(d: ProtoDescriptor, typeName: string, seed: number, maxDepth = 4, depth = 0): Record<string, unknown> {
  const fields = d.messages[typeName]!.fields;
  const m: Record<string, unknown> = {};
  const value = (f: FieldDescriptor, s: number): unknown => {
    if (f.type === 'message') return sample(d, f.ref!, s, maxDepth, depth + 1);
    if (f.type !== 'enum') return scalar(f.type, s);
    const numbers = Object.values(d.enums[f.ref!]!);
    return s % 4 === 3 ? 99 : numbers[s % numbers.length]; // 99: open enums keep numbers they do not know
  };
  for (const f of fields) {
    if (f.oneof !== undefined) {
      const members = fields.filter((g) => g.oneof === f.oneof);
      if (members[seed % members.length] !== f) continue;
    }
    if (f.optional && seed % 3 === 2) continue;
    if (f.type === 'message' && depth >= maxDepth) continue;
    if (f.key) m[f.name] = Object.fromEntries([0, 1].map((i) => [mapKey(f.key!, seed + i), value(f, seed + i)]));
    else if (f.repeated) m[f.name] = [0, 1, 2].slice(0, f.type === 'message' ? 2 : 3).map((i) => value(f, seed + i));
    else m[f.name] = value(f, seed);
  }
  return m;
}

const TO_OBJECT = { longs: Number, defaults: true, arrays: true, objects: true } as const;

/** protobufjs's reading of `bytes` as `type`, in our conventions (defaults filled, longs as numbers). */
function oracleDecode(pbRoot: protobuf.Root, type: string, bytes: Uint8Array): unknown {
  const T = pbRoot.lookupType(type);
  return decimalKeys(T, T.toObject(T.decode(bytes), TO_OBJECT));
}

const LONG_KEYS = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

/** protobufjs keys maps with 64-bit keys by an 8-character hash of the number; we (and fromObject) by its decimal. */
function decimalKeys(T: protobuf.Type, m: any): any {
  for (const f of T.fieldsArray) {
    const v = m[f.name];
    if (v == null) continue;
    const sub = f.resolvedType instanceof protobuf.Type ? f.resolvedType : null;
    if (f.map) {
      const keyType = (f as unknown as protobuf.MapField).keyType;
      const long = LONG_KEYS.has(keyType);
      const unsigned = keyType === 'uint64' || keyType === 'fixed64';
      m[f.name] = Object.fromEntries(
        Object.entries(v).map(([k, x]) => [long ? String(protobuf.util.LongBits.fromHash(k).toNumber(unsigned)) : k, sub ? decimalKeys(sub, x) : x]),
      );
    } else if (sub && f.repeated) for (const x of v) decimalKeys(sub, x);
    else if (sub) decimalKeys(sub, v);
  }
  return m;
}

/** Round-trips one value both ways against protobufjs. */
function roundTrip(types: Map<string, MessageType>, pbRoot: protobuf.Root, type: string, value: object): void {
  const t = types.get(type)!;
  const T = pbRoot.lookupType(type);
  const ours = encodeMessage(t, value);
  const expected = T.toObject(T.fromObject(value), TO_OBJECT); // (map keys stay as given)
  expect(decodeMessage(t, ours), `${type}: ours -> ours`).toEqual(expected);
  expect(oracleDecode(pbRoot, type, ours), `${type}: ours -> protobufjs`).toEqual(expected);
  const theirs = T.encode(T.fromObject(value)).finish();
  expect(decodeMessage(t, theirs), `${type}: protobufjs -> ours`).toEqual(oracleDecode(pbRoot, type, theirs));
}

// A message with every kind of field tfplugin does not use (fixed, zigzag, floats, packed, maps
// with other keys, multi-byte tags): the codec is general, and tested as such.
const KITCHEN_SINK = `
syntax = "proto3";
package ks;
enum Color { RED = 0; GREEN = 1; BLUE = 2; }
message Sink {
  double d = 1; float f = 2; int32 i32 = 3; int64 i64 = 4; uint32 u32 = 5; uint64 u64 = 6;
  sint32 s32 = 7; sint64 s64 = 8; fixed32 f32 = 9; fixed64 f64 = 10; sfixed32 sf32 = 11; sfixed64 sf64 = 12;
  bool b = 13; string s = 14; bytes by = 15; Color c = 16; Sink child = 17;
  repeated int32 ri32 = 20; repeated sint64 rs64 = 21; repeated double rd = 22; repeated bool rb = 23;
  repeated Color rc = 24; repeated fixed32 rf32 = 25; repeated uint64 ru64 = 26; repeated float rf = 31;
  repeated sfixed64 rsf64 = 32; repeated int64 ri64_unpacked = 27 [packed = false];
  repeated string rs = 28; repeated bytes rby = 29; repeated Sink rchild = 30;
  map<int32, string> m_i32 = 40; map<bool, Sink> m_b = 41; map<uint64, bytes> m_u64 = 42;
  map<sint64, Color> m_s64 = 43; map<string, double> m_s = 44; map<fixed32, int64> m_f32 = 45;
  map<sfixed64, sint32> m_sf64 = 46;
  oneof pick { string p_s = 50; Sink p_child = 51; int64 p_i64 = 52; }
  optional int32 o_i32 = 60; optional string o_s = 61; optional bytes o_by = 62; optional Sink o_child = 63;
  string far = 1000; int32 farther = 20000;
}
`;

function kitchenSink(s: Script, source = KITCHEN_SINK): { d: ProtoDescriptor; types: Map<string, MessageType>; pbRoot: protobuf.Root } {
  const pbRoot = protobuf.parse(source, { keepCase: true }).root;
  pbRoot.resolveAll();
  const d = s.describe(protobuf, pbRoot, 'ks', { module: 'test', version: 'v0', file: 'ks.proto', sha256: '' });
  return { d, types: compileMessages(d), pbRoot };
}

describe('scripts/tfplugin-protos.mjs', () => {
  it('writes descriptors of both protocols with their source, and skips when they are current', (ctx) => {
    const s = needScript(ctx);
    const out = dir();
    const first = runScript(['--out', out]);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/wrote .*tfplugin5\.json/);
    for (const v of VERSIONS) {
      const file = join(out, `tfplugin${v}.json`);
      const d = JSON.parse(readFileSync(file, 'utf8')) as ProtoDescriptor;
      expect(d.source).toEqual({
        module: 'github.com/hashicorp/terraform-plugin-go',
        version: 'v0.31.0',
        file: s.PROTOS.find((p) => p.version === v)!.file,
        sha256: createHash('sha256').update(readFileSync(protoPath[v]!)).digest('hex'),
      });
      expect(readFileSync(file, 'utf8')).toBe(readFileSync(join(root, 'generated', `tfplugin${v}.json`), 'utf8'));
      // every message protobufjs sees in the .proto is in the descriptor, with all its fields
      const pbTypes: protobuf.Type[] = [];
      const walk = (ns: protobuf.NamespaceBase) => {
        for (const o of ns.nestedArray) {
          if (o instanceof protobuf.Type) pbTypes.push(o);
          if (o instanceof protobuf.Namespace || o instanceof protobuf.Type) walk(o);
        }
      };
      walk(oracle[v]!);
      expect(Object.keys(d.messages).sort()).toEqual(pbTypes.map((t) => t.fullName.slice(1)).sort());
      for (const t of pbTypes) expect(d.messages[t.fullName.slice(1)]!.fields.map((f) => f.no)).toEqual(t.fieldsArray.map((f) => f.id));
      expect(d.services[`tfplugin${v}.Provider`]!.methods.map((m) => m.name)).toContain(v === 5 ? 'GetSchema' : 'GetProviderSchema');
    }
    const mtime = statSync(join(out, 'tfplugin6.json')).mtimeMs;
    const second = runScript(['--out', out]);
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/tfplugin6\.json is up to date/);
    expect(statSync(join(out, 'tfplugin6.json')).mtimeMs).toBe(mtime);
  });

  it('says in one line what to do without Go (unless it has current descriptors), and refuses unknown arguments', (ctx) => {
    needScript(ctx);
    const noGoEnv = { ...process.env, GO: join(dir(), 'no-go') };
    const noGo = runScript(['--out', dir()], noGoEnv);
    expect(noGo.status).toBe(1);
    expect(noGo.stderr.trim().split('\n')).toHaveLength(1);
    expect(noGo.stderr).toMatch(/GO=.* is not a file/);
    // descriptors of this module version (as in the published package) need no Go; --force does
    for (const v of VERSIONS) copyFileSync(join(root, 'generated', `tfplugin${v}.json`), join(dir(), `tfplugin${v}.json`));
    const kept = runScript(['--out', dir()], noGoEnv);
    expect(kept.status, kept.stderr).toBe(0);
    expect(kept.stdout).toMatch(
      /no Go here; keeping .*tfplugin5\.json and .*tfplugin6\.json \(made from github\.com\/hashicorp\/terraform-plugin-go@v0\.31\.0\)/,
    );
    expect(runScript(['--out', dir(), '--force'], noGoEnv).status).toBe(1);
    const bad = runScript(['--bogus']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/unknown argument --bogus; usage/);
  });
});

describe('the codec against protobufjs', () => {
  for (const v of VERSIONS) {
    it(`round-trips every message type of tfplugin${v}, both ways`, (ctx) => {
      needScript(ctx);
      const d = JSON.parse(readFileSync(join(root, 'generated', `tfplugin${v}.json`), 'utf8')) as ProtoDescriptor;
      const types = compileMessages(d);
      const kinds = new Set<string>();
      for (const name of Object.keys(d.messages)) {
        for (const seed of [0, 1, 2, 3]) roundTrip(types, oracle[v]!, name, sample(d, name, seed));
        roundTrip(types, oracle[v]!, name, {}); // all defaults
        for (const f of d.messages[name]!.fields) kinds.add(`${f.type}${f.repeated ? '[]' : ''}${f.key ? `{${f.key}}` : ''}${f.oneof ? '|' : ''}`);
      }
      // the samples covered what tfplugin uses: scalars, enums, messages, repeated, maps, oneofs
      for (const k of ['string', 'bytes', 'bool', 'int64', 'enum', 'message', 'message[]', 'message{string}', 'string{string}', 'int64|', 'string|']) {
        expect(kinds.has(k), k).toBe(true);
      }
    });
  }

  it('round-trips every field kind of a kitchen-sink message, both ways', (ctx) => {
    const { d, types, pbRoot } = kitchenSink(needScript(ctx));
    for (let seed = 0; seed < 12; seed++) roundTrip(types, pbRoot, 'ks.Sink', sample(d, 'ks.Sink', seed, 2));
    const t = types.get('ks.Sink')!;
    // extremes, and bigints on encode (read back as the nearest number)
    const extremes = { i64: -(2n ** 63n), u64: 2n ** 64n - 1n, s64: 2n ** 63n - 1n, sf64: -(2n ** 63n), f64: 2n ** 64n - 1n, ri32: [-(2 ** 31)] };
    const back = decodeMessage(t, encodeMessage(t, extremes));
    expect(back).toMatchObject({ i64: -(2 ** 63), u64: 2 ** 64, s64: 2 ** 63, sf64: -(2 ** 63), f64: 2 ** 64, ri32: [-(2 ** 31)] });
    expect(back).toEqual(oracleDecode(pbRoot, 'ks.Sink', encodeMessage(t, extremes)));
    // presence: a set oneof member or optional field is written even at its default; unset ones stay out
    const present = decodeMessage(t, encodeMessage(t, { p_i64: 0, o_i32: 0, o_s: '', i32: 0 }));
    expect(present).toMatchObject({ p_i64: 0, o_i32: 0, o_s: '' });
    expect('o_by' in present || 'p_s' in present || 'o_child' in present).toBe(false);
    expect(present.child).toBeNull();
    // Maps given as Maps, integer keys as numbers or bigints
    const viaMap = encodeMessage(t, { m_i32: new Map([[-5, 'a']]), m_u64: new Map([[2n ** 60n, Buffer.from('x')]]) });
    expect(decodeMessage(t, viaMap)).toMatchObject({ m_i32: { '-5': 'a' }, m_u64: { [String(2 ** 60)]: Buffer.from('x') } });
  });

  it('reads repeated scalars packed and unpacked, and skips unknown fields of every wire type', (ctx) => {
    const s = needScript(ctx);
    const packed = kitchenSink(s);
    const unpacked = kitchenSink(
      s,
      KITCHEN_SINK.replace(/(repeated (?:int32|sint64|double|bool|Color|fixed32|uint64|float|sfixed64) \w+ = \d+);/g, '$1 [packed = false];'),
    );
    const t = packed.types.get('ks.Sink')!;
    expect(packed.d.messages['ks.Sink']!.fields.find((f) => f.name === 'ri32')!.packed).toBe(true);
    expect(unpacked.d.messages['ks.Sink']!.fields.find((f) => f.name === 'ri32')!.packed).toBeUndefined();
    for (let seed = 0; seed < 6; seed++) {
      const value = sample(packed.d, 'ks.Sink', seed, 2);
      const T = unpacked.pbRoot.lookupType('ks.Sink');
      const expanded = T.encode(T.fromObject(value)).finish();
      expect(decodeMessage(t, expanded)).toEqual(oracleDecode(packed.pbRoot, 'ks.Sink', expanded));
      expect(oracleDecode(unpacked.pbRoot, 'ks.Sink', encodeMessage(t, value))).toEqual(decodeMessage(t, encodeMessage(t, value)));
    }
    const value = sample(packed.d, 'ks.Sink', 1, 2);
    const unknown = Buffer.from([0xb8, 0x3e, 0x96, 0x01, 0xb9, 0x3e, 1, 2, 3, 4, 5, 6, 7, 8, 0xba, 0x3e, 2, 0xaa, 0xbb, 0xbd, 0x3e, 1, 2, 3, 4]); // field 999: varint, i64, len, i32
    const withUnknown = Buffer.concat([unknown, encodeMessage(t, value), unknown]);
    expect(decodeMessage(t, withUnknown)).toEqual(decodeMessage(t, encodeMessage(t, value)));
  });

  it('keeps a map key named __proto__ as a key, and the last of two oneof members', (ctx) => {
    const { types } = kitchenSink(needScript(ctx));
    const t = types.get('ks.Sink')!;
    const m = decodeMessage(t, encodeMessage(t, { m_s: JSON.parse('{"__proto__": 1.5, "a": 2}') }));
    expect(Object.getPrototypeOf(m.m_s)).toBe(Object.prototype);
    expect(Object.keys(m.m_s)).toEqual(['__proto__', 'a']);
    expect(Object.getOwnPropertyDescriptor(m.m_s, '__proto__')?.value).toBe(1.5);
    const both = Buffer.concat([encodeMessage(t, { p_s: 'first' }), encodeMessage(t, { p_i64: 7 })]);
    const read = decodeMessage(t, both);
    expect(read.p_i64).toBe(7);
    expect('p_s' in read).toBe(false);
  });
});

describe('hostile and malformed input', () => {
  const PROTOCOL = 'ERR_TERRAFORM_PROTOCOL';

  it('rejects truncation at every byte with the code (or reads a shorter valid message)', (ctx) => {
    needScript(ctx);
    const p = terraformProtocol(6);
    const d = JSON.parse(readFileSync(join(root, 'generated', 'tfplugin6.json'), 'utf8')) as ProtoDescriptor;
    const bytes = p.encode('GetProviderSchema.Response', sample(d, 'tfplugin6.GetProviderSchema.Response', 1, 2));
    let rejected = 0;
    for (let n = 0; n < bytes.length; n++) {
      try {
        p.decode('GetProviderSchema.Response', bytes.subarray(0, n));
      } catch (err) {
        expect((err as TransportError).code, `cut at ${n}`).toBe(PROTOCOL);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(bytes.length / 2);
  });

  it('rejects lengths past the end, bad varints, field 0, groups and wrong wire types', (ctx) => {
    needScript(ctx);
    const p = terraformProtocol(6);
    const cases: [string, number[]][] = [
      ['length past the end', [0x0a, 0x05, 0x08, 0x01]],
      ['a 4 GiB length', [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]],
      ['a 2^63 length', [0x0a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01]],
      ['an 11-byte varint', [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]],
      ['a truncated varint', [0x08, 0x80]],
      ['field number 0', [0x00, 0x01]],
      ['a group', [0x0b, 0x0c]],
      ['wire type 7', [0x0f]],
      ['a message field as a varint', [0x08, 0x01]],
      ['a truncated fixed64', [0x09, 1, 2, 3]],
    ];
    for (const [what, bytes] of cases) {
      const err = expectCode(() => p.decode('GetProviderSchema.Response', Buffer.from(bytes)), PROTOCOL);
      expect(err.message, what).toMatch(/^Malformed tfplugin6\.GetProviderSchema\.Response message: /);
    }
    // where, in a nested message
    expect(expectCode(() => p.decode('GetProviderSchema.Response', Buffer.from([0x0a, 0x02, 0x08, 0x80])), PROTOCOL).message).toBe(
      'Malformed tfplugin6.GetProviderSchema.Response message (in a tfplugin6.Schema): truncated varint (at byte 4 of 4).',
    );
  });

  it(`refuses nesting deeper than ${MAX_DEPTH}, without exhausting the stack`, (ctx) => {
    const { types } = kitchenSink(needScript(ctx));
    const t = types.get('ks.Sink')!;
    const nest = (levels: number): Buffer => {
      let b = Buffer.alloc(0);
      for (let i = 0; i < levels; i++) b = Buffer.concat([Buffer.from([0x8a, 0x01]), varint(b.length), b]); // child = 17
      return b;
    };
    expect(decodeMessage(t, nest(MAX_DEPTH))).toBeTruthy();
    expect(expectCode(() => decodeMessage(t, nest(MAX_DEPTH + 1)), PROTOCOL).message).toMatch(/nested deeper than 100/);
    expectCode(() => decodeMessage(t, nest(20_000)), PROTOCOL);
    // the same through tfplugin6's own recursion (Block -> NestedBlock -> Block)
    let block = Buffer.alloc(0);
    for (let i = 0; i < 300; i++) {
      const nested = Buffer.concat([Buffer.from([0x12]), varint(block.length), block]); // NestedBlock.block = 2
      block = Buffer.concat([Buffer.from([0x1a]), varint(nested.length), nested]); // Block.block_types = 3
    }
    expectCode(() => terraformProtocol(6).decode('Schema.Block', block), PROTOCOL);
    // encode: a cycle
    const cycle: Record<string, unknown> = {};
    cycle.child = cycle;
    expect(expectCode(() => encodeMessage(t, cycle), PROTOCOL).message).toMatch(/nested deeper than 100 messages \(a cycle\?\)/);
  });

  it('random and mutated bytes either decode or fail with the code', (ctx) => {
    needScript(ctx);
    const p = terraformProtocol(6);
    const d = JSON.parse(readFileSync(join(root, 'generated', 'tfplugin6.json'), 'utf8')) as ProtoDescriptor;
    const names = Object.keys(d.messages);
    const valid = names.map((n) => p.encode(n, sample(d, n, 2, 2)));
    const check = (name: string, bytes: Buffer) => {
      try {
        p.decode(name, bytes);
      } catch (err) {
        if (!(err instanceof TransportError) || (err.code as string) !== PROTOCOL) throw err;
      }
    };
    fc.assert(
      fc.property(fc.constantFrom(...names), fc.uint8Array({ maxLength: 80 }), (name, bytes) => check(name, Buffer.from(bytes))),
      { numRuns: 3000 },
    );
    fc.assert(
      fc.property(fc.nat(names.length - 1), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (i, flips) => {
        const bytes = Buffer.from(valid[i]!);
        for (const [at, b] of flips) if (bytes.length > 0) bytes[at % bytes.length] = b;
        check(names[i]!, bytes);
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses values of the wrong type, unknown fields and two members of a oneof', (ctx) => {
    const { types } = kitchenSink(needScript(ctx));
    const t = types.get('ks.Sink')!;
    const cases: [object, RegExp][] = [
      [{ s: 5 }, /Sink\.s: expected a string, got number 5/],
      [{ by: 'text' }, /Sink\.by: expected a Buffer/],
      [{ b: 1 }, /Sink\.b: expected a boolean/],
      [{ i32: 2 ** 31 }, /Sink\.i32: expected a int32/],
      [{ u32: -1 }, /Sink\.u32: expected a uint32/],
      [{ i64: 1.5 }, /Sink\.i64: expected a int64/],
      [{ i64: 2n ** 63n }, /Sink\.i64: expected a int64/],
      [{ u64: -1 }, /Sink\.u64: expected a uint64/],
      [{ d: '1' }, /Sink\.d: expected a number/],
      [{ child: [] }, /Sink\.child: expected an object \(a ks\.Sink\), got an array/],
      [{ ri32: 5 }, /Sink\.ri32: expected an array/],
      [{ rchild: [null] }, /Sink\.rchild: an element is null/],
      [{ m_i32: { x: 'a' } }, /Sink\.m_i32: expected a int32/],
      [{ m_s: { a: null } }, /Sink\.m_s: the value of key a is null/],
      [{ camelCase: 1 }, /Cannot encode ks\.Sink: it has no field camelCase/],
      [{ child: { oops: true } }, /Cannot encode ks\.Sink: it has no field oops/],
      [{ p_s: 'a', p_i64: 1 }, /p_i64 is set too: set one member of a oneof at most/],
    ];
    for (const [value, message] of cases) expect(expectCode(() => encodeMessage(t, value), PROTOCOL).message).toMatch(message);
    expect(expectCode(() => encodeMessage(t, 'x' as unknown as object), PROTOCOL).message).toMatch(/expected an object/);
    // undefined is unset, even for names the message does not have
    expect(encodeMessage(t, { s: undefined, nothing: undefined })).toEqual(Buffer.alloc(0));
  });
});

describe('terraformProtocol', () => {
  it('loads each version once, with the cookie and names relative to the package', (ctx) => {
    needScript(ctx);
    expect(TERRAFORM_MAGIC_COOKIE_KEY).toBe('TF_PLUGIN_MAGIC_COOKIE');
    expect(TERRAFORM_MAGIC_COOKIE_VALUE).toBe('d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2');
    for (const v of VERSIONS) {
      const p = terraformProtocol(v);
      expect(terraformProtocol(v)).toBe(p);
      expect([p.version, p.package]).toEqual([v, `tfplugin${v}`]);
      const bytes = p.encode('Diagnostic', { severity: 1, summary: 'boom' });
      expect(p.decode(`tfplugin${v}.Diagnostic`, bytes)).toMatchObject({ severity: 1, summary: 'boom', detail: '', attribute: null });
      const getSchema = v === 5 ? 'GetSchema' : 'GetProviderSchema'; // tfplugin5's name for it
      expect(p.provider[getSchema]).toMatchObject({ path: `/tfplugin${v}.Provider/${getSchema}`, originalName: `g${getSchema.slice(1)}` });
      expect(expectCode(() => p.encode('NoSuchThing', {}), 'ERR_TERRAFORM_PROTOCOL').message).toMatch(/has no message type NoSuchThing/);
    }
    expectCode(() => terraformProtocol(7 as 6), 'ERR_INVALID_OPTION');
    // streaming methods say so
    expect(terraformProtocol(6).provider.ListResource).toMatchObject({ requestStream: false, responseStream: true });
    expect(terraformProtocol(6).provider.WriteStateBytes).toMatchObject({ requestStream: true, responseStream: false });
  });

  it('compiles a message type when first used, with every type it refers to, recursive ones included', (ctx) => {
    needScript(ctx);
    const d = JSON.parse(readFileSync(join(root, 'generated', 'tfplugin6.json'), 'utf8')) as ProtoDescriptor;
    const type = messageTypes(d);
    expect(type.compiled.size).toBe(0);
    const response = type('tfplugin6.GetProviderSchema.Response')!;
    // What a provider's start needs, and no more: the schema types, not the other RPCs' messages.
    const names = [...type.compiled.keys()];
    expect(names).toEqual(expect.arrayContaining(['tfplugin6.Schema', 'tfplugin6.Schema.Block', 'tfplugin6.Schema.NestedBlock', 'tfplugin6.Diagnostic']));
    expect(names).not.toContain('tfplugin6.ApplyResourceChange.Request');
    expect(names.length).toBeLessThan(Object.keys(d.messages).length / 2);
    // Every message field of what was compiled is linked, and to the same object each time.
    for (const t of type.compiled.values()) for (const f of t.fields) if (f.type === 'message') expect(f.message).toBe(type.compiled.get(f.message!.name));
    expect(type('tfplugin6.GetProviderSchema.Response')).toBe(response);
    const block = type('tfplugin6.Schema.Block')!;
    const nested = block.fields.find((f) => f.name === 'block_types')!.message!;
    expect(nested.fields.find((f) => f.name === 'block')!.message).toBe(block);
    expect(type('tfplugin6.NoSuchThing')).toBeUndefined();
    expect(type('__proto__')).toBeUndefined();
    // The same types as compiling them all at once.
    const all = compileMessages(d);
    const shape = (t: MessageType) => t.fields.map((f) => [f.name, f.no, f.tag, f.message?.name ?? null]);
    for (const [name, t] of type.compiled) expect(shape(t)).toEqual(shape(all.get(name)!));
    // A broken reference is reported when the type that holds it is first used.
    const broken = structuredClone(d) as unknown as { messages: Record<string, { fields: FieldDescriptor[] }> };
    broken.messages['tfplugin6.Diagnostic']!.fields[3] = { ...broken.messages['tfplugin6.Diagnostic']!.fields[3]!, ref: 'tfplugin6.Gone' };
    const lazy = messageTypes(broken as unknown as ProtoDescriptor);
    expect(lazy('tfplugin6.StopProvider.Request')).toBeDefined();
    expect(expectCode(() => lazy('tfplugin6.Diagnostic'), 'ERR_TERRAFORM_PROTOCOL').message).toMatch(/no message type tfplugin6.Gone/);
    expect(expectCode(() => lazy('tfplugin6.Diagnostic'), 'ERR_TERRAFORM_PROTOCOL').message).toMatch(/no message type tfplugin6.Gone/);
    expect(lazy.compiled.has('tfplugin6.Diagnostic')).toBe(false);
  });

  for (const v of VERSIONS) {
    it(`serves and calls tfplugin${v}.Provider through grpc-js on a Unix socket (ours and proto-loader's client)`, async (ctx) => {
      needScript(ctx);
      const p: TerraformProtocol = terraformProtocol(v);
      const socket = join(dir(), 'provider.sock');
      const server = new grpc.Server();
      const seen: unknown[] = [];
      const validate = v === 5 ? 'PrepareProviderConfig' : 'ValidateProviderConfig'; // tfplugin5's name for it
      server.addService(p.provider, {
        GetMetadata: (call: grpc.ServerUnaryCall<any, any>, done: grpc.sendUnaryData<any>) => {
          seen.push(call.request);
          done(null, { server_capabilities: { plan_destroy: true }, resources: [{ type_name: 'x_thing' }], diagnostics: [] });
        },
        [validate]: (call: grpc.ServerUnaryCall<any, any>, done: grpc.sendUnaryData<any>) => {
          seen.push(call.request);
          const config = call.request.config.msgpack as Buffer;
          done(null, { diagnostics: [{ severity: 2, summary: `got ${config.toString('hex')}` }] });
        },
      });
      await new Promise<void>((resolve, reject) =>
        server.bindAsync(`unix://${socket}`, grpc.ServerCredentials.createInsecure(), (e) => (e ? reject(e) : resolve())),
      );
      const Client = grpc.makeGenericClientConstructor(p.provider, 'Provider');
      const client = new Client(`unix://${socket}`, grpc.credentials.createInsecure()) as any;
      const def = protoLoader.loadSync(protoPath[v]!, { keepCase: true, longs: Number, enums: String, defaults: true });
      const Theirs = (grpc.loadPackageDefinition(def) as any)[`tfplugin${v}`].Provider;
      const theirs = new Theirs(`unix://${socket}`, grpc.credentials.createInsecure());
      const call = (c: any, method: string, request: object) =>
        new Promise<any>((resolve, reject) => c[method](request, (e: Error | null, r: any) => (e ? reject(e) : resolve(r))));
      try {
        const meta = await call(client, 'GetMetadata', {});
        expect(meta).toMatchObject({ server_capabilities: { plan_destroy: true }, resources: [{ type_name: 'x_thing' }], data_sources: [] });
        expect(await call(client, 'getMetadata', {})).toEqual(meta);
        expect((await call(theirs, 'GetMetadata', {})).resources).toEqual([{ type_name: 'x_thing' }]);
        const config = { config: { msgpack: Buffer.from([0x81, 0xa1, 0x61, 0x01]) } };
        const viaOurs = await call(client, validate, config);
        expect(viaOurs.diagnostics).toMatchObject([{ severity: 2, summary: 'got 81a16101', detail: '', attribute: null }]);
        const viaTheirs = await call(theirs, validate, config);
        expect(viaTheirs.diagnostics[0]).toMatchObject({ severity: 'WARNING', summary: 'got 81a16101' });
        expect(seen).toHaveLength(5);
        expect(seen[3]).toEqual({ config: { msgpack: config.config.msgpack, json: Buffer.alloc(0) } });
      } finally {
        client.close();
        theirs.close();
        server.forceShutdown();
      }
      expect(existsSync(socket)).toBe(false);
    });
  }

  it('ERR_TERRAFORM_PROTOCOL_MISSING without generated/ (or with a stale one), saying what to run', (ctx) => {
    needScript(ctx);
    const built = distPath('terraform', 'protocol.js');
    if (!existsSync(built) && cannotRun('dist/ is not built: run `npx tsc -p tsconfig.build.json`')) return ctx.skip();
    const pkg = dirs.make();
    for (const f of ['addon.js', 'errors.js', 'terraform/protocol.js', 'terraform/protobuf.js', 'terraform/protobuf-encode.js', 'terraform/errors.js']) {
      mkdirSync(join(pkg, 'dist', 'terraform'), { recursive: true });
      copyFileSync(distPath(f), join(pkg, 'dist', f));
    }
    const load = () => {
      const r = spawnSync(
        process.execPath,
        [
          '-e',
          `try { require(${JSON.stringify(join(pkg, 'dist', 'terraform', 'protocol.js'))}).terraformProtocol(6) } catch (e) { console.log(JSON.stringify([e.code, e.message])) }`,
        ],
        { encoding: 'utf8' },
      );
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as [string, string];
    };
    const [code, message] = load();
    expect(code).toBe('ERR_TERRAFORM_PROTOCOL_MISSING');
    expect(message).toContain(`${join(pkg, 'generated', 'tfplugin6.json')} is missing`);
    expect(message).toContain(`node ${join(pkg, 'scripts', 'tfplugin-protos.mjs')}`);
    expect(message).toMatch(/needs Go/);
    mkdirSync(join(pkg, 'generated'));
    writeFileSync(join(pkg, 'generated', 'tfplugin6.json'), JSON.stringify({ format: 2, package: 'tfplugin6' }));
    expect(load()).toEqual(['ERR_TERRAFORM_PROTOCOL_MISSING', expect.stringMatching(/is not one this plugsock reads/)]);
  });

  it('start-up: node -e 0 vs loading the built protocol and decoding a request (reported, not asserted)', (ctx) => {
    needScript(ctx);
    const built = distPath('terraform', 'protocol.js');
    if (!existsSync(built) && cannotRun('dist/ is not built: run `npx tsc -p tsconfig.build.json`')) return ctx.skip();
    const decodeOne =
      `const p = require(${JSON.stringify(built)}).terraformProtocol(6);` +
      `const r = p.decode('GetProviderSchema.Request', Buffer.alloc(0));` +
      `const heavy = Object.keys(require.cache).filter((k) => /protobufjs|proto-loader|grpc-js/.test(k));` +
      `process.stdout.write(JSON.stringify({ r, heavy }))`;
    const protoLoaderOne = `require('@grpc/proto-loader').loadSync(${JSON.stringify(protoPath[6]!)}, { keepCase: true })`;
    const runs: Record<string, number[]> = { 'node -e 0': [], 'protocol.ts + decode': [], 'proto-loader (for comparison)': [] };
    for (let i = 0; i < 20; i++) {
      for (const [name, code] of [
        ['node -e 0', '0'],
        ['protocol.ts + decode', decodeOne],
        ['proto-loader (for comparison)', protoLoaderOne],
      ] as const) {
        const start = performance.now();
        const r = spawnSync(process.execPath, ['-e', code], { encoding: 'utf8', cwd: root });
        runs[name]!.push(performance.now() - start);
        expect(r.status, r.stderr).toBe(0);
        if (name === 'protocol.ts + decode') expect(JSON.parse(r.stdout)).toEqual({ r: {}, heavy: [] });
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    const report = Object.entries(runs).map(([name, xs]) => `${name}: median ${median(xs).toFixed(1)} ms, min ${Math.min(...xs).toFixed(1)} ms`);
    console.log(`start-up over 20 runs each:\n  ${report.join('\n  ')}`);
  }, 60_000);
});

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}
