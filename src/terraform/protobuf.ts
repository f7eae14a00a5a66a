/**
 * A small reflective proto3 codec over the descriptors scripts/tfplugin-protos.mjs writes, so
 * Terraform's protocol needs no protobuf runtime, no .proto parsing and no generated code at
 * run time. Messages are plain objects with the .proto's field names; bytes are Buffers (decoded
 * ones share the input's memory), 64-bit integers are numbers (bigints accepted on encode),
 * enums are numbers. Decoding fills proto3 defaults; unset message fields read as null, unset
 * oneof members and proto3 `optional` fields are left out.
 *
 * This file: the descriptor, its compiled form, and decoding (protobuf-encode.ts encodes).
 * Decoding is strict and bounded: truncation, lengths past the end, wire types that do
 * not match the field, groups and nesting deeper than MAX_DEPTH throw ERR_TERRAFORM_PROTOCOL.
 * A singular message field seen twice keeps the last one (no merging: no encoder splits one).
 */
import { TerraformErrorCodes, terraformError } from './errors';

// ---- The descriptor (generated/tfplugin<v>.json) ----

export type ScalarType = 'double' | 'float' | 'int32' | 'int64' | 'uint32' | 'uint64' | 'sint32' | 'sint64' | Fixed | 'bool' | 'string' | 'bytes';
type Fixed = 'fixed32' | 'fixed64' | 'sfixed32' | 'sfixed64';
export interface FieldDescriptor {
  readonly name: string;
  readonly no: number;
  readonly type: ScalarType | 'enum' | 'message';
  /** Full name of the enum or message type. */
  readonly ref?: string;
  readonly repeated?: boolean;
  readonly packed?: boolean;
  /** A map's key type (`type`/`ref` are then its value's). */
  readonly key?: ScalarType;
  readonly oneof?: string;
  /** proto3 `optional`: explicit presence. */
  readonly optional?: boolean;
}
export interface MethodDescriptor {
  readonly name: string;
  readonly requestType: string;
  readonly responseType: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}
export interface ProtoDescriptor {
  readonly format: 1;
  readonly package: string;
  readonly source: { readonly module: string; readonly version: string; readonly file: string; readonly sha256: string };
  readonly messages: { readonly [fullName: string]: { readonly fields: readonly FieldDescriptor[] } };
  readonly enums: { readonly [fullName: string]: { readonly [value: string]: number } };
  readonly services: { readonly [fullName: string]: { readonly methods: readonly MethodDescriptor[] } };
}

// ---- Compiled types ----

/** Nesting deeper than this is refused (decode: hostile input; encode: cycles). */
export const MAX_DEPTH = 100;
/** Wire types. */
export const VARINT = 0;
export const I64 = 1;
export const LEN = 2;
export const I32 = 5;
/** Each type's wire type. */
export const WIRE: Record<ScalarType | 'enum' | 'message', number> = Object.assign(Object.create(null), {
  int32: VARINT,
  int64: VARINT,
  uint32: VARINT,
  uint64: VARINT,
  sint32: VARINT,
  sint64: VARINT,
  bool: VARINT,
  enum: VARINT,
  double: I64,
  fixed64: I64,
  sfixed64: I64,
  float: I32,
  fixed32: I32,
  sfixed32: I32,
  string: LEN,
  bytes: LEN,
  message: LEN,
});
export const EMPTY = Buffer.alloc(0);
const MAP_KEYS = new Set(['int32', 'int64', 'uint32', 'uint64', 'sint32', 'sint64', 'fixed32', 'fixed64', 'sfixed32', 'sfixed64', 'bool', 'string']);

