/**
 * The part of MessagePack that cty's encoding uses, written the way go-cty's encoder
 * (vmihailenco/msgpack with compact ints) writes it, so that our bytes equal Terraform's.
 * No cty knowledge here: ./cty-msgpack.ts walks types and values over these two classes.
 *
 * The reader is bounded: every length is checked against the bytes that remain before anything
 * is allocated, so a few hostile bytes cannot claim gigabytes. Its errors are `MsgpackError`s
 * without a path; the cty layer adds the path and turns them into TransportErrors.
 */

/** A malformed or truncated MessagePack input (the cty layer adds where it happened). */
export class MsgpackError extends Error {}

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

/** Appends MessagePack items to a growing buffer. */
export class MsgpackWriter {
  #buf = Buffer.allocUnsafe(256);
  #len = 0;

  #room(n: number): number {
    const at = this.#len;
    if (at + n > this.#buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, at + n));
      this.#buf.copy(next, 0, 0, at);
      this.#buf = next;
    }
    this.#len = at + n;
    return at;
  }

  /** One byte. (Not `buf[room(1)] = c`: that indexes the buffer from before room() grew it.) */
  #byte(c: number): void {
    const at = this.#room(1);
    this.#buf[at] = c;
  }

  /** The bytes written so far (a copy: the writer may be reused). */
  bytes(): Buffer {
    return Buffer.from(this.#buf.subarray(0, this.#len));
  }

  nil(): void {
    this.#byte(0xc0);
  }

  bool(v: boolean): void {
    this.#byte(v ? 0xc3 : 0xc2);
  }

  /** An integer in the smallest form, as vmihailenco's EncodeInt: unsigned forms for n >= 0. */
  int(n: number | bigint): void {
    if (typeof n === 'bigint' || n > 0xffffffff || n < -0x80000000) this.#int64(BigInt(n));
    else if (n >= 0) {
      if (n <= 0x7f) this.#byte(n);
      else if (n <= 0xff) this.#head(0xcc, n, 1);
      else if (n <= 0xffff) this.#head(0xcd, n, 2);
      else this.#head(0xce, n, 4);
    } else if (n >= -32) this.#byte(n & 0xff);
    else if (n >= -0x80) this.#head(0xd0, n & 0xff, 1);
    else if (n >= -0x8000) this.#head(0xd1, n & 0xffff, 2);
    else this.#head(0xd2, n >>> 0, 4);
  }

  #int64(n: bigint): void {
    if (n < INT64_MIN || n > UINT64_MAX) throw new RangeError('integer outside the int64/uint64 range');
    if (n >= -0x80000000n && n <= 0xffffffffn) {
      this.int(Number(n));
      return;
    }
    const at = this.#room(9);
    this.#buf[at] = n >= 0n ? 0xcf : 0xd3;
    if (n >= 0n) this.#buf.writeBigUInt64BE(n, at + 1);
    else this.#buf.writeBigInt64BE(n, at + 1);
  }

  float64(v: number): void {
    const at = this.#room(9);
    this.#buf[at] = 0xcb;
    this.#buf.writeDoubleBE(v, at + 1);
  }

  str(s: string): void {
    const n = Buffer.byteLength(s);
    if (n < 32) this.#byte(0xa0 | n);
    else this.#sized(0xd9, n);
    const at = this.#room(n);
    this.#buf.write(s, at, n, 'utf8');
  }

  bin(b: Uint8Array): void {
    this.#sized(0xc4, b.length);
    this.raw(b);
  }

  arrayLen(n: number): void {
    if (n < 16) this.#byte(0x90 | n);
    else if (n <= 0xffff) this.#head(0xdc, n, 2);
    else this.#head(0xdd, n, 4);
  }

  mapLen(n: number): void {
    if (n < 16) this.#byte(0x80 | n);
    else if (n <= 0xffff) this.#head(0xde, n, 2);
    else this.#head(0xdf, n, 4);
  }

  /** An extension header: the fixext forms for lengths 1, 2, 4, 8, 16, as vmihailenco writes. */
  extHeader(type: number, n: number): void {
    const fix = [1, 2, 4, 8, 16].indexOf(n);
    if (fix >= 0) this.#byte(0xd4 + fix);
    else this.#sized(0xc7, n);
    this.#byte(type & 0xff);
  }

  raw(b: Uint8Array): void {
    const at = this.#room(b.length);
    this.#buf.set(b, at);
  }

  /** str8/bin8/ext8 (`code8`), then the 16- and 32-bit forms at code8+1, +2. */
  #sized(code8: number, n: number): void {
    if (n <= 0xff) this.#head(code8, n, 1);
    else if (n <= 0xffff) this.#head(code8 + 1, n, 2);
    else this.#head(code8 + 2, n, 4);
  }

  #head(code: number, n: number, size: 1 | 2 | 4): void {
    const at = this.#room(1 + size);
    this.#buf[at] = code;
    this.#buf.writeUIntBE(n, at + 1, size);
  }
}

/** What the next item is, as far as cty decoding needs to know. */
export type MsgpackKind = 'nil' | 'bool' | 'int' | 'float' | 'str' | 'bin' | 'array' | 'map' | 'ext';

/** Reads MessagePack items from a buffer, refusing lengths that exceed what remains. */
export class MsgpackReader {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  kind(): MsgpackKind {
    const c = this.#peek();
    if (c <= 0x7f || c >= 0xe0) return 'int';
    if (c <= 0x8f) return 'map';
    if (c <= 0x9f) return 'array';
    if (c <= 0xbf) return 'str';
    const k = KINDS[c - 0xc0];
    if (!k) throw new MsgpackError(`invalid MessagePack byte 0x${c.toString(16)}`);
    return k;
  }

