/**
 * cty, Terraform's type system, as plain data: types in their JSON form (what tfplugin schemas
 * carry in Schema.Attribute.type), values as JavaScript values, and the two things JavaScript has
 * no value for: unknown ("known after apply") and a value that carries its own type (a 'dynamic'
 * position). ./cty.ts is the public face; the codecs live in ./cty-msgpack.ts (with ./cty-unknown.ts,
 * ./cty-sets.ts) and ./cty-json.ts.
 */
import type { TransportError } from '../errors';
import { TerraformErrorCodes, terraformError } from './errors';
import type { MsgpackWriter } from './msgpack';

/** A cty type as Terraform writes it in schemas (its JSON form, parsed). */
export type CtyType =
  | 'string'
  | 'number'
  | 'bool'
  | 'dynamic'
  | readonly ['list' | 'set' | 'map', CtyType]
  | readonly ['object', { readonly [attr: string]: CtyType }]
  | readonly ['object', { readonly [attr: string]: CtyType }, readonly string[]]
  | readonly ['tuple', readonly CtyType[]];

/** What Terraform knows about an unknown value (cty's refinements); every field optional. */
export interface UnknownRefinements {
  /** The value will not be null. */
  readonly notNull?: boolean;
  /** A string value will start with this. */
  readonly stringPrefix?: string;
  /** A number will be at least (inclusive) or above (exclusive) this. */
  readonly numberMin?: {
    /** The bound. */
    readonly value: number;
    /** Whether the bound itself is allowed. */
    readonly inclusive: boolean;
  };
  /** A number will be at most (inclusive) or below (exclusive) this. */
  readonly numberMax?: {
    /** The bound. */
    readonly value: number;
    /** Whether the bound itself is allowed. */
    readonly inclusive: boolean;
  };
  /** A list, set or map will have at least this many elements. */
  readonly lengthMin?: number;
  /** A list, set or map will have at most this many elements. */
  readonly lengthMax?: number;
}

/** An unknown value ("known after apply"); `unknown` is the shared instance without refinements. */
export class Unknown {
  /** What is known about the value already (frozen); absent for a plain unknown. */
  readonly refinements?: UnknownRefinements;
  constructor(refinements?: UnknownRefinements) {
    if (refinements !== undefined) this.refinements = Object.freeze({ ...refinements });
    Object.freeze(this);
  }
}

/** The unknown value without refinements. */
export const unknown: Unknown = new Unknown();

/** True for `unknown` and every refined Unknown. */
export function isUnknown(v: unknown): v is Unknown {
  return v instanceof Unknown;
}

/** A value of a 'dynamic' position: its concrete type travels with it. */
export class Typed {
  constructor(
    /** The value's concrete cty type. */
    readonly type: CtyType,
    /** The value, of that type. */
    readonly value: CtyValue,
  ) {}
}

/** A cty value: objects and maps are plain objects; lists, sets and tuples are arrays. */
export type CtyValue = null | string | number | boolean | Unknown | Typed | CtyValue[] | { [k: string]: CtyValue };

/** Deeper nesting than this (of types or values) is refused: no real schema comes near it. */
export const MAX_DEPTH = 64;

/** Where in a value we are: attribute names, map keys and element indexes, outermost first. */
export type CtyPath = (string | number | { key: string })[];

/** `.tags["a"]`, `.rules[0].port`: the path as Terraform prints it. */
export function formatPath(path: CtyPath): string {
  let s = '';
  for (const step of path) {
    if (typeof step === 'string') s += `.${step}`;
    else if (typeof step === 'number') s += `[${step}]`;
    else s += `[${JSON.stringify(step.key)}]`;
  }
  return s;
}

/** The ERR_TERRAFORM_VALUE error for a value at `path`. */
export function valueError(path: CtyPath, what: string, cause?: unknown): TransportError {
  const where = path.length === 0 ? 'Terraform value' : `Terraform value at ${formatPath(path)}`;
  return terraformError(TerraformErrorCodes.VALUE, `${where}: ${what}`, cause === undefined ? undefined : { cause });
}

/** A type's kind, checking its shape as it goes (types may come from JavaScript callers). */
export function kindOf(t: CtyType, path: CtyPath): 'string' | 'number' | 'bool' | 'dynamic' | 'list' | 'set' | 'map' | 'object' | 'tuple' {
  if (t === 'string' || t === 'number' || t === 'bool' || t === 'dynamic') return t;
  if (Array.isArray(t)) {
    const [k, e, opt] = t as unknown[];
    if ((k === 'list' || k === 'set' || k === 'map') && t.length === 2 && e !== undefined) return k;
    if (k === 'tuple' && t.length === 2 && Array.isArray(e)) return k;
    if (k === 'object' && isRecord(e) && (t.length === 2 || (t.length === 3 && isOptionals(opt, e)))) return k;
  }
  throw valueError(path, `not a cty type: ${safeJson(t)}`);
}

