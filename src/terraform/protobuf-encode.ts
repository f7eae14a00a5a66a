/**
 * Encoding for the codec in protobuf.ts, in two passes over the message: the first checks every
 * value and records each nested length (and string length) in `lengths`, in visiting order; the
 * second writes into one buffer of exactly the size the first computed. Nothing is allocated but
 * that buffer (and, for bigints, their arithmetic). Errors: ERR_TERRAFORM_PROTOCOL, naming the
 * message type and field.
 */
import { TerraformErrorCodes, terraformError } from './errors';
import { EMPTY, type Field, MAX_DEPTH, type MessageType, type ScalarType, WIRE, varintSize } from './protobuf';

let lengths: number[] = []; // pass 1 records, pass 2 reads (index `li`): nested and string lengths
let li = 0;
let out: Buffer = EMPTY;
let wpos = 0;
let wlo = 0; // a 64-bit value being written, as two unsigned 32-bit halves
let whi = 0;
let encoding = false;

/** Encodes `message` as type `t`; fields it does not have (with a value other than undefined) are refused. */
export function encodeMessage(t: MessageType, message: object): Buffer {
  if (encoding) throw badValue(t, null, 'encode was called while encoding (from a getter?)');
  if (typeof message !== 'object' || message === null || Array.isArray(message)) throw badValue(t, null, `expected an object, got ${describe(message)}`);
  encoding = true;
  try {
    lengths.length = 0;
    const size = sizeMessage(t, message, 0);
    out = Buffer.allocUnsafe(size);
    wpos = 0;
    li = 0;
    writeMessage(t, message);
    if (wpos !== size) throw badValue(t, null, 'the message changed while it was being encoded');
    return out;
  } finally {
    encoding = false;
    out = EMPTY;
    if (lengths.length > 1024) lengths = [];
  }
}

function sizeMessage(t: MessageType, m: any, depth: number): number {
  if (depth > MAX_DEPTH) throw badValue(t, null, `nested deeper than ${MAX_DEPTH} messages (a cycle?)`);
  let size = 0;
  let seen = 0;
  for (const f of t.fields) {
    const v = m[f.name];
    if (v === undefined) continue;
    seen++;
    if (v === null) continue;
    if (f.key !== null) size += sizeMap(t, f, v, depth);
    else if (f.repeated) size += sizeRepeated(t, f, v, depth);
    else {
      for (const s of f.siblings) if (m[s.name] != null) throw badValue(t, f, `${s.name} is set too: set one member of a oneof at most`);
      const n = f.message !== null ? sizeNested(t, f, v, depth) : sizeScalar(t, f, f.type, v, !f.presence);
      if (n >= 0) size += f.tagSize + n;
    }
  }
  let own = 0;
  for (const k in m) if (Object.hasOwn(m, k) && m[k] !== undefined) own++;
  if (own > seen) {
    const extra = Object.keys(m).find((k) => m[k] !== undefined && !t.fields.some((f) => f.name === k));
    throw badValue(t, null, `it has no field ${extra} (field names are the .proto's, in snake_case)`);
  }
  return size;
}

/** The size of field `f`'s message `v` with its length prefix; records the length. */
function sizeNested(t: MessageType, f: Field, v: any, depth: number): number {
  if (typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array)
    throw badValue(t, f, `expected an object (a ${f.message!.name}), got ${describe(v)}`);
  const i = lengths.length;
  lengths.push(0);
  const n = sizeMessage(f.message!, v, depth + 1);
  lengths[i] = n;
  return varintSize(n) + n;
}

function sizeRepeated(t: MessageType, f: Field, v: any, depth: number): number {
  if (!Array.isArray(v)) throw badValue(t, f, `expected an array, got ${describe(v)}`);
  if (v.length === 0) return 0;
  const i = f.packed ? lengths.push(0) - 1 : -1;
  let size = 0;
  for (const e of v) {
    if (e == null) throw badValue(t, f, 'an element is null or undefined');
    size += f.message !== null ? sizeNested(t, f, e, depth) : sizeScalar(t, f, f.type, e, false);
  }
  if (i < 0) return size + v.length * f.tagSize;
  lengths[i] = size;
  return f.tagSize + varintSize(size) + size;
}

function sizeMap(t: MessageType, f: Field, v: any, depth: number): number {
  if (typeof v !== 'object' || Array.isArray(v)) throw badValue(t, f, `expected an object or a Map, got ${describe(v)}`);
  let size = 0;
  if (v instanceof Map) for (const [key, value] of v) size += sizeEntry(t, f, key, value, depth);
  else for (const key in v) if (Object.hasOwn(v, key)) size += sizeEntry(t, f, key, v[key], depth);
  return size;
}

