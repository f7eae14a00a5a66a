/**
 * gRPC service definitions go-plugin uses, as protobufjs JSON descriptors (so nothing has to be
 * found on disk at run time). Service and method names are what goes on the wire
 * (`/plugin.GRPCController/Shutdown`); they match go-plugin's internal/plugin/*.proto and
 * grpc's health/v1/health.proto.
 */
import * as grpc from '@grpc/grpc-js';
import { fromJSON, type Options } from '@grpc/proto-loader';

const LOADER_OPTIONS: Options = { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true };

const DESCRIPTOR = {
  nested: {
    plugin: {
      nested: {
        Empty: { fields: {} },
        GRPCController: {
          methods: { Shutdown: { requestType: 'Empty', responseType: 'Empty' } },
        },
        StdioData: {
          fields: {
            channel: { type: 'Channel', id: 1 },
            data: { type: 'bytes', id: 2 },
          },
          nested: { Channel: { values: { INVALID: 0, STDOUT: 1, STDERR: 2 } } },
        },
        GRPCStdio: {
          methods: {
            // go-plugin's request type is google.protobuf.Empty: same (empty) wire bytes.
            StreamStdio: { requestType: 'Empty', responseType: 'StdioData', responseStream: true },
          },
        },
        ConnInfo: {
          fields: {
            serviceId: { type: 'uint32', id: 1 },
            network: { type: 'string', id: 2 },
            address: { type: 'string', id: 3 },
            knock: { type: 'Knock', id: 4 },
          },
          nested: {
            Knock: {
              fields: {
                knock: { type: 'bool', id: 1 },
                ack: { type: 'bool', id: 2 },
                error: { type: 'string', id: 3 },
              },
            },
          },
        },
        GRPCBroker: {
          methods: {
            StartStream: { requestType: 'ConnInfo', responseType: 'ConnInfo', requestStream: true, responseStream: true },
          },
        },
      },
    },
    grpc: {
      nested: {
        health: {
          nested: {
            v1: {
              nested: {
                HealthCheckRequest: { fields: { service: { type: 'string', id: 1 } } },
                HealthCheckResponse: {
                  fields: { status: { type: 'ServingStatus', id: 1 } },
                  nested: {
                    ServingStatus: { values: { UNKNOWN: 0, SERVING: 1, NOT_SERVING: 2, SERVICE_UNKNOWN: 3 } },
                  },
                },
                Health: {
                  methods: {
                    Check: { requestType: 'HealthCheckRequest', responseType: 'HealthCheckResponse' },
                    Watch: { requestType: 'HealthCheckRequest', responseType: 'HealthCheckResponse', responseStream: true },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};

let cached: ReturnType<typeof load> | undefined;

function load() {
  const pkg = fromJSON(DESCRIPTOR as Parameters<typeof fromJSON>[0], LOADER_OPTIONS);
  const loaded = grpc.loadPackageDefinition(pkg) as any;
  return {
    controller: loaded.plugin.GRPCController as grpc.ServiceClientConstructor,
    stdio: loaded.plugin.GRPCStdio as grpc.ServiceClientConstructor,
    broker: loaded.plugin.GRPCBroker as grpc.ServiceClientConstructor,
    health: loaded.grpc.health.v1.Health as grpc.ServiceClientConstructor,
  };
}

/** Client constructors (their `.service` is the server-side definition). */
export function goPluginServices() {
  return (cached ??= load());
}

/** The name go-plugin's host health-checks (`GRPCServiceName`). */
export const HEALTH_SERVICE_NAME = 'plugin';

export interface StdioData {
  channel: 'INVALID' | 'STDOUT' | 'STDERR';
  data: Buffer;
}

export interface ConnInfo {
  serviceId: number;
  network: string;
  address: string;
  knock?: { knock: boolean; ack: boolean; error: string } | null;
}