/** The optional attributes of an object type (an empty list when it has none). */
export function optionalAttrs(t: CtyType): readonly string[] {
  return ((t as readonly unknown[])[2] as readonly string[] | undefined) ?? [];
}

/** cty's JSON form of a type, byte for byte as go-cty writes it (sorted attributes, Go escaping). */
export function ctyTypeToJson(t: CtyType): Buffer {
  return Buffer.from(typeJson(t, [], 0, true));
}

/** The JSON of a value's type: optional attributes are a type constraint only, no cty value's type has them. */
export function valueTypeJson(t: CtyType): Buffer {
  return Buffer.from(typeJson(t, [], 0, false));
}

function typeJson(t: CtyType, path: CtyPath, depth: number, optionals: boolean): string {
  if (depth > MAX_DEPTH) throw valueError(path, `type nested deeper than ${MAX_DEPTH} levels`);
  const kind = kindOf(t, path);
  if (typeof t === 'string') return `"${t}"`;
  const inner = (e: CtyType) => typeJson(e, path, depth + 1, optionals);
  if (kind === 'tuple') return `["tuple",[${(t[1] as readonly CtyType[]).map(inner).join(',')}]]`;
  if (kind !== 'object') return `["${kind}",${inner(t[1] as CtyType)}]`;
  const atys = t[1] as Record<string, CtyType>;
  const attrs = sortedKeys(atys).map((a) => `${goJsonString(a)}:${inner(atys[a]!)}`);
  const opt = optionals ? [...optionalAttrs(t)].sort(compareStrings) : [];
  return `["object",{${attrs.join(',')}}${opt.length > 0 ? `,[${opt.map(goJsonString).join(',')}]` : ''}]`;
}

/** Parses cty's JSON form of a type (a tfplugin Schema.Attribute.type, a dynamic value's type). */
export function ctyTypeFromJson(b: Buffer | string): CtyType {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof b === 'string' ? b : b.toString('utf8'));
  } catch (err) {
    throw valueError([], `a cty type must be JSON: ${(err as Error).message}`, err);
  }
  checkType(parsed, 0);
  return parsed as CtyType;
}

function checkType(t: unknown, depth: number): void {
  if (depth > MAX_DEPTH) throw valueError([], `type nested deeper than ${MAX_DEPTH} levels`);
  const kind = kindOf(t as CtyType, []);
  if (typeof t === 'string') return;
  const e = (t as unknown[])[1];
  if (kind === 'tuple') for (const x of e as unknown[]) checkType(x, depth + 1);
  else if (kind === 'object') for (const a of Object.keys(e as object)) checkType((e as Record<string, unknown>)[a], depth + 1);
  else checkType(e, depth + 1);
}

/**
 * The type a value of type `t` has in cty, which go-cty writes for a 'dynamic' value: 'dynamic'
 * positions replaced by the type of the Typed value they hold (a collection takes its first
 * element's). (Written with valueTypeJson, without optional attributes.)
 */
export function concreteType(t: CtyType, v: CtyValue | undefined): CtyType {
  if (t === 'dynamic') return v instanceof Typed ? concreteType(v.type, v.value) : t;
  if (typeof t === 'string') return t;
  if (v instanceof Typed) v = v.value;
  const known = v !== null && v !== undefined && !(v instanceof Unknown);
  if (t[0] === 'tuple') return ['tuple', (t[1] as readonly CtyType[]).map((e, i) => concreteType(e, known && Array.isArray(v) ? v[i] : undefined))];
  if (t[0] === 'object') {
    const atys = t[1] as Record<string, CtyType>;
    const out: Record<string, CtyType> = {};
    for (const a of Object.keys(atys))
      setOwn(out as Record<string, CtyValue>, a, concreteType(atys[a]!, known && isRecord(v) && Object.hasOwn(v, a) ? v[a] : undefined) as CtyValue);
    return t.length === 3 ? ['object', out, t[2]] : ['object', out];
  }
  const elements = known && (Array.isArray(v) || isRecord(v)) ? Object.values(v as object) : [];
  let e = concreteType(t[1] as CtyType, undefined);
  for (const x of elements) if ((e = concreteType(t[1] as CtyType, x)) !== 'dynamic') break;
  return [t[0], e];
}

