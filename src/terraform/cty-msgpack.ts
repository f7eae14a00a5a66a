/**
 * cty's msgpack encoding, the bytes of tfplugin's DynamicValue.msgpack, as go-cty writes and
 * reads it (cty/msgpack): null is nil; unknown is an extension (type 0, or 0x0c with a map of
 * refinements); numbers are ints when integral, float64 otherwise, decimal strings past int64;
 * objects and maps are maps with sorted keys; lists, sets and tuples are arrays; a 'dynamic'
 * position holds [type JSON, value]. Encoding checks the value against the type as it goes.
 */
import { isUtf8 } from 'node:buffer';
import { type SetElement, setOrder } from './cty-sets';
import {
  concreteType,
  type CtyPath,
  type CtyType,
  type CtyValue,
  ctyTypeFromJson,
  ctyTypeToJson,
  describe,
  isRecord,
  kindOf,
  MAX_DEPTH,
  nfc,
  optionalAttrs,
  parseNumberText,
  setOwn,
  sortedKeys,
  Typed,
  typeEquals,
  Unknown,
  valueError,
  valueTypeJson,
  writeCtyNumber,
} from './cty-types';
import { PLAIN_UNKNOWN, readUnknown, settled, writeUnknown } from './cty-unknown';
import { MsgpackError, MsgpackReader, MsgpackWriter } from './msgpack';

/** cty's msgpack encoding of `value` as `type` (what go-cty's msgpack.Marshal writes). */
export function encodeMsgpack(value: CtyValue, type: CtyType): Buffer {
  const w = new MsgpackWriter();
  new Encoder().write(w, value, type, 0);
  return w.bytes();
}

/** Decodes cty's msgpack encoding of a value of `type` (what go-cty's msgpack.Unmarshal reads). */
export function decodeMsgpack(b: Buffer, type: CtyType): CtyValue {
  const d = new Decoder(new MsgpackReader(b));
  try {
    const v = d.read(type, 0);
    if (d.r.remaining > 0) throw new MsgpackError(`${d.r.remaining} bytes after the value`);
    return v;
  } catch (err) {
    if (err instanceof MsgpackError) throw valueError(d.path, `${err.message} (malformed msgpack)`, err);
    throw err;
  }
}

class Encoder {
  readonly path: CtyPath = [];
  unknowns = 0;

  write(w: MsgpackWriter, v: CtyValue, t: CtyType, depth: number): void {
    const path = this.path;
    if (depth > MAX_DEPTH) throw valueError(path, `nested deeper than ${MAX_DEPTH} levels`);
    const kind = kindOf(t, path);
    if (kind === 'dynamic') this.dynamic(w, v, depth);
    else if (v instanceof Typed) {
      if (!typeEquals(v.type, t)) throw valueError(path, `a value of type ${ctyTypeToJson(t)} is required, got ${describe(v)}`);
      this.write(w, v.value, t, depth + 1);
    } else if (v instanceof Unknown) {
      const known = settled(v.refinements, kind);
      this.unknowns++;
      if (known === undefined) writeUnknown(w, v.refinements, kind, path);
      else this.write(w, known, t, depth + 1);
    } else if (v === null) w.nil();
    else if (kind === 'string' || kind === 'number' || kind === 'bool') writePrimitive(w, v, kind, path);
    else if (kind === 'map' || kind === 'object') {
      if (!isRecord(v)) throw valueError(path, `${kind === 'map' ? 'a map' : 'an object'} is required, got ${describe(v)}`);
      if (kind === 'map') this.map(w, v, t[1] as CtyType, depth);
      else this.object(w, v, t, depth);
    } else if (!Array.isArray(v)) throw valueError(path, `a ${kind} (an array) is required, got ${describe(v)}`);
    else if (kind === 'set') this.set(w, v, t[1] as CtyType, depth);
    else this.list(w, v, t, depth);
  }

