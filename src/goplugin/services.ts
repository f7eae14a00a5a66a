/**
 * Plugin side: the services go-plugin itself expects of a plugin, next to the plugin's own:
 * grpc.health.v1.Health (go-plugin's Ping), plugin.GRPCController (Shutdown), plugin.GRPCStdio
 * and plugin.GRPCBroker. Their definitions are in proto.ts.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Broker } from './broker';
import { GrpcStatus } from './grpc-status';
import type { GrpcServiceHost } from './http2-server';
import { HEALTH_SERVICE_NAME, goPluginServiceDefinitions, type ConnInfo, type StdioData } from './proto';
import type { StdioPump } from './stdio';

export interface GoPluginServiceParts {
  stdio: StdioPump;
  broker: Broker;
  /** Whether the plugin is stopping (health then says NOT_SERVING). */
  stopping(): boolean;
  /** What the Shutdown RPC starts. */
  shutdown(): void;
}

/** Adds go-plugin's services to `server`; end() ends the streams they hold open. */
export function addGoPluginServices(server: GrpcServiceHost, parts: GoPluginServiceParts): { end(): void } {
  const services = goPluginServiceDefinitions();
  const healthWatchers = new Set<grpc.ServerWritableStream<unknown, unknown>>();
  server.addService(services.health, {
    Check(call: grpc.ServerUnaryCall<{ service: string }, unknown>, cb: grpc.sendUnaryData<unknown>) {
      const name = call.request.service;
      if (name === '' || name === HEALTH_SERVICE_NAME) cb(null, { status: parts.stopping() ? 'NOT_SERVING' : 'SERVING' });
      else cb({ code: GrpcStatus.NOT_FOUND, details: `unknown service ${name}` });
    },
    Watch(call: grpc.ServerWritableStream<{ service: string }, unknown>) {
      const name = call.request.service;
      call.write({ status: name === '' || name === HEALTH_SERVICE_NAME ? 'SERVING' : 'SERVICE_UNKNOWN' });
      healthWatchers.add(call);
      call.on('cancelled', () => healthWatchers.delete(call));
    },
  });
  server.addService(services.controller, {
    Shutdown(_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) {
      cb(null, {});
      // Let the response go out before the server stops (go-plugin stops at once; hosts ignore the result).
      setTimeout(() => parts.shutdown(), 10);
    },
  });
  server.addService(services.stdio, {
    StreamStdio(call: grpc.ServerWritableStream<unknown, StdioData>) {
      parts.stdio.attach(call);
    },
  });
  server.addService(services.broker, {
    StartStream(call: grpc.ServerDuplexStream<ConnInfo, ConnInfo>) {
      parts.broker.serveStream(call);
    },
  });
  return {
    end() {
      for (const w of healthWatchers) w.end();
      parts.broker.endStreams();
    },
  };
}
