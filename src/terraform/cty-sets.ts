/**
 * A set's elements in the order go-cty writes them, without duplicates, so that our msgpack of a
 * set equals Terraform's byte for byte. cty iterates a set sorted by its `Less`: known before
 * unknown before null; strings by bytes, numbers by value, false before true; elements of other
 * types by their "hash bytes" (a string cty builds from the value), ties in insertion order.
 *
 * The elements arrive already encoded (canonical msgpack: inner sets sorted, maps and objects by
 * key), which makes two things easy: equal known values have equal bytes (the duplicates cty's
 * set drops), and the hash bytes can be read off the encoding.
 */
import { type CtyType, MAX_DEPTH, parseNumberText } from './cty-types';
import { MsgpackReader } from './msgpack';

/** One encoded element, and whether any unknown is in it (such elements are never equal to another). */
export interface SetElement {
  readonly bytes: Buffer;
  readonly hasUnknown: boolean;
}

/** The elements go-cty would keep, in the order it would write them. */
export function setOrder(elements: SetElement[], ety: CtyType): SetElement[] {
  const seen = new Set<string>();
  const kept: SetElement[] = [];
  for (const e of elements) {
    if (!e.hasUnknown) {
      const key = e.bytes.toString('latin1');
      if (seen.has(key)) continue;
      seen.add(key);
    }
    kept.push(e);
  }
  if (kept.length < 2) return kept;
  const keys = new Map(kept.map((e) => [e, rank(e) === 0 ? sortKey(e.bytes, ety) : 0]));
  return kept.sort((a, b) => {
    const ra = rank(a);
    const rb = rank(b);
    if (ra !== rb || ra !== 0) return ra - rb;
    const ka = keys.get(a)!;
    const kb = keys.get(b)!;
    return typeof ka === 'number' ? ka - (kb as number) : Buffer.compare(ka, kb as Buffer);
  });
}

/** 0: known and not null, 1: unknown, 2: null (cty sorts in this order). */
function rank(e: SetElement): number {
  const c = e.bytes[0]!;
  if (c === 0xc0) return 2;
  return (c >= 0xd4 && c <= 0xd8) || (c >= 0xc7 && c <= 0xc9) ? 1 : 0;
}

/** Strings by their UTF-8 bytes, numbers by value, false < true, anything else by its hash bytes. */
function sortKey(bytes: Buffer, ety: CtyType): number | Buffer {
  const r = new MsgpackReader(bytes);
  if (ety === 'bool') return bytes[0]!;
  if (ety === 'string') return r.bytes();
  if (ety === 'number') return r.kind() === 'str' ? parseNumberText(r.bytes().toString('utf8')) : r.number();
  return Buffer.from(hashBytes(r, ety, 0));
}

/** cty's appendSetHashBytes, read from a value's canonical encoding. */
function hashBytes(r: MsgpackReader, t: CtyType, depth: number): string {
  if (depth > MAX_DEPTH) return '';
  const kind = r.kind();
  if (kind === 'ext' || kind === 'nil') {
    r.skip();
    return kind === 'ext' ? '?' : '~';
  }
  if (t === 'dynamic') {
    r.arrayLen();
    const json = r.bytes().toString('utf8');
    return hashBytes(r, JSON.parse(json) as CtyType, depth + 1);
  }
  if (t === 'bool') return r.bool() ? 'T' : 'F';
  if (t === 'string') return goQuote(r.bytes().toString('utf8'));
  if (t === 'number') return formatG10(kind === 'str' ? parseNumberText(r.bytes().toString('utf8')) : r.number());
  const [k, e] = t as readonly [string, unknown];
  let s = k === 'map' ? '{' : k === 'object' || k === 'tuple' ? '<' : '[';
  if (k === 'map') {
    for (let n = r.mapLen(); n > 0; n--) s += `${hashBytes(r, 'string', depth + 1)}:${hashBytes(r, e as CtyType, depth + 1)};`;
    return s + '}';
  }
  if (k === 'object') {
    const atys = e as Record<string, CtyType>;
    for (let n = r.mapLen(); n > 0; n--) s += `${hashBytes(r, atys[r.bytes().toString('utf8')]!, depth + 1)};`;
    return s + '>';
  }
  const n = r.arrayLen();
  for (let i = 0; i < n; i++) s += `${hashBytes(r, k === 'tuple' ? (e as CtyType[])[i]! : (e as CtyType), depth + 1)};`;
  return s + (k === 'tuple' ? '>' : ']');
}

/**
 * Go's big.Float String(), Text('g', 10): ten significant digits, trailing zeros dropped, the
 * exponent form outside 1e-4 <= |x| < 1e10. (Exact ties at the eleventh digit round half up here,
 * half to even in Go; cty calls this order "consistent but undefined", so it does not matter.)
 */
export function formatG10(x: number): string {
  if (!Number.isFinite(x)) return x > 0 ? '+Inf' : '-Inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const sign = x < 0 ? '-' : '';
  const [m, e] = Math.abs(x).toExponential(9).split('e') as [string, string];
  const digits = m.replace('.', '').replace(/0+$/, '');
  const exp = Number(e); // x = d.ddd * 10^exp
  const eprec = digits.length < 10 && digits.length >= exp + 1 ? digits.length : 10;
  if (exp < -4 || exp >= eprec) {
    const ee = Math.abs(exp);
    return `${sign}${digits[0]}${digits.length > 1 ? '.' + digits.slice(1) : ''}e${exp < 0 ? '-' : '+'}${ee < 10 ? '0' : ''}${ee}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  const int = digits.slice(0, exp + 1).padEnd(exp + 1, '0');
  const frac = digits.slice(exp + 1);
  return `${sign}${int}${frac.length > 0 ? '.' + frac : ''}`;
}

/** Go's strconv.Quote (what fmt's %q does to a string). */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const cp = ch.codePointAt(0)!;
    if (cp === 0x22 || cp === 0x5c) out += '\\' + ch;
    else if (cp >= 0x20 && cp < 0x7f) out += ch;
    else if (cp < 0x80) out += CONTROL[cp] ?? `\\x${cp.toString(16).padStart(2, '0')}`;
    else if (printable().test(ch)) out += ch;
    else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, '0')}`;
    else out += `\\U${cp.toString(16).padStart(8, '0')}`;
  }
  return out + '"';
}

const CONTROL: Record<number, string> = { 7: '\\a', 8: '\\b', 9: '\\t', 10: '\\n', 11: '\\v', 12: '\\f', 13: '\\r' };
/**
 * Go's unicode.IsPrint beyond ASCII: letters, marks, numbers, punctuation, symbols. Made on
 * first use: V8 builds the Unicode classes when the literal is evaluated (~0.4 ms), and most
 * providers never quote a non-ASCII set element.
 */
let PRINTABLE: RegExp | undefined;
const printable = (): RegExp => (PRINTABLE ??= /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u);