/** Type equality as cty's Type.Equals (optional attributes count). */
export function typeEquals(a: CtyType, b: CtyType): boolean {
  if (a === b) return true;
  if (typeof a === 'string' || typeof b === 'string' || a[0] !== b[0] || a.length !== b.length) return false;
  if (a[0] === 'tuple') {
    const ea = a[1] as readonly CtyType[];
    const eb = b[1] as readonly CtyType[];
    return ea.length === eb.length && ea.every((e, i) => typeEquals(e, eb[i]!));
  }
  if (a[0] !== 'object') return typeEquals(a[1] as CtyType, b[1] as CtyType);
  const aa = a[1] as Record<string, CtyType>;
  const ab = b[1] as Record<string, CtyType>;
  const keys = Object.keys(aa);
  if (keys.length !== Object.keys(ab).length || !keys.every((k) => Object.hasOwn(ab, k) && typeEquals(aa[k]!, ab[k]!))) return false;
  const oa = [...optionalAttrs(a)].sort();
  const ob = [...optionalAttrs(b)].sort();
  return oa.length === ob.length && oa.every((k, i) => k === ob[i]);
}

/** Go's string order (by UTF-8 bytes, that is by code point), which JavaScript's `<` is not. */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  if (SURROGATE.test(a) || SURROGATE.test(b)) return Buffer.compare(Buffer.from(a), Buffer.from(b));
  return a < b ? -1 : 1;
}

/** An object's own keys in Go's sort.Strings order. */
export function sortedKeys(o: object): string[] {
  return Object.keys(o).sort(compareStrings);
}

/** Sets an own property, also for the key `__proto__` (which plain assignment would not). */
export function setOwn(o: Record<string, CtyValue>, k: string, v: CtyValue): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

/** A plain object (a map or object value), not an array, Buffer, Unknown or Typed. */
export function isRecord(v: unknown): v is Record<string, CtyValue> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** cty strings are NFC-normalized (cty.StringVal does it); ASCII needs no work. */
export function nfc(s: string): string {
  return NON_ASCII.test(s) ? s.normalize('NFC') : s;
}

/** A number written as text (go-cty writes numbers past int64 so; big.ParseFloat's syntax); NaN if it is not one. */
export function parseNumberText(s: string): number {
  if (!NUMBER_TEXT.test(s)) return Number.NaN;
  return /inf/i.test(s) ? (s.startsWith('-') ? -Infinity : Infinity) : Number(s);
}

/**
 * A number as go-cty writes it: an int when integral and within int64, float64 when not integral,
 * and past int64 the decimal digits, shortest first (go-cty's text of a float64, e.g.
 * "9223372036854776000").
 */
export function writeCtyNumber(w: MsgpackWriter, n: number): void {
  if (!Number.isInteger(n)) w.float64(n);
  else if (n >= -INT64_LIMIT && n < INT64_LIMIT) w.int(n);
  else {
    const m = /^(-?)(\d)(?:\.(\d+))?e\+(\d+)$/.exec(String(n));
    w.str(m === null ? String(n) : m[1]! + (m[2]! + (m[3] ?? '')).padEnd(Number(m[4]) + 1, '0'));
  }
}

/** What a value is, for messages: "a string", "an array", "unknown". */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'nothing (undefined)';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Unknown) return 'unknown';
  if (v instanceof Typed) return `a Typed value of type ${safeJson(v.type)}`;
  if (typeof v === 'object') return isRecord(v) ? 'an object' : `an instance of ${v.constructor?.name ?? 'a class'}`;
  return typeof v === 'number' && Number.isNaN(v) ? 'NaN' : `a ${typeof v}`;
}

function isOptionals(opt: unknown, atys: object): boolean {
  return Array.isArray(opt) && opt.every((a) => typeof a === 'string' && Object.hasOwn(atys, a));
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v)?.slice(0, 200) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Go's encoding/json escapes <, >, & and U+2028/2029 where JSON.stringify does not. */
function goJsonString(s: string): string {
  return JSON.stringify(s).replace(GO_ESCAPED, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const INT64_LIMIT = 2 ** 63;
const NUMBER_TEXT = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$|^[+-]?inf$/i;
const GO_ESCAPED = /[<>&\u2028\u2029]/g;
const SURROGATE = /[\ud800-\udfff]/;
const NON_ASCII = /[^\x00-\x7f]/;
