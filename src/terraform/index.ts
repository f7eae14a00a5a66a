/**
 * Terraform providers in TypeScript (`plugsock/terraform`): define a provider's schema and its
 * resources' create/read/update/delete, and `serveProvider` speaks Terraform's plugin protocol
 * (tfplugin 6 and 5, negotiated) over plugsock's go-plugin server. See docs/terraform.md.
 *
 * @module plugsock/terraform
 */
export { serveProvider, SERVE_PROVIDER_OPTION_KEYS } from './provider';
export type { ServeProviderOptions } from './provider';
export { defineProvider, defineResource, defineDataSource, forProvider } from './definition';
export type {
  Context,
  ConfigureContext,
  ResourceContext,
  PlanContext,
  PlanChange,
  Returned,
  ResourceDefinition,
  DataSourceDefinition,
  ProviderDefinition,
} from './definition';
export { ProviderError } from './diagnostics';
export type { AttributePath, DiagnosticOptions } from './diagnostics';
export { impliedType } from './schema';
export type {
  AttributeSchema,
  TypedAttribute,
  NestedAttribute,
  Attributes,
  BlockSchema,
  NestedBlockSchema,
  ResourceSchema,
  BlockNesting,
  ObjectNesting,
  State,
  Planned,
  Applying,
  KnownValue,
  MaybeUnknown,
  AttributeValue,
} from './schema';
// Values: what the hooks receive and return, and the encodings of tfplugin's DynamicValue.
export {
  Typed,
  Unknown,
  unknown,
  isUnknown,
  ctyTypeFromJson,
  ctyTypeToJson,
  encodeMsgpack,
  decodeMsgpack,
  decodeJsonValue,
  decodeDynamicValue,
  toDynamicValue,
} from './cty';
export type { CtyType, CtyValue, UnknownRefinements, DynamicValue } from './cty';
// The wire: for hosts that drive providers (startPlugin + these) and for tests.
export { terraformProtocol, TERRAFORM_MAGIC_COOKIE_KEY, TERRAFORM_MAGIC_COOKIE_VALUE } from './protocol';
export type { ProtocolVersion, TerraformProtocol } from './protocol';
export { TerraformErrorCodes } from './errors';
export type { TerraformErrorCode } from './errors';