/** A compiled field. */
export interface Field {
  readonly name: string;
  readonly no: number;
  readonly type: ScalarType | 'enum' | 'message';
  readonly wire: number;
  /** The key this field is written with (packed and maps: length-delimited), and its size. */
  readonly tag: number;
  readonly tagSize: number;
  readonly repeated: boolean;
  readonly packed: boolean;
  /** Map fields: the key type; null otherwise. */
  readonly key: ScalarType | null;
  /** Oneof members and proto3 `optional` fields: written when set (even to a default), left out when not. */
  readonly presence: boolean;
  /** The other members of its oneof. */
  siblings: Field[];
  /** Message-typed fields (and map values): the type, linked after every type exists. */
  message: MessageType | null;
  readonly zero: unknown;
}

/** A message type, ready for encodeMessage/decodeMessage. */
export interface MessageType {
  readonly name: string;
  readonly fields: readonly Field[];
  /** Fields by number (tfplugin's are small). */
  readonly byNumber: readonly (Field | undefined)[];
}

const ZEROS: Record<string, unknown> = { string: '', bool: false, bytes: EMPTY, message: null };

/** Every message type of a descriptor, by full name. */
export function compileMessages(d: ProtoDescriptor): Map<string, MessageType> {
  const type = messageTypes(d);
  for (const name of Object.keys(d.messages)) type(name);
  return type.compiled;
}

/** A descriptor's message types compiled on first use: `type(fullName)`, undefined when absent. */
export interface MessageTypes {
  (fullName: string): MessageType | undefined;
  /** Those compiled so far, by full name. */
  readonly compiled: Map<string, MessageType>;
}

/**
 * The message types of `d`, each compiled (with the types its fields refer to) the first time it
 * is asked for. A provider's start answers one call (GetProviderSchema) of ~50 RPC messages: the
 * rest is compiled when the host first sends one, which saved ~0.5 MB of allocations per start.
 */
export function messageTypes(d: ProtoDescriptor): MessageTypes {
  const compiled = new Map<string, MessageType>();
  const type = (name: string): MessageType | undefined => {
    const done = compiled.get(name);
    if (done !== undefined || !Object.hasOwn(d.messages, name)) return done;
    const pending: [Field, string][] = [];
    const t = compileType(name, d.messages[name]!, pending);
    // In the map before its references are followed: recursive types end here.
    compiled.set(name, t);
    try {
      for (const [field, ref] of pending) {
        field.message = type(ref) ?? null;
        if (field.message === null) throw invalid(`${field.name}: no message type ${ref} in the descriptor`);
      }
    } catch (err) {
      // Not left half-linked: asking again throws again.
      compiled.delete(name);
      throw err;
    }
    return t;
  };
  return Object.assign(type, { compiled });
}

function compileType(name: string, m: ProtoDescriptor['messages'][string], pending: [Field, string][]): MessageType {
  const fields = m.fields.map((f): Field => {
    if (!(f.type in WIRE) || !Number.isInteger(f.no) || f.no < 1 || f.no > 65535) throw invalid(`${name}.${f.name}`);
    const wire = WIRE[f.type];
    const field: Field = {
      name: f.name,
      no: f.no,
      type: f.type,
      wire,
      tag: f.no * 8 + (f.packed || f.key ? LEN : wire),
      tagSize: varintSize(f.no * 8),
      repeated: f.repeated === true,
      packed: f.packed === true && wire !== LEN,
      key: f.key ?? null,
      presence: f.oneof !== undefined || f.optional === true,
      siblings: [],
      message: null,
      zero: f.type in ZEROS ? ZEROS[f.type] : 0,
    };
    if (field.key !== null && !MAP_KEYS.has(field.key)) throw invalid(`${name}.${f.name}: map key type ${field.key}`);
    if (f.type === 'message') pending.push([field, f.ref ?? '']);
    return field;
  });
  for (const [i, f] of fields.entries()) {
    const group = m.fields[i]!.oneof;
    if (group !== undefined) f.siblings = fields.filter((g, j) => g !== f && m.fields[j]!.oneof === group);
  }
  const byNumber: (Field | undefined)[] = [];
  for (const f of fields) byNumber[f.no] = f;
  return { name, fields, byNumber };
}

