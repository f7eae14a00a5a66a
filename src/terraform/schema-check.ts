/**
 * Checks a schema when the provider starts, so a mistake is an error the provider's author sees
 * at once (ERR_INVALID_OPTION naming the attribute), not a Terraform failure on some later
 * command. Unknown keys are errors too: a misspelt `requiresReplce` would silently not replace.
 */
import { ErrorCodes, TransportError } from '../errors';
import { checkOptionKeys, optionKeys } from '../options';
import { ctyTypeToJson } from './cty';
import type { AttributeSchema, BlockSchema, NestedBlockSchema, ResourceSchema } from './schema';

/** Terraform's identifiers as attribute and block names (lower case by convention and by us). */
const NAME = /^[a-z_][a-z0-9_]*$/;
/** Bounds that keep a schema (and the values it describes) reasonable. */
const MAX_DEPTH = 32;

const ATTRIBUTE_KEYS = optionKeys<AttributeSchema>({
  type: true,
  nested: true,
  required: true,
  optional: true,
  computed: true,
  sensitive: true,
  writeOnly: true,
  description: true,
  markdown: true,
  deprecated: true,
  requiresReplace: true,
  useStateForUnknown: true,
});
const BLOCK_KEYS = optionKeys<BlockSchema>({ attributes: true, blocks: true, description: true, markdown: true, deprecated: true });
const RESOURCE_SCHEMA_KEYS = optionKeys<ResourceSchema>({ attributes: true, blocks: true, description: true, markdown: true, deprecated: true, version: true });
const NESTED_BLOCK_KEYS = optionKeys<NestedBlockSchema>({
  attributes: true,
  blocks: true,
  description: true,
  markdown: true,
  deprecated: true,
  nesting: true,
  minItems: true,
  maxItems: true,
});
const NESTINGS = ['single', 'group', 'list', 'set', 'map'];

function invalid(where: string, what: string): never {
  throw new TransportError(ErrorCodes.INVALID_OPTION, `${where}: ${what}`);
}

/** Checks a provider's, resource's or data source's schema; `where` names it in errors. */
export function checkSchema(schema: ResourceSchema, where: string, kind: 'provider' | 'resource' | 'data source'): void {
  checkOptionKeys(schema, kind === 'resource' ? RESOURCE_SCHEMA_KEYS : BLOCK_KEYS, where);
  if (schema.version !== undefined && !(Number.isSafeInteger(schema.version) && schema.version >= 0)) {
    invalid(where, `version must be a non-negative integer, got ${String(schema.version)}`);
  }
  checkBlock(schema, where, 0, kind === 'resource');
}

function checkBlock(block: BlockSchema, where: string, depth: number, resource: boolean): void {
  if (depth > MAX_DEPTH) invalid(where, `nested more than ${MAX_DEPTH} levels deep`);
  const names = new Set<string>();
  for (const [name, a] of Object.entries(block.attributes ?? {})) {
    checkName(name, where, names);
    checkAttribute(a, `${where}.${name}`, depth, resource);
  }
  for (const [name, b] of Object.entries(block.blocks ?? {})) {
    checkName(name, where, names);
    const at = `${where}.${name}`;
    checkOptionKeys(b, NESTED_BLOCK_KEYS, at);
    if (!NESTINGS.includes(b.nesting)) invalid(at, `nesting must be one of ${NESTINGS.join(', ')}, got ${String(b.nesting)}`);
    for (const k of ['minItems', 'maxItems'] as const) {
      const n = b[k];
      if (n !== undefined && !(Number.isSafeInteger(n) && n >= 0)) invalid(at, `${k} must be a non-negative integer, got ${String(n)}`);
    }
    checkBlock(b, at, depth + 1, resource);
  }
}

function checkName(name: string, where: string, seen: Set<string>): void {
  if (!NAME.test(name)) invalid(where, `${JSON.stringify(name)} is not a valid name (lower case letters, digits and underscores, not starting with a digit)`);
  if (seen.has(name)) invalid(where, `${name} is both an attribute and a block`);
  seen.add(name);
}

function checkAttribute(a: AttributeSchema, at: string, depth: number, resource: boolean): void {
  checkOptionKeys(a, ATTRIBUTE_KEYS, at);
  if (!a.required && !a.optional && !a.computed) invalid(at, 'an attribute must be required, optional or computed');
  if (a.required && (a.optional || a.computed)) invalid(at, 'required excludes optional and computed');
  if (a.writeOnly && (a.computed || !resource)) invalid(at, 'writeOnly is for configured (required or optional) attributes of resources');
  if (a.useStateForUnknown && !a.computed) invalid(at, 'useStateForUnknown is for computed attributes');
  if ((a.type === undefined) === (a.nested === undefined)) invalid(at, 'give either `type` or `nested`');
  if (a.type !== undefined) {
    try {
      ctyTypeToJson(a.type);
    } catch (err) {
      invalid(at, `type ${JSON.stringify(a.type)} is not a cty type: ${(err as Error).message}`);
    }
  }
  if (a.nested) {
    checkOptionKeys(a.nested, ['nesting', 'attributes'], at + '.nested');
    if (!['single', 'list', 'set', 'map'].includes(a.nested.nesting))
      invalid(at, `nested.nesting must be single, list, set or map, got ${String(a.nested.nesting)}`);
    checkBlock({ attributes: a.nested.attributes }, at, depth + 1, resource);
  }
}