  nil(): void {
    if (this.#byte() !== 0xc0) throw new MsgpackError('nil expected');
  }

  bool(): boolean {
    const c = this.#byte();
    if (c === 0xc2 || c === 0xc3) return c === 0xc3;
    throw new MsgpackError('bool expected');
  }

  /** An int or float of any width; 64-bit integers past 2^53 come back rounded to a double. */
  number(): number {
    const c = this.#byte();
    if (c <= 0x7f) return c;
    if (c >= 0xe0) return c - 0x100;
    const b = this.buf;
    const at = this.pos;
    switch (c) {
      case 0xca:
        this.#take(4);
        return b.readFloatBE(at);
      case 0xcb:
        this.#take(8);
        return b.readDoubleBE(at);
      case 0xcf:
        this.#take(8);
        return Number(b.readBigUInt64BE(at));
      case 0xd3:
        this.#take(8);
        return Number(b.readBigInt64BE(at));
    }
    const size = INT_SIZES[c - 0xcc];
    if (size === undefined) throw new MsgpackError('number expected');
    this.#take(size);
    return c <= 0xcf ? b.readUIntBE(at, size) : b.readIntBE(at, size);
  }

  /** The bytes of a str or bin item (go-cty's decoder takes either for strings and type JSON). */
  bytes(): Buffer {
    const c = this.#byte();
    let n: number;
    if (c >= 0xa0 && c <= 0xbf) n = c & 0x1f;
    else if (c >= 0xd9 && c <= 0xdb) n = this.#uint(1 << (c - 0xd9));
    else if (c >= 0xc4 && c <= 0xc6) n = this.#uint(1 << (c - 0xc4));
    else throw new MsgpackError('string expected');
    const at = this.pos;
    this.#take(n);
    return this.buf.subarray(at, at + n);
  }

  /** An array's length; each element takes at least one byte, so a longer claim is refused. */
  arrayLen(): number {
    const c = this.#byte();
    const n = c >= 0x90 && c <= 0x9f ? c & 0x0f : c === 0xdc ? this.#uint(2) : c === 0xdd ? this.#uint(4) : -1;
    if (n < 0) throw new MsgpackError('array expected');
    if (n > this.remaining) throw new MsgpackError(`array claims ${n} elements but only ${this.remaining} bytes remain`);
    return n;
  }

  /** A map's entry count (each entry takes at least two bytes). */
  mapLen(): number {
    const c = this.#byte();
    const n = c >= 0x80 && c <= 0x8f ? c & 0x0f : c === 0xde ? this.#uint(2) : c === 0xdf ? this.#uint(4) : -1;
    if (n < 0) throw new MsgpackError('map expected');
    if (n * 2 > this.remaining) throw new MsgpackError(`map claims ${n} entries but only ${this.remaining} bytes remain`);
    return n;
  }

  /** An extension's type code and payload (the payload is a view, not a copy). */
  ext(): { type: number; data: Buffer } {
    const c = this.#byte();
    const fix = c >= 0xd4 && c <= 0xd8 ? 1 << (c - 0xd4) : -1;
    const n = fix >= 0 ? fix : c >= 0xc7 && c <= 0xc9 ? this.#uint(1 << (c - 0xc7)) : -1;
    if (n < 0) throw new MsgpackError('extension expected');
    const type = this.buf.readInt8(this.#take(1));
    const at = this.#take(n);
    return { type, data: this.buf.subarray(at, at + n) };
  }

  /** Skips one item of any kind; containers nested deeper than `depth` are refused. */
  skip(depth = 0): void {
    if (depth > 64) throw new MsgpackError('nested deeper than 64 levels');
    const k = this.kind();
    if (k === 'array') for (let n = this.arrayLen(); n > 0; n--) this.skip(depth + 1);
    else if (k === 'map') for (let n = this.mapLen() * 2; n > 0; n--) this.skip(depth + 1);
    else if (k === 'str' || k === 'bin') this.bytes();
    else if (k === 'ext') this.ext();
    else if (k === 'nil') this.nil();
    else if (k === 'bool') this.bool();
    else this.number();
  }

  #peek(): number {
    if (this.pos >= this.buf.length) throw new MsgpackError('unexpected end of input');
    return this.buf[this.pos]!;
  }

  #byte(): number {
    const c = this.#peek();
    this.pos++;
    return c;
  }

  #take(n: number): number {
    if (n > this.remaining) throw new MsgpackError('unexpected end of input');
    const at = this.pos;
    this.pos += n;
    return at;
  }

  #uint(size: number): number {
    const at = this.#take(size);
    return this.buf.readUIntBE(at, size);
  }
}

/** Kinds of the bytes 0xc0..0xdf ('' for 0xc1, which is never used). */
const KINDS = 'nil,,bool,bool,bin,bin,bin,ext,ext,ext,float,float,int,int,int,int,int,int,int,int,ext,ext,ext,ext,ext,str,str,str,array,array,map,map'.split(
  ',',
) as (MsgpackKind | '')[];

/** Sizes of uint8..uint64 (0xcc..0xcf) and int8..int64 (0xd0..0xd3). */
const INT_SIZES = [1, 2, 4, 8, 1, 2, 4, 8];
