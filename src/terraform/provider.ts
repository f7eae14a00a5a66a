/**
 * Serving a Terraform provider written in TypeScript: `serveProvider(definition)` is the
 * provider's main. It is servePlugin (go-plugin) with Terraform's magic cookie, offering
 * protocols 6 and 5 (Terraform picks the highest both speak), serving the `Provider` service
 * built from the definition (definition.ts says how to write one). It answers on plugsock's own
 * gRPC server on node:http2 (goplugin/http2-server.ts), not grpc-js's: grpc-js is never loaded,
 * which is ~10 ms of each of the 3-5 starts per Terraform command.
 */
import { ErrorCodes, TransportError } from '../errors';
import type { Http2GrpcServer, Http2GrpcServerOptions } from '../goplugin/http2-server';
import { type ServePluginOptions, type ServedPlugin, SERVE_PLUGIN_OPTION_KEYS, http2Server, serveOn } from '../goplugin/serve';
import type { RegisterServices } from '../goplugin/serve-setup';
import { reattachEnv } from '../goplugin/reattach';
import { checkOptionKeys } from '../options';
import { compileProvider } from './compile';
import type { ProviderDefinition } from './definition';
import { type ProtocolVersion, TERRAFORM_MAGIC_COOKIE_KEY, TERRAFORM_MAGIC_COOKIE_VALUE, terraformProtocol } from './protocol';
import { addProviderService } from './rpc';
import { ProviderRuntime } from './runtime';

/** The servePlugin options a provider may set (the cookie and the versions are Terraform's). */
type PassedThrough = Omit<ServePluginOptions, 'magicCookieKey' | 'magicCookieValue' | 'versions' | 'protocolVersion' | 'register' | 'serverOptions'>;

/** Options of `serveProvider`: servePlugin's (see there), less what Terraform fixes, plus the protocols. */
export interface ServeProviderOptions extends PassedThrough {
  /**
   * The protocol versions to offer (default `[6, 5]`: Terraform >= 1.0 picks 6, older ones 5;
   * only `[6]` when a schema has nested attributes, which protocol 5 cannot describe). In debug
   * mode, the highest of them.
   */
  protocolVersions?: readonly ProtocolVersion[];
  /**
   * The provider's source address, e.g. 'registry.terraform.io/example/localfile'. In debug mode
   * (`debug: true`: the provider started by hand, e.g. under a debugger) serveProvider prints
   * the TF_REATTACH_PROVIDERS line for it on stdout, as terraform-plugin-go does; run Terraform
   * with that variable set and it uses this process instead of starting the provider.
   */
  address?: string;
  /**
   * The largest message received and sent, in bytes (default 256 MiB each way, as Terraform):
   * `{ 'grpc.max_receive_message_length': n, 'grpc.max_send_message_length': n }` (-1: no
   * limit). The provider's server is plugsock's, not grpc-js's: other keys are ERR_INVALID_OPTION.
   */
  serverOptions?: Http2GrpcServerOptions;
}

const RESERVED = new Set(['magicCookieKey', 'magicCookieValue', 'versions', 'protocolVersion', 'register']);
/** Every key of ServeProviderOptions (servePlugin's less the reserved ones, plus protocolVersions). */
export const SERVE_PROVIDER_OPTION_KEYS: readonly string[] = Object.freeze([
  ...SERVE_PLUGIN_OPTION_KEYS.filter((k) => !RESERVED.has(k)),
  'protocolVersions',
  'address',
]);

/**
 * Serves `provider` to Terraform: checks the definition (ERR_INVALID_OPTION naming what is
 * wrong), then servePlugin with Terraform's magic cookie and the protocol versions. Resolves
 * once the handshake line is printed. Run it as the main of an executable named
 * `terraform-provider-<name>`; see examples/terraform-provider.
 */
export async function serveProvider(provider: ProviderDefinition<any, any>, options: ServeProviderOptions = {}): Promise<ServedPlugin<Http2GrpcServer>> {
  checkOptionKeys(options, SERVE_PROVIDER_OPTION_KEYS, '');
  const { protocolVersions, address, serverOptions, ...rest } = options;
  if (address !== undefined && (typeof address !== 'string' || address.trim() === '')) {
    throw new TransportError(
      ErrorCodes.INVALID_OPTION,
      `address must be a provider source address like registry.terraform.io/example/name, got ${JSON.stringify(address)}.`,
    );
  }
  const compiled = compileProvider(provider);
  const offered = protocolVersions ?? (compiled.needsProtocol6 ? [6] : [6, 5]);
  if (!Array.isArray(offered) || offered.length === 0 || offered.some((v) => v !== 5 && v !== 6)) {
    throw new TransportError(ErrorCodes.INVALID_OPTION, `protocolVersions must list 5 and/or 6, got ${JSON.stringify(protocolVersions)}.`);
  }
  if (compiled.needsProtocol6 && offered.includes(5)) {
    throw new TransportError(ErrorCodes.INVALID_OPTION, 'protocolVersions: a schema has nested attributes, which protocol 5 cannot carry; offer only 6.');
  }
  // Debug mode has no host to negotiate with (go-plugin would take the lowest): serve the highest.
  const servedVersions = rest.debug ? [Math.max(...offered) as ProtocolVersion] : offered;
  const runtime = new ProviderRuntime(compiled);
  const versions: Record<number, RegisterServices<Http2GrpcServer>> = {};
  // The negotiated version's descriptor is the only one loaded.
  for (const v of servedVersions) versions[v] = (server) => addProviderService(server, terraformProtocol(v), runtime);
  const server = http2Server(serverOptions);
  const served = await serveOn({ ...rest, magicCookieKey: TERRAFORM_MAGIC_COOKIE_KEY, magicCookieValue: TERRAFORM_MAGIC_COOKIE_VALUE, versions }, server);
  runtime.log.debug('serving the provider', { protocol: served.appVersion, address: served.address });
  if (rest.debug) {
    const env = reattachEnv({ [address ?? 'registry.terraform.io/<namespace>/<name>']: served.reattachConfig });
    process.stdout.write(
      'Provider started. To attach Terraform CLI, set the TF_REATTACH_PROVIDERS environment variable with the following:\n\n' +
        `\tTF_REATTACH_PROVIDERS='${env}'\n\n`,
    );
  }
  return served;
}
