/**
 * The few protobuf wire-format primitives go-plugin's own messages need (varint, length-
 * delimited, skipping unknown fields), so serving or hosting a plugin does not load a protobuf
 * runtime. Decoding is strict: a truncated or malformed message throws, which grpc-js turns into
 * an INTERNAL status for that call.
 */

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LEN = 2;
const WIRE_FIXED32 = 5;

/** One decoded field: its number, and a varint value or the bytes of a length-delimited one. */
export type Field = { no: number; varint: number; bytes: null } | { no: number; varint: 0; bytes: Buffer };

function malformed(what: string): Error {
  return new Error(`malformed protobuf message: ${what}`);
}

/**
 * Fields in wire order. Varints are read as unsigned up to 2^53 (go-plugin's fields are at most
 * 32 bits); fixed-width fields and deprecated groups of other messages are skipped or refused.
 */
export function* readFields(buf: Buffer): Generator<Field> {
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw malformed('truncated varint');
      const b = buf[pos++]!;
      if (scale < 2 ** 53) value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return value;
      scale *= 128;
    }
    throw malformed('varint longer than 10 bytes');
  };
  while (pos < buf.length) {
    const key = varint();
    const no = Math.floor(key / 8);
    const type = key % 8;
    if (no === 0) throw malformed('field number 0');
    switch (type) {
      case WIRE_VARINT:
        yield { no, varint: varint(), bytes: null };
        break;
      case WIRE_LEN: {
        const len = varint();
        if (len > buf.length - pos) throw malformed('length past the end');
        yield { no, varint: 0, bytes: buf.subarray(pos, pos + len) };
        pos += len;
        break;
      }
      case WIRE_FIXED64:
      case WIRE_FIXED32: {
        const len = type === WIRE_FIXED64 ? 8 : 4;
        if (len > buf.length - pos) throw malformed('truncated fixed-width field');
        pos += len;
        break;
      }
      default:
        throw malformed(`wire type ${type}`);
    }
  }
}

/** A length-delimited field's bytes (string, bytes, message); another wire type is malformed. */
export function asBytes(f: Field): Buffer {
  if (f.bytes === null) throw malformed(`field ${f.no} should be length-delimited`);
  return f.bytes;
}

/** A varint field's value (integer, bool, enum); another wire type is malformed. */
export function asVarint(f: Field): number {
  if (f.bytes !== null) throw malformed(`field ${f.no} should be a varint`);
  return f.varint;
}

/** Builds a message field by field; proto3 defaults (0, '', empty, false) are left out. */
export class Writer {
  #parts: Buffer[] = [];

  #varint(v: number): void {
    const bytes: number[] = [];
    while (v >= 0x80) {
      bytes.push((v % 128) | 0x80);
      v = Math.floor(v / 128);
    }
    bytes.push(v);
    this.#parts.push(Buffer.from(bytes));
  }

  uint(no: number, v: number | undefined | null): this {
    if (v !== undefined && v !== null && (!Number.isSafeInteger(v) || v < 0)) {
      throw new TypeError(`protobuf field ${no}: expected an unsigned integer, got ${v}`);
    }
    if (v) {
      this.#varint(no * 8 + WIRE_VARINT);
      this.#varint(v);
    }
    return this;
  }

  bool(no: number, v: boolean | undefined | null): this {
    return this.uint(no, v ? 1 : 0);
  }

  bytes(no: number, v: Uint8Array | undefined | null): this {
    if (v && v.length > 0) {
      this.#varint(no * 8 + WIRE_LEN);
      this.#varint(v.length);
      this.#parts.push(Buffer.from(v.buffer, v.byteOffset, v.length));
    }
    return this;
  }

  string(no: number, v: string | undefined | null): this {
    return v ? this.bytes(no, Buffer.from(v, 'utf8')) : this;
  }

  /** An embedded message, written even when empty (presence matters for message fields). */
  message(no: number, v: Buffer | null): this {
    if (v) {
      this.#varint(no * 8 + WIRE_LEN);
      this.#varint(v.length);
      this.#parts.push(v);
    }
    return this;
  }

  finish(): Buffer {
    return Buffer.concat(this.#parts);
  }
}

/** Reads an enum given as a name or a number into its number (unknown names: 0). */
export function enumNumber<N extends string>(names: readonly N[], v: N | number | undefined | null): number {
  if (typeof v === 'number') return v;
  return Math.max(0, v ? names.indexOf(v) : -1);
}

/** An enum number as its name; a number this side does not know reads as the zero value's name. */
export function enumName<N extends string>(names: readonly [N, ...N[]], n: number): N {
  return names[n] ?? names[0];
}