/** One map entry: a message of the key (field 1) and the value (field 2), both always written. */
function sizeEntry(t: MessageType, f: Field, key: unknown, value: unknown, depth: number): number {
  if (value == null) throw badValue(t, f, `the value of key ${String(key)} is ${value}`);
  const i = lengths.push(0) - 1;
  const k = sizeScalar(t, f, f.key!, mapKey(f, key), false);
  const n = 2 + k + (f.message !== null ? sizeNested(t, f, value, depth) : sizeScalar(t, f, f.type, value, false));
  lengths[i] = n;
  return f.tagSize + varintSize(n) + n;
}

/** A map key given as an object's (string) key, as its type's value. */
function mapKey(f: Field, key: unknown): unknown {
  if (typeof key !== 'string' || f.key === 'string') return key;
  if (f.key === 'bool') return key === 'true' ? true : key === 'false' ? false : key;
  return /^-?\d+$/.test(key) ? (Number.isSafeInteger(Number(key)) ? Number(key) : BigInt(key)) : key;
}

/** A scalar's size (without its tag), after checking its type; -1 when `skipZero` and it is the default. */
function sizeScalar(t: MessageType, f: Field, type: ScalarType | 'enum' | 'message', v: any, skipZero: boolean): number {
  switch (type) {
    case 'string': {
      if (typeof v !== 'string') throw badValue(t, f, `expected a string, got ${describe(v)}`);
      if (skipZero && v.length === 0) return -1;
      const n = Buffer.byteLength(v, 'utf8');
      lengths.push(n);
      return varintSize(n) + n;
    }
    case 'bytes':
      if (!(v instanceof Uint8Array)) throw badValue(t, f, `expected a Buffer, got ${describe(v)}`);
      return skipZero && v.length === 0 ? -1 : varintSize(v.length) + v.length;
    case 'bool':
      if (typeof v !== 'boolean') throw badValue(t, f, `expected a boolean, got ${describe(v)}`);
      return skipZero && !v ? -1 : 1;
    case 'double':
    case 'float':
      if (typeof v !== 'number') throw badValue(t, f, `expected a number, got ${describe(v)}`);
      return skipZero && v === 0 && 1 / v > 0 ? -1 : type === 'double' ? 8 : 4;
    case 'int64':
    case 'uint64':
    case 'sint64':
    case 'fixed64':
    case 'sfixed64':
      split64(t, f, type, v);
      if (skipZero && wlo === 0 && whi === 0) return -1;
      return type === 'fixed64' || type === 'sfixed64' ? 8 : varint64Size();
  }
  int32(t, f, type, v);
  if (skipZero && v === 0) return -1;
  switch (type) {
    case 'fixed32':
    case 'sfixed32':
      return 4;
    case 'sint32':
      return varintSize(((v << 1) ^ (v >> 31)) >>> 0);
    default: // int32, enum (negative: sign-extended to 10 bytes), uint32
      return v < 0 ? 10 : varintSize(v);
  }
}

/** Checks a 32-bit integer of `type`. */
function int32(t: MessageType, f: Field, type: string, v: any): void {
  const unsigned = type === 'uint32' || type === 'fixed32';
  if (typeof v !== 'number' || !Number.isInteger(v) || (unsigned ? v < 0 || v > 0xffffffff : v < -0x80000000 || v > 0x7fffffff)) {
    throw badValue(t, f, `expected a ${type} (an integer from ${unsigned ? '0 to 2^32-1' : '-2^31 to 2^31-1'}), got ${describe(v)}`);
  }
}

/** Checks a 64-bit integer (a number or a bigint) and splits it into wlo/whi (two's complement; sint64: zigzag). */
function split64(t: MessageType, f: Field, type: string, v: any): void {
  const unsigned = type === 'uint64' || type === 'fixed64';
  const [min, max] = unsigned ? [0, 2 ** 64] : [-(2 ** 63), 2 ** 63];
  if (typeof v === 'bigint' && v >= BigInt(min) && v < BigInt(max)) {
    const u = BigInt.asUintN(64, v);
    wlo = Number(u & 0xffffffffn);
    whi = Number(u >> 32n);
  } else if (typeof v === 'number' && Number.isInteger(v) && v >= min && v < max) {
    const a = Math.abs(v);
    whi = Math.floor(a / 2 ** 32);
    wlo = a - whi * 2 ** 32;
    if (v < 0) {
      wlo = (~wlo + 1) >>> 0;
      whi = (~whi + (wlo === 0 ? 1 : 0)) >>> 0;
    }
  } else {
    throw badValue(t, f, `expected a ${type} (an integer number or bigint from ${unsigned ? '0 to 2^64-1' : '-2^63 to 2^63-1'}), got ${describe(v)}`);
  }
  if (type === 'sint64') {
    const mask = (whi | 0) >> 31;
    whi = (((whi << 1) | (wlo >>> 31)) ^ mask) >>> 0;
    wlo = ((wlo << 1) ^ mask) >>> 0;
  }
}

