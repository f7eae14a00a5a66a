/**
 * Schemas as a provider writes them, and what they mean: the TypeScript type of a value of a
 * schema (so a resource's state type follows from its schema), the cty type Terraform encodes
 * that value with, and the tfplugin Schema message. Checking a definition is in schema-check.ts.
 */
import type { CtyType, CtyValue, Unknown } from './cty';

/** Nesting of a nested block: how many blocks of that name a configuration may have. */
export type BlockNesting = 'single' | 'group' | 'list' | 'set' | 'map';
/** Nesting of a nested attribute (protocol 6 only). */
export type ObjectNesting = 'single' | 'list' | 'set' | 'map';

/** What every attribute can say about itself. */
interface AttributeBase {
  /** Set in configuration, and never null there. */
  readonly required?: boolean;
  /** May be set in configuration. */
  readonly optional?: boolean;
  /** Set by the provider (when also optional: when the configuration leaves it null). */
  readonly computed?: boolean;
  /** Terraform hides the value in its output. */
  readonly sensitive?: boolean;
  /** Given in configuration but never stored in state (Terraform >= 1.11; optional or required). */
  readonly writeOnly?: boolean;
  /** Documentation of the attribute (Terraform's docs and language server show it). */
  readonly description?: string;
  /** The description is Markdown (default plain text). */
  readonly markdown?: boolean;
  /** Deprecated: `true`, or the message Terraform shows. */
  readonly deprecated?: boolean | string;
  /** Default planning: a change of this attribute replaces the resource (top-level attributes of resources). */
  readonly requiresReplace?: boolean;
  /**
   * Default planning: a computed value that does not change once set. On updates it is planned
   * as its prior value instead of unknown ("known after apply").
   */
  readonly useStateForUnknown?: boolean;
}

/** An attribute of a cty type: `{ type: 'string', required: true }`, `{ type: ['list', 'number'], optional: true }`. */
export interface TypedAttribute extends AttributeBase {
  /** The attribute's cty type: `'string'`, `['list', 'number']`, `['object', { a: 'bool' }]`, ... */
  readonly type: CtyType;
  /** Absent: an attribute has either `type` or `nested`. */
  readonly nested?: undefined;
}

/** A nested attribute (protocol 6 only): an object, or a list, set or map of objects, with attributes of its own. */
export interface NestedAttribute extends AttributeBase {
  /** The nested object's attributes, and how many objects the attribute holds. */
  readonly nested: {
    /** One object, or a list, set or map of them. */
    readonly nesting: ObjectNesting;
    /** The attributes of each object. */
    readonly attributes: Attributes;
  };
  /** Absent: an attribute has either `type` or `nested`. */
  readonly type?: undefined;
}

/** One attribute of a block. */
export type AttributeSchema = TypedAttribute | NestedAttribute;

/** Attributes by name (names: lower case letters, digits and underscores). */
export type Attributes = { readonly [name: string]: AttributeSchema };

/** A block: the configuration body of a provider, resource or data source, or of a nested block. */
export interface BlockSchema {
  /** The block's attributes, by name. */
  readonly attributes?: Attributes;
  /** The block's nested blocks, by name (`rule { ... }`). */
  readonly blocks?: { readonly [name: string]: NestedBlockSchema };
  /** Documentation of the block. */
  readonly description?: string;
  /** The description is Markdown (default plain text). */
  readonly markdown?: boolean;
  /** Deprecated: `true`, or the message Terraform shows. */
  readonly deprecated?: boolean | string;
}

/** A nested block (`rule { ... }` inside a resource). */
export interface NestedBlockSchema extends BlockSchema {
  /** How many blocks of this name a configuration may have, and as what value they arrive. */
  readonly nesting: BlockNesting;
  /** `list` and `set`: at least this many blocks. */
  readonly minItems?: number;
  /** `list` and `set`: at most this many blocks. */
  readonly maxItems?: number;
}

/** A resource's schema: a block with a version (raise it when the state's shape changes; see `upgradeState`). */
export interface ResourceSchema extends BlockSchema {
  /** The state's schema version (default 0): stored states of a lower one go through `upgradeState`. */
  readonly version?: number;
}

// ---- The TypeScript type of a value of a schema --------------------------------------------

/** The known (JavaScript) value of a cty type: strings, numbers, booleans, arrays, plain objects. */
export type KnownValue<T> = T extends 'string'
  ? string
  : T extends 'number'
    ? number
    : T extends 'bool'
      ? boolean
      : T extends readonly ['list' | 'set', infer E]
        ? KnownValue<E>[]
        : T extends readonly ['map', infer E]
          ? { [key: string]: KnownValue<E> }
          : T extends readonly ['object', infer O, ...unknown[]]
            ? { -readonly [K in keyof O]: KnownValue<O[K]> | null }
            : T extends readonly ['tuple', infer E]
              ? { -readonly [I in keyof E]: KnownValue<E[I]> | null }
              : CtyValue;

/** A value that may be unknown ("known after apply"), at any depth. */
export type MaybeUnknown<T> =
  | Unknown
  | (T extends (infer E)[] ? MaybeUnknown<E>[] : T extends { [k: string]: unknown } ? { [K in keyof T]: MaybeUnknown<T[K]> } : T);

type AttrsOf<S> = S extends { readonly attributes: infer A } ? A : Record<never, never>;
type BlocksOf<S> = S extends { readonly blocks: infer B } ? B : Record<never, never>;

