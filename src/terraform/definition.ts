/**
 * What a provider is made of, as its author writes it: a provider (its configuration schema and
 * `configure`), managed resources (schema and create/read/update/delete, optional planning,
 * import and state upgrade hooks) and data sources (schema and read). The value types of every
 * hook follow from the schema: `defineResource({ schema: { attributes: { path: { type: 'string',
 * required: true } } }, ... })` makes `state.path` a string.
 */
import type { PluginLogger } from '../goplugin/log';
import type { AttributePath, DiagnosticOptions } from './diagnostics';
import type { Applying, BlockSchema, Planned, ResourceSchema, State } from './schema';

/** What every hook gets. */
export interface Context {
  /**
   * Aborted when Terraform asks the provider to stop (StopProvider: the user pressed Ctrl-C).
   * Long operations should watch it and give up (throwing), so Terraform can exit.
   */
  readonly signal: AbortSignal;
  /**
   * The provider's log: hclog JSON lines on stderr, which Terraform shows with
   * `TF_LOG_PROVIDER=DEBUG` (or TRACE, INFO...). Not stdout: Terraform does not show that.
   */
  readonly log: PluginLogger;
  /** Adds a WARNING diagnostic (Terraform shows it; the operation goes on). */
  warn(summary: string, options?: DiagnosticOptions): void;
  /**
   * Adds an ERROR diagnostic without stopping the hook (to report several problems at once);
   * the operation fails when the hook returns. Throwing reports one error and stops at once.
   */
  error(summary: string, options?: DiagnosticOptions): void;
}

/** What configure gets. */
export interface ConfigureContext extends Context {
  /** The version of the Terraform CLI that runs the provider, e.g. '1.11.4'. */
  readonly terraformVersion: string;
}

/** What the hooks of a resource or data source get. */
export interface ResourceContext<P = unknown> extends Context {
  /** What the provider's `configure` returned (undefined when the provider has no `configure`). */
  readonly provider: P;
  /** The resource or data source type, e.g. 'localfile_file'. */
  readonly typeName: string;
}

/** What a resource's `plan` hook gets beside its context. */
export interface PlanContext<P = unknown> extends ResourceContext<P> {
  /** Makes a change of this attribute replace the resource (destroy, then create). */
  requiresReplace(attribute: AttributePath): void;
}

/** A planned create or update, as the `plan` hook sees it. */
export interface PlanChange<S> {
  /** The current state; null when the resource is to be created. */
  readonly prior: State<S> | null;
  /** The configuration (parts may be unknown until other resources are applied). */
  readonly config: Planned<S>;
  /** The default plan (see `ResourceDefinition.plan`); return a changed copy to change it. */
  readonly planned: Planned<S>;
}

/** A value a hook returns as an object of its block: attributes left out keep their value. */
export type Returned<S> = Partial<State<S>>;

type Awaitable<T> = T | Promise<T>;
/**
 * What a hook may return instead of a value: nothing (`void` too, so that a hook without a
 * `return` type-checks; biome's noConfusingVoidType is about exactly this use, on purpose here).
 */
// biome-ignore lint/suspicious/noConfusingVoidType: a hook may end without `return`
type Nothing = undefined | void;

/**
 * A managed resource. Values in, values out: plain objects, strings, numbers, booleans, arrays
 * (`State<S>` spells out the type); `unknown` (see `isUnknown`) where Terraform does not know a
 * value yet. Any hook may throw: the error becomes an ERROR diagnostic (see `ProviderError`).
 */
