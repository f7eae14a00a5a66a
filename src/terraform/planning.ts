/**
 * Default planning and the checks around it, on values walked beside their schema:
 * - a resource that will change (created, or its proposed state differs from its prior state)
 *   gets its computed attributes that configuration leaves null planned as unknown ("known after
 *   apply"), except `useStateForUnknown` ones on updates, which keep their prior value;
 * - top-level `requiresReplace` attributes (all configurable ones when the resource has no
 *   `update`) that change make Terraform replace the resource.
 */
import { type CtyValue, isUnknown, Typed, unknown } from './cty';
import type { AttributeSchema, BlockSchema } from './schema';

type Obj = { [k: string]: CtyValue };

const isObject = (v: CtyValue | undefined): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v) && !isUnknown(v) && !(v instanceof Typed);

/** Structural equality of cty values; an unknown value equals nothing (it may become anything). */
export function valuesEqual(a: CtyValue | undefined, b: CtyValue | undefined): boolean {
  if (isUnknown(a) || isUnknown(b)) return false;
  if (a === b) return true;
  if (a === null || b === null || a === undefined || b === undefined) return false;
  if (a instanceof Typed || b instanceof Typed) {
    return a instanceof Typed && b instanceof Typed && JSON.stringify(a.type) === JSON.stringify(b.type) && valuesEqual(a.value, b.value);
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => valuesEqual(x, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && valuesEqual(a[k], b[k]));
  }
  return false;
}

/**
 * The planned state of a create or update: `proposed` (Terraform's merge of configuration and
 * prior state) with computed attributes that configuration leaves null made unknown, when the
 * resource changes at all.
 */
export function defaultPlan(block: BlockSchema, prior: CtyValue, proposed: Obj, config: CtyValue): Obj {
  const create = prior === null;
  if (!create && valuesEqual(prior, proposed)) return proposed;
  return planObject(block, proposed, config, create) as Obj;
}

function planObject(block: BlockSchema, planned: CtyValue, config: CtyValue, create: boolean): CtyValue {
  if (!isObject(planned)) return planned;
  const cfg = isObject(config) ? config : {};
  const out: Obj = { ...planned };
  for (const [name, a] of Object.entries(block.attributes ?? {})) {
    out[name] = planAttribute(a, planned[name] ?? null, cfg[name] ?? null, create);
  }
  for (const [name, b] of Object.entries(block.blocks ?? {})) {
    out[name] = mapElements(planned[name] ?? null, cfg[name] ?? null, (p, c) => planObject(b, p, c, create), b.nesting === 'single' || b.nesting === 'group');
  }
  return out;
}

function planAttribute(a: AttributeSchema, planned: CtyValue, config: CtyValue, create: boolean): CtyValue {
  if (a.computed && config === null) {
    if (a.useStateForUnknown && !create && planned !== null) return planned;
    return unknown;
  }
  if (a.nested && config !== null) {
    const nested = { attributes: a.nested.attributes };
    return mapElements(planned, config, (p, c) => planObject(nested, p, c, create), a.nested.nesting === 'single');
  }
  return planned;
}

/** Applies `f` to a single object, or to each element of a list/set (by index) or map (by key). */
function mapElements(planned: CtyValue, config: CtyValue, f: (p: CtyValue, c: CtyValue) => CtyValue, single: boolean): CtyValue {
  if (single || planned === null || isUnknown(planned)) return single ? f(planned, config) : planned;
  if (Array.isArray(planned)) return planned.map((p, i) => f(p, Array.isArray(config) ? (config[i] ?? null) : null));
  if (isObject(planned)) {
    const cfg = isObject(config) ? config : {};
    return Object.fromEntries(Object.entries(planned).map(([k, p]) => [k, f(p, cfg[k] ?? null)]));
  }
  return planned;
}

/**
 * The top-level attributes whose change replaces the resource: those marked `requiresReplace`,
 * or every configurable one when the resource cannot be updated in place.
 */
export function replacedAttributes(block: BlockSchema, prior: Obj, planned: Obj, updatable: boolean): string[] {
  const out: string[] = [];
  for (const [name, a] of Object.entries(block.attributes ?? {})) {
    const replaces = a.requiresReplace || (!updatable && (a.required || a.optional) && !a.writeOnly);
    if (replaces && !valuesEqual(prior[name] ?? null, planned[name] ?? null)) out.push(name);
  }
  if (!updatable) {
    for (const name of Object.keys(block.blocks ?? {})) {
      if (!valuesEqual(prior[name] ?? null, planned[name] ?? null)) out.push(name);
    }
  }
  return out;
}

/**
 * A value a hook returned as a complete object of its block: attributes it left out are taken
 * from `base` (the planned or prior state), else null; nested blocks left out are empty.
 */
export function completeObject(block: BlockSchema, value: object | null | undefined, base: CtyValue): Obj {
  const src = (value ?? {}) as Obj;
  const from = isObject(base) ? base : {};
  const out: Obj = {};
  for (const name of Object.keys(block.attributes ?? {})) {
    out[name] = src[name] !== undefined ? src[name] : (from[name] ?? null);
  }
  for (const [name, b] of Object.entries(block.blocks ?? {})) {
    const empty = b.nesting === 'list' || b.nesting === 'set' ? [] : b.nesting === 'map' ? {} : null;
    out[name] = src[name] !== undefined ? src[name] : (from[name] ?? empty);
  }
  return out;
}

/** The path of the first unknown value inside `value` ('' for `value` itself), or null when there is none. */
export function firstUnknown(value: CtyValue, path = ''): string | null {
  if (isUnknown(value)) return path;
  if (value instanceof Typed) return firstUnknown(value.value, path);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = firstUnknown(value[i]!, `${path}[${i}]`);
      if (p !== null) return p;
    }
  } else if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) {
      const p = firstUnknown(v, path ? `${path}.${k}` : k);
      if (p !== null) return p;
    }
  }
  return null;
}

/** The value with write-only attributes (top level) nulled: Terraform never stores them. */
export function withoutWriteOnly(block: BlockSchema, value: Obj): Obj {
  const out = { ...value };
  for (const [name, a] of Object.entries(block.attributes ?? {})) if (a.writeOnly) out[name] = null;
  return out;
}