function invalid(what: string): Error {
  return terraformError(TerraformErrorCodes.PROTOCOL, `Invalid protocol descriptor: ${what}. Regenerate it with node scripts/tfplugin-protos.mjs --force.`);
}

/** Names the message being decoded, and the nested one where it went wrong. */
function malformed(t: MessageType, what: string): Error {
  const where = t === top ? '' : ` (in a ${t.name})`;
  return terraformError(TerraformErrorCodes.PROTOCOL, `Malformed ${top.name} message${where}: ${what} (at byte ${pos} of ${inp.length}).`);
}

// ---- Decoding ----

let inp: Buffer = EMPTY;
let top: MessageType;
let pos = 0;
let lo = 0; // the last varint read, as two unsigned 32-bit halves
let hi = 0;

/** Decodes one message of type `t`. */
export function decodeMessage(t: MessageType, bytes: Uint8Array): any {
  inp = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  pos = 0;
  top = t;
  try {
    return readMessage(t, inp.length, 0);
  } finally {
    inp = EMPTY; // keeps no reference to the caller's buffer
  }
}

function readMessage(t: MessageType, end: number, depth: number): any {
  if (depth > MAX_DEPTH) throw malformed(t, `nested deeper than ${MAX_DEPTH} messages`);
  const m: any = {};
  for (const f of t.fields) if (!f.presence) m[f.name] = f.key ? {} : f.repeated ? [] : f.zero;
  while (pos < end) {
    readVarint(t, end);
    const no = lo >>> 3;
    const wire = lo & 7;
    if (hi !== 0 || no === 0) throw malformed(t, 'invalid field number');
    const f = t.byNumber[no];
    if (f === undefined) skip(t, wire, end);
    else if (f.key !== null) readEntry(t, f, m[f.name], wire, end, depth);
    else if (!f.repeated) {
      if (wire !== f.wire) throw malformed(t, `field ${f.name} has wire type ${wire}`);
      m[f.name] = readValue(t, f, end, depth);
      for (const s of f.siblings) delete m[s.name];
    } else if (wire === f.wire) m[f.name].push(readValue(t, f, end, depth));
    else if (wire === LEN && f.wire !== LEN) {
      const stop = readLength(t, end);
      const list = m[f.name];
      while (pos < stop) list.push(readValue(t, f, stop, depth));
    } else throw malformed(t, `field ${f.name} has wire type ${wire}`);
  }
  return m;
}

function readEntry(t: MessageType, f: Field, map: any, wire: number, end: number, depth: number): void {
  if (wire !== LEN) throw malformed(t, `map ${f.name} has wire type ${wire}`);
  const stop = readLength(t, end);
  let key: any = ZEROS[f.key!] ?? 0;
  let value: any = f.zero;
  while (pos < stop) {
    readVarint(t, stop);
    const w = lo & 7;
    if (hi === 0 && lo >>> 3 === 1 && w === WIRE[f.key!]) key = readScalar(t, f.key!, stop);
    else if (hi === 0 && lo >>> 3 === 2 && w === f.wire) value = readValue(t, f, stop, depth);
    else skip(t, w, stop);
  }
  if (value === null) value = readMessage(f.message!, pos, depth + 1); // an entry without its value: the empty message
  const k = String(key);
  if (k === '__proto__') Object.defineProperty(map, k, { value, enumerable: true, writable: true, configurable: true });
  else map[k] = value;
}

function readValue(t: MessageType, f: Field, end: number, depth: number): any {
  if (f.message === null) return readScalar(t, f.type as ScalarType, end);
  const stop = readLength(t, end);
  return readMessage(f.message, stop, depth + 1); // every read inside is bounded by stop
}

