/**
 * A provider definition checked and prepared once, when the provider starts: every definition
 * and schema checked (ERR_INVALID_OPTION naming what is wrong), each block's cty type and
 * tfplugin Schema message made (which also checks every attribute type).
 */
import { ErrorCodes, TransportError } from '../errors';
import { checkOptionKeys, optionKeys } from '../options';
import { type CtyType, ctyTypeToJson } from './cty';
import type { DataSourceDefinition, ProviderDefinition, ResourceDefinition } from './definition';
import { type BlockSchema, type ResourceSchema, impliedType, schemaMessage, usesNestedAttributes } from './schema';
import { checkSchema } from './schema-check';

/** A block ready to serve: its schema, cty type, version and Schema message. */
export interface CompiledBlock {
  readonly schema: BlockSchema;
  readonly type: CtyType;
  readonly version: number;
  readonly message: object;
}

export interface CompiledResource extends CompiledBlock {
  readonly def: ResourceDefinition<any, any>;
}

export interface CompiledDataSource extends CompiledBlock {
  readonly def: DataSourceDefinition<any, any>;
}

export interface CompiledProvider extends CompiledBlock {
  readonly def: ProviderDefinition<any, any>;
  readonly resources: ReadonlyMap<string, CompiledResource>;
  readonly dataSources: ReadonlyMap<string, CompiledDataSource>;
  /** Some schema has nested attributes, which only protocol 6 can carry. */
  readonly needsProtocol6: boolean;
}

const PROVIDER_KEYS = optionKeys<ProviderDefinition>({ schema: true, validate: true, configure: true, resources: true, dataSources: true });
const RESOURCE_KEYS = optionKeys<ResourceDefinition>({
  schema: true,
  validate: true,
  plan: true,
  create: true,
  read: true,
  update: true,
  delete: true,
  importState: true,
  upgradeState: true,
});
const DATA_SOURCE_KEYS = optionKeys<DataSourceDefinition>({ schema: true, validate: true, read: true });
/** Resource and data source type names: Terraform identifiers, `<provider>_<name>` by convention. */
const TYPE_NAME = /^[a-z][a-z0-9_]*$/;

function invalid(message: string): never {
  throw new TransportError(ErrorCodes.INVALID_OPTION, message);
}

function checkHooks(def: object, where: string, required: readonly string[], optional: readonly string[]): void {
  const d = def as Record<string, unknown>;
  for (const name of required) if (typeof d[name] !== 'function') invalid(`${where}.${name} must be a function`);
  for (const name of optional) if (d[name] !== undefined && typeof d[name] !== 'function') invalid(`${where}.${name} must be a function when given`);
}

function compileBlock(schema: ResourceSchema, where: string, kind: 'provider' | 'resource' | 'data source'): CompiledBlock {
  checkSchema(schema, where, kind);
  const version = schema.version ?? 0;
  return { schema, type: impliedType(schema), version, message: schemaMessage(schema, version, ctyTypeToJson) };
}

/** Checks a provider definition and prepares it for serving. */
export function compileProvider(def: ProviderDefinition<any, any>): CompiledProvider {
  checkOptionKeys(def, PROVIDER_KEYS, 'provider');
  checkHooks(def, 'provider', [], ['validate', 'configure']);
  const block = compileBlock(def.schema ?? {}, 'provider.schema', 'provider');
  let nested = usesNestedAttributes(def.schema ?? {});
  const resources = new Map<string, CompiledResource>();
  for (const [name, r] of Object.entries(def.resources ?? {})) {
    const where = `provider.resources.${name}`;
    if (!TYPE_NAME.test(name)) invalid(`${where}: not a valid resource type name (lower case letters, digits and underscores)`);
    checkOptionKeys(r, RESOURCE_KEYS, where);
    checkHooks(r, where, ['create', 'read', 'delete'], ['validate', 'plan', 'update', 'importState', 'upgradeState']);
    resources.set(name, { ...compileBlock(r.schema, `${where}.schema`, 'resource'), def: r });
    nested ||= usesNestedAttributes(r.schema);
  }
  const dataSources = new Map<string, CompiledDataSource>();
  for (const [name, d] of Object.entries(def.dataSources ?? {})) {
    const where = `provider.dataSources.${name}`;
    if (!TYPE_NAME.test(name)) invalid(`${where}: not a valid data source type name (lower case letters, digits and underscores)`);
    checkOptionKeys(d, DATA_SOURCE_KEYS, where);
    checkHooks(d, where, ['read'], ['validate']);
    dataSources.set(name, { ...compileBlock(d.schema, `${where}.schema`, 'data source'), def: d });
    nested ||= usesNestedAttributes(d.schema);
  }
  return { ...block, def, resources, dataSources, needsProtocol6: nested };
}
