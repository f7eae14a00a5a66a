/**
 * @grpc/grpc-js, loaded on first use. A provider served by serveProvider answers on plugsock's
 * own server (http2-server.ts) and never needs grpc-js; loading it anyway cost ~10 ms of every
 * start (Terraform starts a provider 3-5 times per command). Modules on the plugin side import
 * its types only and call this where they really use it (servePlugin's server, broker dials).
 */
import type * as Grpc from '@grpc/grpc-js';

let loaded: typeof Grpc | undefined;

/** The grpc-js module. */
export function grpcJs(): typeof Grpc {
  return (loaded ??= require('@grpc/grpc-js') as typeof Grpc);
}
