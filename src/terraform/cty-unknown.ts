/**
 * Unknown values in cty's msgpack encoding, as go-cty writes and reads them (cty/msgpack/unknown.go):
 * plain unknown is extension type 0 with one zero byte (d4 00 00); an unknown with refinements
 * (not null, a string prefix, number bounds, collection length bounds) is extension type 0x0c
 * holding a map from small integer keys to the refinement. Refinements that settle the value
 * (equal inclusive bounds, length 0) make a known value, as cty does.
 */
import { isUtf8 } from 'node:buffer';
import { type CtyPath, type CtyValue, nfc, parseNumberText, Unknown, type UnknownRefinements, unknown, valueError, writeCtyNumber } from './cty-types';
import { MsgpackReader, MsgpackWriter } from './msgpack';

/** go-cty's extension type of an unknown value with refinements (plain unknown: type 0). */
const REFINED_EXT = 0x0c;
/** go-cty's refinement keys. */
const R_NULLNESS = 1;
const R_PREFIX = 2;
const R_NUMBER_MIN = 3;
const R_NUMBER_MAX = 4;
const R_LENGTH_MIN = 5;
const R_LENGTH_MAX = 6;

/** Plain unknown: fixext1 of type 0 holding one zero byte, the shortest extension. */
export const PLAIN_UNKNOWN = Buffer.from([0xd4, 0, 0]);

/** Plain unknown as ext 0 (d4 00 00); refinements that apply to the type as go-cty's ext 0x0c map. */
export function writeUnknown(w: MsgpackWriter, r: UnknownRefinements | undefined, kind: string, path: CtyPath): void {
  const body = new MsgpackWriter();
  let entries = 0;
  const entry = (key: number): void => {
    entries++;
    body.int(key);
  };
  if (r !== undefined) {
    checkBounds(r, kind, path);
    if (r.notNull === true) {
      entry(R_NULLNESS);
      body.bool(false);
    }
    if (kind === 'number') {
      for (const [key, bound, skip] of [[R_NUMBER_MIN, r.numberMin, -Infinity] as const, [R_NUMBER_MAX, r.numberMax, Infinity] as const]) {
        if (bound === undefined || bound.value === skip) continue;
        if (typeof bound.value !== 'number' || Number.isNaN(bound.value)) throw valueError(path, 'an unknown number bound must be a number');
        entry(key);
        body.arrayLen(2);
        writeCtyNumber(body, bound.value);
        body.bool(bound.inclusive === true);
      }
    } else if (kind === 'string' && r.stringPrefix !== undefined && r.stringPrefix !== '') {
      entry(R_PREFIX);
      body.str(truncatePrefix(nfc(String(r.stringPrefix))));
    } else if (kind === 'list' || kind === 'set' || kind === 'map') {
      for (const [key, len] of [[R_LENGTH_MIN, r.lengthMin] as const, [R_LENGTH_MAX, r.lengthMax] as const]) {
        if (len === undefined || (key === R_LENGTH_MIN && len === 0)) continue;
        if (!Number.isSafeInteger(len) || len < 0) throw valueError(path, 'an unknown collection length bound must be a whole number >= 0');
        entry(key);
        body.int(len);
      }
    }
  }
  if (entries === 0) {
    w.raw(PLAIN_UNKNOWN);
    return;
  }
  const head = new MsgpackWriter();
  head.mapLen(entries);
  const h = head.bytes();
  const b = body.bytes();
  w.extHeader(REFINED_EXT, h.length + b.length);
  w.raw(h);
  w.raw(b);
}

/** go-cty keeps at most 256 bytes of a prefix (cutting at a character, dropping the last one). */
function truncatePrefix(s: string): string {
  if (Buffer.byteLength(s) <= 256) return s;
  const chars = [...s];
  let bytes = 0;
  let n = 0;
  while (n < chars.length && bytes + Buffer.byteLength(chars[n]!) <= 255) bytes += Buffer.byteLength(chars[n++]!);
  return chars.slice(0, Math.max(0, n - 1)).join('');
}

/** An unknown value of a type of this kind (whose extension is next in `r`), with its refinements. */
export function readUnknown(r: MsgpackReader, kind: string, path: CtyPath): CtyValue {
  const { type, data } = r.ext();
  if (data.length <= 1 || kind === 'dynamic') return unknown; // go-cty ignores refinements of 'dynamic'
  if (type !== REFINED_EXT) throw valueError(path, `unsupported msgpack extension type ${type} (length ${data.length})`);
  if (data.length > 1024) throw valueError(path, 'unknown value refinements longer than 1024 bytes');
  return decodeRefinements(new MsgpackReader(data), kind, path);
}

