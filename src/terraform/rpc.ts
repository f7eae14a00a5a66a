/**
 * The `Provider` gRPC service of either protocol: one set of handlers, named as protocol 6 names
 * its RPCs, registered under each protocol's own names (5 differs only in names: GetSchema,
 * PrepareProviderConfig, ValidateResourceTypeConfig, ValidateDataSourceConfig, Configure, Stop;
 * and 6 alone has nested attributes and state stores). Every RPC of the service gets a handler:
 * what a provider written with this module cannot do is answered as terraform-plugin-go
 * answers it, with an ERROR diagnostic (unary) or UNIMPLEMENTED (streams).
 */
import type * as grpc from '@grpc/grpc-js';
import { GrpcStatus } from '../goplugin/grpc-status';
import type { GrpcServiceHost } from '../goplugin/http2-server';
import type { ProtocolVersion, TerraformProtocol } from './protocol';
import { toDynamicValue } from './cty';
import { completeObject, firstUnknown } from './planning';
import { Diagnostics, ProviderError } from './diagnostics';
import { resourceHandlers } from './rpc-resource';
import { type Handler, type Message, type ProviderRuntime, blockValue, lookup, notImplemented } from './runtime';

/** Protocol 5's names of the RPCs protocol 6 renamed. */
const V5_NAMES: Record<string, string> = {
  GetSchema: 'GetProviderSchema',
  PrepareProviderConfig: 'ValidateProviderConfig',
  ValidateResourceTypeConfig: 'ValidateResourceConfig',
  ValidateDataSourceConfig: 'ValidateDataResourceConfig',
  Configure: 'ConfigureProvider',
  Stop: 'StopProvider',
};

/** Unary RPCs a provider written with this module does not implement (all answer with diagnostics). */
const UNSUPPORTED = [
  'UpgradeResourceIdentity',
  'MoveResourceState',
  'GenerateResourceConfig',
  'ValidateEphemeralResourceConfig',
  'OpenEphemeralResource',
  'RenewEphemeralResource',
  'CloseEphemeralResource',
  'ValidateListResourceConfig',
  'ValidateActionConfig',
  'PlanAction',
  'ValidateStateStoreConfig',
  'ConfigureStateStore',
  'LockState',
  'UnlockState',
  'GetStates',
  'DeleteState',
];

/** What the provider tells Terraform it supports beyond the basics: nothing optional. */
const SERVER_CAPABILITIES = { plan_destroy: false, get_provider_schema_optional: false, move_resource_state: false, generate_resource_config: false };

/** Adds the Provider service of `protocol`, served by `rt`, to `server`. */
export function addProviderService(server: GrpcServiceHost, protocol: TerraformProtocol, rt: ProviderRuntime): void {
  const handlers: Record<string, Handler | undefined> = { ...providerHandlers(rt, protocol.version), ...resourceHandlers(rt) };
  const impl: grpc.UntypedServiceImplementation = {};
  for (const [name, method] of Object.entries(protocol.provider)) {
    const logical = protocol.version === 5 ? (V5_NAMES[name] ?? name) : name;
    const handler = handlers[logical] ?? (UNSUPPORTED.includes(logical) ? async () => ({ diagnostics: notImplemented(logical) }) : undefined);
    impl[name] = handler && !method.requestStream && !method.responseStream ? unary(name, handler, rt) : unimplemented(name, method);
  }
  server.addService(protocol.provider, impl);
}