/** The value of one attribute (null aside). */
export type AttributeValue<A> = A extends {
  /** A nested attribute's objects. */
  readonly nested: {
    /** How many. */
    readonly nesting: infer N;
    /** Their attributes. */
    readonly attributes: infer NA;
  };
}
  ? NestedValue<N, ObjectValue<NA>>
  : A extends {
        /** A typed attribute's cty type. */
        readonly type: infer T;
      }
    ? KnownValue<T>
    : CtyValue;

type NestedValue<N, O> = N extends 'single' ? O : N extends 'map' ? { [key: string]: O } : O[];
type ObjectValue<A> = { -readonly [K in keyof A]: A[K] extends { readonly required: true } ? AttributeValue<A[K]> : AttributeValue<A[K]> | null };
type BlockValue<B> = B extends { readonly nesting: infer N } ? (N extends 'single' | 'group' ? State<B> | null : NestedValue<N, State<B>>) : never;

/**
 * A known value of a block: a resource's state, a data source's result. Required attributes
 * are never null; others may be. Nested blocks: an object (or null) for `single`/`group`, an
 * array for `list`/`set`, a record for `map`.
 */
export type State<S> = Flat<ObjectValue<AttrsOf<S>> & { -readonly [K in keyof BlocksOf<S>]: BlockValue<BlocksOf<S>[K]> }>;

/** One object type instead of an intersection (what editors show). */
type Flat<T> = { [K in keyof T]: T[K] } & {};

/** A value of a block during planning and validation: any part may still be unknown. */
export type Planned<S> = { [K in keyof State<S>]: MaybeUnknown<State<S>[K]> };

type ComputedKeys<A> = { [K in keyof A]: A[K] extends { readonly computed: true } ? K : never }[keyof A];

/**
 * What create and update get: the planned state, where configured values are known (Terraform
 * applies only fully known configuration) and computed attributes are the planned value:
 * unknown unless planning set them.
 */
export type Applying<S> = Flat<
  Omit<State<S>, ComputedKeys<AttrsOf<S>>> & { -readonly [K in ComputedKeys<AttrsOf<S>> & keyof State<S>]: MaybeUnknown<State<S>[K]> }
>;

// ---- cty types and tfplugin messages -------------------------------------------------------

/** The cty object type of a block's values (Terraform's ImpliedType). */
export function impliedType(block: BlockSchema): CtyType {
  const attrs: Record<string, CtyType> = {};
  for (const [name, a] of Object.entries(block.attributes ?? {})) attrs[name] = attributeType(a);
  for (const [name, b] of Object.entries(block.blocks ?? {})) {
    const t = impliedType(b);
    attrs[name] = b.nesting === 'single' || b.nesting === 'group' ? t : [b.nesting, t];
  }
  return ['object', attrs];
}

/** The cty type of an attribute (a nested attribute's objects have no optional attributes in values). */
export function attributeType(a: AttributeSchema): CtyType {
  if (!a.nested) return a.type;
  const obj = impliedType({ attributes: a.nested.attributes });
  return a.nested.nesting === 'single' ? obj : [a.nested.nesting, obj];
}

/** Whether any attribute, at any depth, is a nested attribute (which protocol 5 cannot carry). */
export function usesNestedAttributes(block: BlockSchema): boolean {
  const attrs = Object.values(block.attributes ?? {});
  return attrs.some((a) => a.nested !== undefined) || Object.values(block.blocks ?? {}).some(usesNestedAttributes);
}

const BLOCK_NESTING: Record<BlockNesting, number> = { single: 1, list: 2, set: 3, map: 4, group: 5 };
const OBJECT_NESTING: Record<ObjectNesting, number> = { single: 1, list: 2, set: 3, map: 4 };
const MARKDOWN = 1;
const PLAIN = 0;

/**
 * The tfplugin Schema message of a block. `typeJson` is cty.ts's ctyTypeToJson (passed in so
 * this module needs only cty's types).
 */
export function schemaMessage(block: BlockSchema, version: number, typeJson: (t: CtyType) => Buffer): object {
  return { version, block: blockMessage(block, version, typeJson) };
}

function blockMessage(block: BlockSchema, version: number, typeJson: (t: CtyType) => Buffer): object {
  return {
    version,
    attributes: Object.entries(block.attributes ?? {}).map(([name, a]) => attributeMessage(name, a, typeJson)),
    block_types: Object.entries(block.blocks ?? {}).map(([name, b]) => ({
      type_name: name,
      block: blockMessage(b, 0, typeJson),
      nesting: BLOCK_NESTING[b.nesting],
      min_items: b.minItems ?? 0,
      max_items: b.maxItems ?? 0,
    })),
    ...describe(block),
  };
}

function attributeMessage(name: string, a: AttributeSchema, typeJson: (t: CtyType) => Buffer): object {
  const m: Record<string, unknown> = {
    name,
    required: a.required ?? false,
    optional: a.optional ?? false,
    computed: a.computed ?? false,
    sensitive: a.sensitive ?? false,
    write_only: a.writeOnly ?? false,
    ...describe(a),
  };
  if (a.nested) {
    m.nested_type = {
      attributes: Object.entries(a.nested.attributes).map(([n, na]) => attributeMessage(n, na, typeJson)),
      nesting: OBJECT_NESTING[a.nested.nesting],
    };
  } else {
    m.type = typeJson(a.type);
  }
  return m;
}

function describe(x: { description?: string; markdown?: boolean; deprecated?: boolean | string }): object {
  return {
    description: x.description ?? '',
    description_kind: x.markdown ? MARKDOWN : PLAIN,
    deprecated: Boolean(x.deprecated),
    deprecation_message: typeof x.deprecated === 'string' ? x.deprecated : '',
  };
}