function varint64Size(): number {
  return whi === 0 ? varintSize(wlo) : Math.ceil((64 - Math.clz32(whi)) / 7);
}

function describe(v: unknown): string {
  if (v === null || v === undefined) return String(v);
  if (Buffer.isBuffer(v)) return 'a Buffer';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string'
    ? `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`
    : typeof v === 'object'
      ? 'an object'
      : `${typeof v} ${String(v)}`;
}

// Pass 2: the same walk as pass 1, writing; every value was checked there.

function writeMessage(t: MessageType, m: any): void {
  for (const f of t.fields) {
    const v = m[f.name];
    if (v == null) continue;
    if (f.key !== null) writeMap(f, v);
    else if (f.repeated) writeRepeated(f, v);
    else if (f.message !== null) {
      writeVarint(f.tag);
      writeNested(f.message, v);
    } else if (f.presence || !isZero(f.type, v)) {
      writeVarint(f.tag);
      writeScalar(f.type, v);
    }
  }
}

function writeNested(t: MessageType, v: any): void {
  writeVarint(lengths[li++]!);
  writeMessage(t, v);
}

function writeRepeated(f: Field, v: any[]): void {
  if (v.length === 0) return;
  if (f.packed) {
    writeVarint(f.tag);
    writeVarint(lengths[li++]!);
  }
  for (const e of v) {
    if (!f.packed) writeVarint(f.tag);
    if (f.message !== null) writeNested(f.message, e);
    else writeScalar(f.type, e);
  }
}

function writeMap(f: Field, v: any): void {
  if (v instanceof Map) for (const [key, value] of v) writeEntry(f, key, value);
  else for (const key in v) if (Object.hasOwn(v, key)) writeEntry(f, key, v[key]);
}

function writeEntry(f: Field, key: unknown, value: unknown): void {
  writeVarint(f.tag);
  writeVarint(lengths[li++]!);
  out[wpos++] = (1 << 3) | WIRE[f.key!]!;
  writeScalar(f.key!, mapKey(f, key));
  out[wpos++] = (2 << 3) | f.wire;
  if (f.message !== null) writeNested(f.message, value);
  else writeScalar(f.type, value);
}

/** Whether pass 1 left this scalar out as its type's default (it checked the type). */
function isZero(type: string, v: any): boolean {
  if (typeof v === 'number') return v === 0 && (1 / v > 0 || (type !== 'double' && type !== 'float')); // -0.0 is written
  if (typeof v === 'bigint') return v === 0n;
  return v === '' || v === false || (v instanceof Uint8Array && v.length === 0);
}

function writeScalar(type: string, v: any): void {
  switch (type) {
    case 'string': {
      const n = lengths[li++]!;
      writeVarint(n);
      if (out.write(v, wpos, n, 'utf8') !== n) throw new Error('the message changed while it was being encoded');
      wpos += n;
      return;
    }
    case 'bytes':
      writeVarint(v.length);
      out.set(v, wpos);
      wpos += v.length;
      return;
    case 'bool':
      out[wpos++] = v ? 1 : 0;
      return;
    case 'double':
      wpos = out.writeDoubleLE(v, wpos);
      return;
    case 'float':
      wpos = out.writeFloatLE(v, wpos);
      return;
    case 'fixed32':
      wpos = out.writeUInt32LE(v, wpos);
      return;
    case 'sfixed32':
      wpos = out.writeInt32LE(v, wpos);
      return;
    case 'sint32':
      writeVarint(((v << 1) ^ (v >> 31)) >>> 0);
      return;
    case 'int64':
    case 'uint64':
    case 'sint64':
    case 'fixed64':
    case 'sfixed64':
      split64(null!, null!, type, v);
      if (type === 'fixed64' || type === 'sfixed64') {
        wpos = out.writeUInt32LE(wlo, wpos);
        wpos = out.writeUInt32LE(whi, wpos);
      } else writeVarint64();
      return;
    default: // int32, enum, uint32
      if (v < 0) {
        wlo = v >>> 0;
        whi = 0xffffffff;
        writeVarint64();
      } else writeVarint(v);
  }
}

/** An unsigned 32-bit varint. */
function writeVarint(v: number): void {
  while (v > 0x7f) {
    out[wpos++] = (v & 0x7f) | 0x80;
    v >>>= 7;
  }
  out[wpos++] = v;
}

function writeVarint64(): void {
  while (whi !== 0) {
    out[wpos++] = (wlo & 0x7f) | 0x80;
    wlo = ((wlo >>> 7) | (whi << 25)) >>> 0;
    whi >>>= 7;
  }
  writeVarint(wlo);
}

function badValue(t: MessageType, f: Field | null, what: string): Error {
  return terraformError(TerraformErrorCodes.PROTOCOL, `Cannot encode ${t.name}${f ? `.${f.name}` : ''}: ${what}.`);
}