function unary(name: string, handler: Handler, rt: ProviderRuntime): grpc.handleUnaryCall<Message, Message> {
  return (call, callback) => {
    handler(call.request).then(
      (response) => callback(null, response),
      (err: unknown) => {
        // The handlers turn a provider's errors into diagnostics; this is a fault of our own.
        rt.log.error(`${name} failed`, { error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
        callback({ code: GrpcStatus.INTERNAL, details: `${name}: ${err instanceof Error ? err.message : String(err)}` });
      },
    );
  };
}

function unimplemented(name: string, method: grpc.MethodDefinition<any, any>): grpc.UntypedHandleCall {
  const error = { code: GrpcStatus.UNIMPLEMENTED, details: `ProviderServer does not implement ${name}` };
  if (method.responseStream) return (call: grpc.ServerWritableStream<any, any>) => call.emit('error', error);
  return (_call: unknown, callback: grpc.sendUnaryData<any>) => callback(error);
}

/** The provider-level handlers (schema, configuration, data sources, stop, functions), by their protocol 6 names. */
function providerHandlers(rt: ProviderRuntime, version: ProtocolVersion): Record<string, Handler> {
  const c = rt.compiled;
  const schemas = (m: ReadonlyMap<string, { message: object }>) => Object.fromEntries([...m].map(([name, x]) => [name, x.message]));
  const typeNames = (m: ReadonlyMap<string, unknown>) => [...m.keys()].map((type_name) => ({ type_name }));
  const validate = async (rpc: string, hook: ((config: any, ctx: any) => unknown) | undefined, config: () => unknown, diags: Diagnostics) => {
    if (hook) await rt.run(rpc, diags, () => hook(config(), rt.context(diags)));
  };

  return {
    async GetMetadata() {
      return { server_capabilities: SERVER_CAPABILITIES, diagnostics: [], resources: typeNames(c.resources), data_sources: typeNames(c.dataSources) };
    },

    async GetProviderSchema() {
      return {
        provider: c.message,
        resource_schemas: schemas(c.resources),
        data_source_schemas: schemas(c.dataSources),
        server_capabilities: SERVER_CAPABILITIES,
        diagnostics: [],
      };
    },

    async ValidateProviderConfig(req: Message) {
      const diags = new Diagnostics();
      await validate('ValidateProviderConfig', c.def.validate, () => blockValue(req.config, c.type), diags);
      // Protocol 5 (PrepareProviderConfig) returns the configuration too: unchanged.
      return version === 5 ? { prepared_config: req.config, diagnostics: diags.list } : { diagnostics: diags.list };
    },

    async ConfigureProvider(req: Message) {
      const diags = new Diagnostics();
      const configure = c.def.configure;
      if (configure) {
        const ctx = { ...rt.context(diags), terraformVersion: String(req.terraform_version ?? '') };
        const data = await rt.run('ConfigureProvider', diags, () => configure(blockValue(req.config, c.type), ctx));
        if (!diags.hasErrors) rt.providerData = data;
      }
      return { diagnostics: diags.list };
    },

    async ValidateDataResourceConfig(req: Message) {
      const diags = new Diagnostics();
      const d = lookup(c.dataSources, req.type_name, 'data source', diags);
      if (d) await validate('ValidateDataResourceConfig', d.def.validate, () => blockValue(req.config, d.type), diags);
      return { diagnostics: diags.list };
    },

    async ReadDataSource(req: Message) {
      const diags = new Diagnostics();
      const d = lookup(c.dataSources, req.type_name, 'data source', diags);
      if (!d) return { diagnostics: diags.list };
      const config = blockValue(req.config, d.type);
      const got = await rt.run('ReadDataSource', diags, () => d.def.read(config, rt.resourceContext(diags, req.type_name)));
      if (diags.hasErrors) return { diagnostics: diags.list };
      // Nothing returned (and no error): the configuration, computed attributes null, as create does.
      const state = completeObject(d.schema, got ?? {}, config);
      const left = firstUnknown(state);
      if (left !== null) {
        diags.thrown(new ProviderError('Data source returned an unknown value', { detail: `${req.type_name}: ${left || 'the result'} is unknown.` }));
        return { diagnostics: diags.list };
      }
      return { state: toDynamicValue(state, d.type), diagnostics: diags.list };
    },

    async StopProvider() {
      rt.stop();
      return { Error: '' };
    },

    async GetFunctions() {
      return { functions: {}, diagnostics: [] };
    },

    async CallFunction(req: Message) {
      return { error: { text: `This provider has no function ${JSON.stringify(req.name)}.` } };
    },

    async GetResourceIdentitySchemas() {
      return { identity_schemas: {}, diagnostics: [] };
    },
  };
}
