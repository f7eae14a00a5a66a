/**
 * The gRPC services go-plugin itself uses, defined directly for grpc-js with hand-written codecs
 * (wire.ts): their five messages are tiny, and loading a protobuf runtime to describe them cost
 * a plugin ~25 ms of start-up. Service and method names are what goes on the wire
 * (`/plugin.GRPCController/Shutdown`); they match go-plugin's internal/plugin/*.proto and grpc's
 * health/v1/health.proto. Message objects have the shape @grpc/proto-loader gives them
 * (camelCase, enums as names, defaults filled in), so callers can use either.
 */
// biome-ignore lint/suspicious/noTsIgnore: in the published .d.ts; @ts-expect-error would fail wherever grpc-js is installed
/** @ts-ignore grpc-js is an optional peer: without it (a Terraform provider needs none) these types are `any` rather than an error. */
import type * as grpc from '@grpc/grpc-js';
import { grpcJs } from './grpc-js';
import { Writer, asBytes, asVarint, enumName, enumNumber, readFields } from './wire';

export const SERVING_STATUSES = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'] as const;
export const STDIO_CHANNELS = ['INVALID', 'STDOUT', 'STDERR'] as const;

export interface HealthCheckRequest {
  service: string;
}

export interface HealthCheckResponse {
  status: (typeof SERVING_STATUSES)[number];
}

/** One message of go-plugin's GRPCStdio stream: a piece of the plugin's stdout or stderr. */
export interface StdioData {
  /** `'STDOUT'` or `'STDERR'` (`'INVALID'` is the proto's zero value). */
  channel: (typeof STDIO_CHANNELS)[number];
  /** The bytes written. */
  data: Buffer;
}

/** One message of go-plugin's broker stream (GRPCBroker/StartStream): where a brokered service listens. */
export interface ConnInfo {
  /** The id both sides agreed on (`broker.NextId()` in Go). */
  serviceId: number;
  /** `unix` or `tcp`. */
  network: string;
  /** Where the service listens. */
  address: string;
  /** Multiplexing only (not implemented here): the knock that opens a brokered connection. */
  knock?: {
    /** A knock is asked for. */
    knock: boolean;
    /** The knock is answered. */
    ack: boolean;
    /** Why the knock failed. */
    error: string;
  } | null;
}

interface Codec<T> {
  encode(value: Partial<T>): Buffer;
  decode(bytes: Buffer): T;
}

const text = (f: Parameters<typeof asBytes>[0]): string => asBytes(f).toString('utf8');

const empty: Codec<Record<string, never>> = {
  encode: () => Buffer.alloc(0),
  decode: (bytes) => {
    for (const _ of readFields(bytes)); // validates; an Empty has no fields to keep
    return {};
  },
};

const healthRequest: Codec<HealthCheckRequest> = {
  encode: (m) => new Writer().string(1, m.service).finish(),
  decode(bytes) {
    const m: HealthCheckRequest = { service: '' };
    for (const f of readFields(bytes)) if (f.no === 1) m.service = text(f);
    return m;
  },
};

const healthResponse: Codec<HealthCheckResponse> = {
  encode: (m) => new Writer().uint(1, enumNumber(SERVING_STATUSES, m.status)).finish(),
  decode(bytes) {
    let status = 0;
    for (const f of readFields(bytes)) if (f.no === 1) status = asVarint(f);
    return { status: enumName(SERVING_STATUSES, status) };
  },
};

const stdioData: Codec<StdioData> = {
  encode: (m) => new Writer().uint(1, enumNumber(STDIO_CHANNELS, m.channel)).bytes(2, m.data).finish(),
  decode(bytes) {
    let channel = 0;
    let data: Buffer = Buffer.alloc(0);
    for (const f of readFields(bytes)) {
      if (f.no === 1) channel = asVarint(f);
      else if (f.no === 2) data = asBytes(f);
    }
    return { channel: enumName(STDIO_CHANNELS, channel), data };
  },
};