function readScalar(t: MessageType, type: ScalarType | 'enum', end: number): any {
  switch (type) {
    case 'string':
    case 'bytes': {
      const stop = readLength(t, end);
      const start = pos;
      pos = stop;
      return type === 'string' ? inp.toString('utf8', start, stop) : inp.subarray(start, stop);
    }
    case 'double':
    case 'fixed64':
    case 'sfixed64':
      if (end - pos < 8) throw malformed(t, 'truncated 64-bit field');
      pos += 8;
      if (type === 'double') return inp.readDoubleLE(pos - 8);
      lo = inp.readUInt32LE(pos - 8);
      hi = inp.readUInt32LE(pos - 4);
      return type === 'fixed64' ? hi * 2 ** 32 + lo : signed64();
    case 'float':
    case 'fixed32':
    case 'sfixed32':
      if (end - pos < 4) throw malformed(t, 'truncated 32-bit field');
      pos += 4;
      return type === 'float' ? inp.readFloatLE(pos - 4) : type === 'fixed32' ? inp.readUInt32LE(pos - 4) : inp.readInt32LE(pos - 4);
  }
  readVarint(t, end);
  switch (type) {
    case 'bool':
      return lo !== 0 || hi !== 0;
    case 'uint32':
      return lo;
    case 'sint32':
      return (lo >>> 1) ^ -(lo & 1);
    case 'uint64':
      return hi * 2 ** 32 + lo;
    case 'int64':
      return signed64();
    case 'sint64': {
      const mask = -(lo & 1);
      lo = (((lo >>> 1) | (hi << 31)) ^ mask) >>> 0;
      hi = ((hi >>> 1) ^ mask) >>> 0;
      return signed64();
    }
    default: // int32, enum
      return lo | 0;
  }
}

/** lo/hi as a two's complement int64 (a number: exact up to 2^53). */
function signed64(): number {
  return hi >= 0x80000000 ? -((~hi >>> 0) * 2 ** 32 + (~lo >>> 0) + 1) : hi * 2 ** 32 + lo;
}

/** Reads a varint of up to 10 bytes into lo/hi. */
function readVarint(t: MessageType, end: number): void {
  let l = 0;
  let h = 0;
  let b = 0;
  for (let shift = 0; shift < 28; shift += 7) {
    if (pos >= end) throw malformed(t, 'truncated varint');
    b = inp[pos++]!;
    l |= (b & 0x7f) << shift;
    if (b < 0x80) {
      lo = l >>> 0;
      hi = 0;
      return;
    }
  }
  if (pos >= end) throw malformed(t, 'truncated varint');
  b = inp[pos++]!;
  l |= (b & 0x0f) << 28;
  h = (b & 0x7f) >> 4;
  for (let shift = 3; b >= 0x80; shift += 7) {
    if (shift > 31) throw malformed(t, 'varint longer than 10 bytes');
    if (pos >= end) throw malformed(t, 'truncated varint');
    b = inp[pos++]!;
    h |= (b & 0x7f) << shift;
  }
  lo = l >>> 0;
  hi = h >>> 0;
}

/** A length prefix; returns where the value ends (refused when past `end`). */
function readLength(t: MessageType, end: number): number {
  readVarint(t, end);
  if (hi !== 0 || lo > end - pos) throw malformed(t, `a length of ${hi * 2 ** 32 + lo} bytes runs past the end`);
  return pos + lo;
}

function skip(t: MessageType, wire: number, end: number): void {
  if (wire === VARINT) readVarint(t, end);
  else if (wire === LEN) pos = readLength(t, end);
  else if (wire === I64 || wire === I32) {
    const n = wire === I64 ? 8 : 4;
    if (end - pos < n) throw malformed(t, 'truncated fixed-width field');
    pos += n;
  } else throw malformed(t, `wire type ${wire} (groups are not supported)`);
}

/** The size of an unsigned 32-bit varint. */
export function varintSize(v: number): number {
  return v < 0x80 ? 1 : v < 0x4000 ? 2 : v < 0x200000 ? 3 : v < 0x10000000 ? 4 : 5;
}
