/**
 * cty's JSON encoding of values (go-cty's cty/json), which tfplugin's DynamicValue.json may carry
 * (Terraform sends raw state this way). The rules are go-cty's: null is null for every type; a
 * string may be given for a number or bool ("true"/"1", "false"/"0") and a number or bool for a
 * string; an object may leave attributes out (they are null); a 'dynamic' position is
 * {"type": <type JSON>, "value": <value>}. JSON has no unknown values.
 */
import {
  type CtyPath,
  type CtyType,
  type CtyValue,
  ctyTypeFromJson,
  describe,
  isRecord,
  kindOf,
  MAX_DEPTH,
  nfc,
  parseNumberText,
  setOwn,
  Typed,
  valueError,
} from './cty-types';

/** Decodes Terraform's JSON form of a value of `type`. */
export function decodeJsonValue(b: Buffer, type: CtyType): CtyValue {
  let parsed: unknown;
  try {
    parsed = JSON.parse(b.toString('utf8'));
  } catch (err) {
    throw valueError([], `not valid JSON: ${(err as Error).message}`, err);
  }
  return fromJson(parsed, type, [], 0);
}

function fromJson(j: unknown, t: CtyType, path: CtyPath, depth: number): CtyValue {
  if (depth > MAX_DEPTH) throw valueError(path, `nested deeper than ${MAX_DEPTH} levels`);
  const kind = kindOf(t, path);
  if (j === null) return null;
  const mismatch = (what: string) => valueError(path, `${what} is required, the JSON has ${describe(j)}`);
  switch (kind) {
    case 'dynamic':
      return dynamic(j, path, depth);
    case 'string':
      if (typeof j === 'number' || typeof j === 'boolean') return String(j);
      if (typeof j !== 'string') throw mismatch('a string');
      return nfc(j);
    case 'number':
      if (typeof j === 'number') return j;
      if (typeof j === 'string' && !Number.isNaN(parseNumberText(j))) return parseNumberText(j);
      throw mismatch('a number');
    case 'bool':
      if (typeof j === 'boolean') return j;
      if (j === 'true' || j === '1' || j === 'false' || j === '0') return j === 'true' || j === '1';
      throw mismatch('a bool');
    case 'map':
    case 'object':
      if (!isRecord(j)) throw mismatch(kind === 'map' ? 'a map (a JSON object)' : 'an object');
      return kind === 'map' ? map(j, t[1] as CtyType, path, depth) : object(j, t[1] as Record<string, CtyType>, path, depth);
  }
  if (!Array.isArray(j)) throw mismatch(`a ${kind} (a JSON array)`);
  const etys = kind === 'tuple' ? (t[1] as readonly CtyType[]) : undefined;
  if (etys !== undefined && etys.length !== j.length) throw valueError(path, `a tuple of ${etys.length} elements is required, the JSON has ${j.length}`);
  return j.map((e, i) => {
    path.push(i);
    const v = fromJson(e, etys?.[i] ?? (t[1] as CtyType), path, depth + 1);
    path.pop();
    return v;
  });
}

function map(j: Record<string, unknown>, ety: CtyType, path: CtyPath, depth: number): Record<string, CtyValue> {
  const out: Record<string, CtyValue> = {};
  for (const key of Object.keys(j)) {
    path.push({ key });
    setOwn(out, key, fromJson(j[key], ety, path, depth + 1));
    path.pop();
  }
  return out;
}

function object(j: Record<string, unknown>, atys: Record<string, CtyType>, path: CtyPath, depth: number): Record<string, CtyValue> {
  const out: Record<string, CtyValue> = {};
  for (const name of Object.keys(j)) {
    if (!Object.hasOwn(atys, name)) throw valueError(path, `unsupported attribute "${name}"`);
    path.push(name);
    setOwn(out, name, fromJson(j[name], atys[name]!, path, depth + 1));
    path.pop();
  }
  for (const name of Object.keys(atys)) if (!Object.hasOwn(out, name)) setOwn(out, name, null);
  return out;
}

function dynamic(j: unknown, path: CtyPath, depth: number): Typed {
  if (!isRecord(j) || !Object.hasOwn(j, 'type') || !Object.hasOwn(j, 'value')) {
    throw valueError(path, `a 'dynamic' value must be {"type": ..., "value": ...}, the JSON has ${describe(j)}`);
  }
  const extra = Object.keys(j).find((k) => k !== 'type' && k !== 'value');
  if (extra !== undefined) throw valueError(path, `invalid key "${extra}" in a 'dynamic' value`);
  let type: CtyType;
  try {
    type = ctyTypeFromJson(JSON.stringify(j.type));
  } catch (err) {
    throw valueError(path, `the type of a 'dynamic' value: ${(err as Error).message}`, err);
  }
  return new Typed(type, fromJson(j.value, type, path, depth + 1));
}