  /** A list or a tuple. */
  list(w: MsgpackWriter, v: CtyValue[], t: CtyType, depth: number): void {
    const etys = t[0] === 'tuple' ? (t[1] as readonly CtyType[]) : undefined;
    if (etys !== undefined && etys.length !== v.length) throw valueError(this.path, `a tuple of ${etys.length} elements is required, got ${v.length}`);
    w.arrayLen(v.length);
    for (let i = 0; i < v.length; i++) {
      this.path.push(i);
      this.write(w, v[i]!, etys?.[i] ?? (t[1] as CtyType), depth + 1);
      this.path.pop();
    }
  }

  /** A 'dynamic' position: nil, plain unknown, or [type JSON, value] (go-cty's dynamicVal). */
  dynamic(w: MsgpackWriter, v: CtyValue, depth: number): void {
    if (v instanceof Typed && v.type === 'dynamic') v = v.value;
    if (v === null) w.nil();
    else if (v instanceof Unknown) {
      this.unknowns++;
      w.raw(PLAIN_UNKNOWN); // cty.DynamicVal never has refinements
    } else if (v instanceof Typed) {
      const type = concreteType(v.type, v.value);
      w.arrayLen(2);
      w.bin(valueTypeJson(type));
      this.write(w, v.value, type, depth + 1);
    } else throw valueError(this.path, `a 'dynamic' position needs its type: give new Typed(type, value), not ${describe(v)}`);
  }

  map(w: MsgpackWriter, v: Record<string, CtyValue>, ety: CtyType, depth: number): void {
    const keys = sortedKeys(v);
    w.mapLen(keys.length);
    for (const key of keys) {
      this.path.push({ key });
      if (v[key] === undefined) throw valueError(this.path, 'a value is required, got nothing (undefined)');
      w.str(key);
      this.write(w, v[key]!, ety, depth + 1);
      this.path.pop();
    }
  }

  object(w: MsgpackWriter, v: Record<string, CtyValue>, t: CtyType, depth: number): void {
    const atys = t[1] as Record<string, CtyType>;
    for (const k of Object.keys(v)) if (!Object.hasOwn(atys, k)) throw valueError(this.path, `unsupported attribute "${k}"`);
    const names = sortedKeys(atys);
    const optional = optionalAttrs(t);
    w.mapLen(names.length);
    for (const name of names) {
      this.path.push(name);
      const av = Object.hasOwn(v, name) ? v[name] : undefined;
      if (av === undefined && !optional.includes(name)) throw valueError(this.path, 'attribute is required (use null for an absent value)');
      w.str(name);
      this.write(w, av ?? null, atys[name]!, depth + 1);
      this.path.pop();
    }
  }

  /** Each element encoded on its own, then deduplicated and ordered as cty does. */
  set(w: MsgpackWriter, v: CtyValue[], ety: CtyType, depth: number): void {
    const elements: SetElement[] = [];
    for (let i = 0; i < v.length; i++) {
      const before = this.unknowns;
      const ew = new MsgpackWriter();
      this.path.push(i);
      this.write(ew, v[i]!, ety, depth + 1);
      this.path.pop();
      elements.push({ bytes: ew.bytes(), hasUnknown: this.unknowns > before });
    }
    const kept = setOrder(elements, ety);
    w.arrayLen(kept.length);
    for (const e of kept) w.raw(e.bytes);
  }
}

function writePrimitive(w: MsgpackWriter, v: CtyValue, kind: 'string' | 'number' | 'bool', path: CtyPath): void {
  if (typeof v !== kind.replace('bool', 'boolean') || (kind === 'number' && Number.isNaN(v))) {
    throw valueError(path, `a ${kind} is required, got ${describe(v)}`);
  }
  if (kind === 'string') w.str(nfc(v as string));
  else if (kind === 'bool') w.bool(v as boolean);
  else writeCtyNumber(w, v as number);
}

class Decoder {
  readonly path: CtyPath = [];
  constructor(readonly r: MsgpackReader) {}