/** go-cty's refinement map; keys this version does not know are skipped, as go-cty does. */
function decodeRefinements(r: MsgpackReader, kind: string, path: CtyPath): CtyValue {
  const out: { -readonly [K in keyof UnknownRefinements]: UnknownRefinements[K] } = {};
  const bad = (what: string) => valueError(path, `malformed unknown value refinements: ${what}`);
  for (let n = r.mapLen(); n > 0; n--) {
    if (r.kind() !== 'int') throw bad('a key is not an integer');
    const key = r.number();
    if (key === R_NULLNESS) {
      if (r.kind() !== 'bool') throw bad('nullness is not a bool');
      if (r.bool()) return null; // "definitely null" is the known null
      out.notNull = true;
    } else if (key === R_PREFIX) {
      if (kind !== 'string') throw bad('a string prefix on a non-string');
      if (r.kind() !== 'str' && r.kind() !== 'bin') throw bad('the string prefix is not a string');
      const b = r.bytes();
      if (!isUtf8(b)) throw bad('the string prefix is not UTF-8');
      out.stringPrefix = b.toString('utf8');
    } else if (key === R_LENGTH_MIN || key === R_LENGTH_MAX) {
      if (kind !== 'list' && kind !== 'set' && kind !== 'map') throw bad('a length bound on a non-collection');
      if (r.kind() !== 'int') throw bad('a length bound is not an integer');
      out[key === R_LENGTH_MIN ? 'lengthMin' : 'lengthMax'] = r.number();
    } else if (key === R_NUMBER_MIN || key === R_NUMBER_MAX) {
      if (kind !== 'number') throw bad('a number bound on a non-number');
      const k = r.kind() === 'array' ? r.arrayLen() : -1;
      const vk = k === 2 ? r.kind() : undefined;
      if (vk !== 'int' && vk !== 'float' && vk !== 'str') throw bad('a number bound must be [number, bool]');
      const value = vk === 'str' ? parseNumberText(r.bytes().toString('latin1')) : r.number();
      if (r.kind() !== 'bool' || Number.isNaN(value)) throw bad('a number bound must be [number, bool]');
      out[key === R_NUMBER_MIN ? 'numberMin' : 'numberMax'] = { value, inclusive: r.bool() };
    } else r.skip();
  }
  checkBounds(out, kind, path);
  return Object.keys(out).length === 0 ? unknown : (settled(out, kind) ?? new Unknown(out));
}

/** Bounds that leave no value possible are refused (go-cty panics on them). */
function checkBounds(r: UnknownRefinements, kind: string, path: CtyPath): void {
  const { numberMin: lo, numberMax: hi, lengthMin, lengthMax } = r;
  if (kind === 'number' && lo !== undefined && hi !== undefined && (lo.value > hi.value || (lo.value === hi.value && !(lo.inclusive && hi.inclusive)))) {
    throw valueError(path, `unknown number refinements exclude all values (${lo.value} to ${hi.value})`);
  }
  if ((kind === 'list' || kind === 'set' || kind === 'map') && lengthMin !== undefined && lengthMax !== undefined && lengthMin > lengthMax) {
    throw valueError(path, `unknown collection length refinements exclude all lengths (${lengthMin} to ${lengthMax})`);
  }
}

/**
 * The value refinements leave no doubt about, which cty makes of them (so never encodes as
 * unknown): a non-null number between equal inclusive bounds; a non-null collection of exactly
 * 0 elements; a non-null list of n (unknown) elements, a non-null set of one.
 */
export function settled(r: UnknownRefinements | undefined, kind: string): CtyValue | undefined {
  if (r?.notNull !== true) return undefined;
  const { numberMin: lo, numberMax: hi } = r;
  if (kind === 'number' && lo !== undefined && hi !== undefined && lo.inclusive && hi.inclusive && lo.value === hi.value) return lo.value;
  if ((kind !== 'list' && kind !== 'set' && kind !== 'map') || (r.lengthMin ?? 0) !== r.lengthMax) return undefined;
  if (r.lengthMax === 0) return kind === 'map' ? {} : [];
  if (kind === 'list' || (kind === 'set' && r.lengthMax === 1)) return new Array<CtyValue>(r.lengthMax).fill(unknown);
  return undefined;
}
