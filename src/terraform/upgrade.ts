/**
 * Stored state as Terraform hands it back (UpgradeResourceState's raw_state): the JSON of the
 * state file, written under the schema version recorded beside it. Terraform cannot decode it
 * itself (only the provider knows its old schemas), and asks on every plan, also when the
 * version is current.
 */
import type { BlockSchema } from './schema';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const isJsonObject = (v: unknown): v is { [k: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Parses raw_state.json; a clear error when it is not a JSON object. */
export function parseRawState(json: Buffer | undefined): { [k: string]: Json } {
  if (!json || json.length === 0) throw new Error('the stored state has no JSON (a legacy flatmap state cannot be upgraded by this provider)');
  const v: unknown = JSON.parse(json.toString('utf8'));
  if (!isJsonObject(v)) throw new Error('the stored state is not a JSON object');
  return v;
}

/**
 * A JSON state fitted to `block`: attributes the schema no longer has are dropped, ones it
 * gained are null (empty for nested list/set/map blocks), at every level of nested blocks and
 * nested attributes. What remains must fit the attribute types (the decoder checks).
 */
export function fitToSchema(block: BlockSchema, value: Json): Json {
  if (!isJsonObject(value)) return value;
  const out: { [k: string]: Json } = {};
  for (const [name, a] of Object.entries(block.attributes ?? {})) {
    const v = value[name] ?? null;
    out[name] = a.nested ? eachObject(v, a.nested.nesting === 'single', (o) => fitToSchema({ attributes: a.nested!.attributes }, o)) : v;
  }
  for (const [name, b] of Object.entries(block.blocks ?? {})) {
    const empty = b.nesting === 'list' || b.nesting === 'set' ? [] : b.nesting === 'map' ? {} : null;
    const v = value[name] ?? empty;
    out[name] = eachObject(v, b.nesting === 'single' || b.nesting === 'group', (o) => fitToSchema(b, o));
  }
  return out;
}

function eachObject(v: Json, single: boolean, f: (o: Json) => Json): Json {
  if (v === null || single) return v === null ? null : f(v);
  if (Array.isArray(v)) return v.map(f);
  if (isJsonObject(v)) return Object.fromEntries(Object.entries(v).map(([k, o]) => [k, f(o)]));
  return v;
}