export interface ResourceDefinition<S extends ResourceSchema = ResourceSchema, P = unknown> {
  /** The resource block's schema: every hook's value types follow from it. */
  readonly schema: S;
  /** Checks a configuration beyond its schema (values may be unknown; runs on an unconfigured provider). */
  validate?(config: Planned<S>, ctx: Context): Awaitable<void>;
  /**
   * Adjusts the plan of a create or update. The default plan, made before this runs: computed
   * attributes that the configuration leaves null are unknown whenever the resource changes
   * (`useStateForUnknown` ones keep their prior value on updates); a changed `requiresReplace`
   * attribute (any configurable one when there is no `update`) replaces the resource.
   */
  plan?(change: PlanChange<S>, ctx: PlanContext<P>): Awaitable<Planned<S> | Nothing>;
  /**
   * Creates the resource. `planned` is the plan: configured values are known, computed ones
   * unknown unless planning set them. Returns the values it learnt (at least every computed
   * attribute that is still unknown); the rest are the planned values.
   */
  create(planned: Applying<S>, ctx: ResourceContext<P>): Awaitable<Returned<S> | Nothing>;
  /**
   * Reads the resource as it is now (refresh): returns the attributes that differ from `state`
   * (or a whole new state), or null when the resource no longer exists (Terraform then plans to
   * create it).
   */
  read(state: State<S>, ctx: ResourceContext<P>): Awaitable<Returned<S> | null>;
  /**
   * Updates the resource in place; returns what it learnt, as `create`. Without `update`, every
   * change of a configurable attribute replaces the resource.
   */
  update?(planned: Applying<S>, prior: State<S>, ctx: ResourceContext<P>): Awaitable<Returned<S> | Nothing>;
  /** Deletes the resource. */
  delete(state: State<S>, ctx: ResourceContext<P>): Awaitable<void>;
  /**
   * `terraform import` (and `import` blocks): the state of the resource that `id` names (the
   * attributes it can tell; the rest are null), which Terraform then refreshes with `read`.
   * Without it, import is refused with an error diagnostic.
   */
  importState?(id: string, ctx: ResourceContext<P>): Awaitable<Returned<S>>;
  /**
   * Converts a state stored under an older `schema.version` (the parsed JSON of the state file,
   * and its version) into the current schema. Without it, an old state is read as if written
   * under the current schema (attributes that no longer exist dropped, new ones null).
   */
  upgradeState?(raw: { readonly [attr: string]: unknown }, version: number, ctx: Context): Awaitable<Returned<S>>;
}

/** A data source: read-only, computed from its configuration on every plan. */
export interface DataSourceDefinition<S extends BlockSchema = BlockSchema, P = unknown> {
  /** The data source block's schema: its configured and computed attributes. */
  readonly schema: S;
  /** Checks a configuration beyond its schema (values may be unknown). */
  validate?(config: Planned<S>, ctx: Context): Awaitable<void>;
  /** Reads the data: returns the computed attributes (configured ones keep their value). */
  read(config: State<S>, ctx: ResourceContext<P>): Awaitable<Returned<S>>;
}

/**
 * A provider: its configuration (`provider "name" { ... }`), and its resources and data
 * sources by type name (which starts with the provider's name and an underscore).
 */
export interface ProviderDefinition<S extends BlockSchema = BlockSchema, P = unknown> {
  /** The provider block's schema (default: no attributes). */
  readonly schema?: S;
  /** Checks the provider's configuration beyond its schema. */
  validate?(config: Planned<S>, ctx: Context): Awaitable<void>;
  /**
   * Configures the provider before Terraform reads, plans or applies anything; what it returns
   * is `ctx.provider` in every resource and data source hook. Values may be unknown when the
   * configuration refers to resources not created yet.
   */
  configure?(config: Planned<S>, ctx: ConfigureContext): Awaitable<P>;
  // `any` schema: each resource has its own; each was checked against its schema where defined.
  /** The managed resources, by type name (`<provider>_<name>`). */
  readonly resources?: { readonly [typeName: string]: ResourceDefinition<any, P> };
  /** The data sources, by type name (`<provider>_<name>`). */
  readonly dataSources?: { readonly [typeName: string]: DataSourceDefinition<any, P> };
}

/** Types a provider definition (infers the configuration's type from `schema`, and `P` from `configure`). */
export function defineProvider<const S extends BlockSchema, P = undefined>(definition: ProviderDefinition<S, P>): ProviderDefinition<S, P> {
  return definition;
}

/** Types a resource definition: the values its hooks get follow from `schema`. */
export function defineResource<const S extends ResourceSchema, P = unknown>(definition: ResourceDefinition<S, P>): ResourceDefinition<S, P> {
  return definition;
}

/** Types a data source definition: the values its hooks get follow from `schema`. */
export function defineDataSource<const S extends BlockSchema, P = unknown>(definition: DataSourceDefinition<S, P>): DataSourceDefinition<S, P> {
  return definition;
}

/**
 * `defineResource` and `defineDataSource` with `ctx.provider` typed as `P` (TypeScript cannot
 * infer one type argument and take another): `const { resource } = forProvider<Settings>()`.
 */
export function forProvider<P>(): {
  /** `defineResource`, with `ctx.provider` typed as `P`. */
  resource<const S extends ResourceSchema>(definition: ResourceDefinition<S, P>): ResourceDefinition<S, P>;
  /** `defineDataSource`, with `ctx.provider` typed as `P`. */
  dataSource<const S extends BlockSchema>(definition: DataSourceDefinition<S, P>): DataSourceDefinition<S, P>;
} {
  return { resource: (d) => d, dataSource: (d) => d };
}