const connInfo: Codec<ConnInfo> = {
  encode(m) {
    const knock = m.knock ? new Writer().bool(1, m.knock.knock).bool(2, m.knock.ack).string(3, m.knock.error).finish() : null;
    return new Writer().uint(1, m.serviceId).string(2, m.network).string(3, m.address).message(4, knock).finish();
  },
  decode(bytes) {
    const m: ConnInfo = { serviceId: 0, network: '', address: '', knock: null };
    for (const f of readFields(bytes)) {
      if (f.no === 1) m.serviceId = asVarint(f);
      else if (f.no === 2) m.network = text(f);
      else if (f.no === 3) m.address = text(f);
      else if (f.no === 4) {
        const k = { knock: false, ack: false, error: '' };
        for (const g of readFields(asBytes(f))) {
          if (g.no === 1) k.knock = asVarint(g) !== 0;
          else if (g.no === 2) k.ack = asVarint(g) !== 0;
          else if (g.no === 3) k.error = text(g);
        }
        m.knock = k;
      }
    }
    return m;
  },
};

function method<Req, Res>(
  path: string,
  req: Codec<Req>,
  res: Codec<Res>,
  streams: { requestStream?: boolean; responseStream?: boolean } = {},
): grpc.MethodDefinition<Req, Res> {
  return {
    path,
    requestStream: streams.requestStream ?? false,
    responseStream: streams.responseStream ?? false,
    requestSerialize: (v: Req) => req.encode(v as Partial<Req>),
    requestDeserialize: (b: Buffer) => req.decode(b),
    responseSerialize: (v: Res) => res.encode(v as Partial<Res>),
    responseDeserialize: (b: Buffer) => res.decode(b),
  };
}

function define() {
  return {
    /** `plugin.GRPCController`: Shutdown. */
    controller: {
      Shutdown: method('/plugin.GRPCController/Shutdown', empty, empty),
    },
    /** `plugin.GRPCStdio`: StreamStdio. */
    stdio: {
      // go-plugin's request type is google.protobuf.Empty: the same (empty) wire bytes.
      StreamStdio: method('/plugin.GRPCStdio/StreamStdio', empty, stdioData, { responseStream: true }),
    },
    /** `plugin.GRPCBroker`: StartStream. */
    broker: {
      StartStream: method('/plugin.GRPCBroker/StartStream', connInfo, connInfo, { requestStream: true, responseStream: true }),
    },
    /** `grpc.health.v1.Health`: Check and Watch. */
    health: {
      Check: method('/grpc.health.v1.Health/Check', healthRequest, healthResponse),
      Watch: method('/grpc.health.v1.Health/Watch', healthRequest, healthResponse, { responseStream: true }),
    },
  } satisfies Record<string, grpc.ServiceDefinition>;
}

const SERVICE_NAMES = { controller: 'plugin.GRPCController', stdio: 'plugin.GRPCStdio', broker: 'plugin.GRPCBroker', health: 'grpc.health.v1.Health' } as const;

/** grpc-js client constructors of go-plugin's own services. */
export interface GoPluginClients {
  /** `plugin.GRPCController`: Shutdown. */
  controller: grpc.ServiceClientConstructor;
  /** `plugin.GRPCStdio`: StreamStdio. */
  stdio: grpc.ServiceClientConstructor;
  /** `plugin.GRPCBroker`: StartStream. */
  broker: grpc.ServiceClientConstructor;
  /** `grpc.health.v1.Health`: Check and Watch. */
  health: grpc.ServiceClientConstructor;
}

let definitions: ReturnType<typeof define> | undefined;
let clients: GoPluginClients | undefined;

/** The service definitions, for servers (no grpc-js needed). */
export function goPluginServiceDefinitions() {
  return (definitions ??= define());
}

/** grpc-js client constructors (their `.service` is the server-side definition). */
export function goPluginServices(): GoPluginClients {
  if (clients) return clients;
  const defs = goPluginServiceDefinitions();
  const make = (key: keyof typeof SERVICE_NAMES) => grpcJs().makeGenericClientConstructor(defs[key], SERVICE_NAMES[key]);
  clients = { controller: make('controller'), stdio: make('stdio'), broker: make('broker'), health: make('health') };
  return clients;
}

/** The codecs, for tests that compare them with a protobuf runtime's. */
export const codecs = { empty, healthRequest, healthResponse, stdioData, connInfo };

/** The name go-plugin's host health-checks (`GRPCServiceName`). */
export const HEALTH_SERVICE_NAME = 'plugin';