  read(t: CtyType, depth: number): CtyValue {
    const { r, path } = this;
    if (depth > MAX_DEPTH) throw valueError(path, `nested deeper than ${MAX_DEPTH} levels`);
    const kind = kindOf(t, path);
    const got = r.kind();
    if (got === 'ext') return this.unknown(kind);
    if (kind === 'dynamic') return this.dynamic(depth);
    if (got === 'nil') {
      r.nil();
      return null;
    }
    const mismatch = (what: string) => valueError(path, `${what} is required, the msgpack has ${got === 'int' ? 'an int' : `a ${got}`}`);
    switch (kind) {
      case 'string':
        if (got !== 'str' && got !== 'bin') throw mismatch('a string');
        return this.string();
      case 'bool':
        if (got !== 'bool') throw mismatch('a bool');
        return r.bool();
      case 'number':
        if (got === 'int' || got === 'float') return r.number();
        if (got !== 'str' && got !== 'bin') throw mismatch('a number');
        return this.numberText();
      case 'map':
        if (got !== 'map') throw mismatch('a map');
        return this.map(t[1] as CtyType, depth);
      case 'object':
        if (got !== 'map') throw mismatch('an object (a msgpack map)');
        return this.object(t, depth);
    }
    if (got !== 'array') throw mismatch(`a ${kind} (a msgpack array)`);
    const n = r.arrayLen();
    const etys = kind === 'tuple' ? (t[1] as readonly CtyType[]) : undefined;
    if (etys !== undefined && etys.length !== n) throw valueError(path, `a tuple of ${etys.length} elements is required, the msgpack has ${n}`);
    const out: CtyValue[] = new Array(n);
    for (let i = 0; i < n; i++) {
      path.push(i);
      out[i] = this.read(etys?.[i] ?? (t[1] as CtyType), depth + 1);
      path.pop();
    }
    return out;
  }

  string(): string {
    const b = this.r.bytes();
    if (!isUtf8(b)) throw valueError(this.path, 'a string must be UTF-8');
    const s = b.toString('utf8');
    return s.length === b.length ? s : nfc(s);
  }

  numberText(): number {
    const s = this.string();
    const n = parseNumberText(s);
    if (Number.isNaN(n)) throw valueError(this.path, `a number is required, the msgpack has the string ${JSON.stringify(s.slice(0, 40))}`);
    return n;
  }

  map(ety: CtyType, depth: number): Record<string, CtyValue> {
    const out: Record<string, CtyValue> = {};
    for (let n = this.r.mapLen(); n > 0; n--) {
      const key = this.key();
      this.path.push({ key });
      setOwn(out, key, this.read(ety, depth + 1));
      this.path.pop();
    }
    return out;
  }

  object(t: CtyType, depth: number): Record<string, CtyValue> {
    const atys = t[1] as Record<string, CtyType>;
    const out: Record<string, CtyValue> = {};
    for (let n = this.r.mapLen(); n > 0; n--) {
      const name = this.key();
      if (!Object.hasOwn(atys, name)) throw valueError(this.path, `unsupported attribute "${name}"`);
      if (Object.hasOwn(out, name)) throw valueError(this.path, `attribute "${name}" appears twice`);
      this.path.push(name);
      setOwn(out, name, this.read(atys[name]!, depth + 1));
      this.path.pop();
    }
    const optional = optionalAttrs(t);
    for (const name of Object.keys(atys)) {
      if (Object.hasOwn(out, name)) continue;
      if (!optional.includes(name)) throw valueError(this.path, `attribute "${name}" is missing`);
      setOwn(out, name, null);
    }
    return out;
  }

  key(): string {
    const k = this.r.kind();
    if (k !== 'str' && k !== 'bin') throw valueError(this.path, `keys must be strings, the msgpack has a ${k}`);
    return this.string();
  }

  dynamic(depth: number): CtyValue {
    const r = this.r;
    if (r.kind() === 'nil') {
      r.nil();
      return null;
    }
    if (r.kind() !== 'array' || r.arrayLen() !== 2) throw valueError(this.path, "a 'dynamic' value must be a msgpack array [type JSON, value]");
    const k = r.kind();
    if (k !== 'str' && k !== 'bin') throw valueError(this.path, "the type of a 'dynamic' value must be JSON bytes");
    const json = r.bytes();
    let type: CtyType;
    try {
      type = ctyTypeFromJson(json);
    } catch (err) {
      throw valueError(this.path, `the type of a 'dynamic' value: ${(err as Error).message}`, err);
    }
    return new Typed(type, this.read(type, depth + 1));
  }

  unknown(kind: string): CtyValue {
    return readUnknown(this.r, kind, this.path);
  }
}
