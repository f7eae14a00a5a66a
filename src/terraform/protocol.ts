/**
 * Terraform's plugin protocols (tfplugin5, tfplugin6) on the wire: the `<package>.Provider`
 * gRPC service and its messages, from the descriptors scripts/tfplugin-protos.mjs writes into
 * generated/ at build time. Nothing here parses a .proto or loads a protobuf runtime (or
 * grpc-js: the service definition is plain data), because a provider starts 3-5 times per
 * terraform command and each start pays for what it loads.
 */
// biome-ignore lint/suspicious/noTsIgnore: in the published .d.ts; @ts-expect-error would fail wherever grpc-js is installed
/** @ts-ignore grpc-js is an optional peer: without it (a Terraform provider needs none) these types are `any` rather than an error. */
import type * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../addon';
import { ErrorCodes, TransportError } from '../errors';
import { TerraformErrorCodes, terraformError } from './errors';
import { type MessageType, type ProtoDescriptor, decodeMessage, messageTypes } from './protobuf';
import { encodeMessage } from './protobuf-encode';

/** Terraform's plugin protocol versions: 5 (Terraform 0.12+) and 6 (Terraform 1.0+). */
export type ProtocolVersion = 5 | 6;

/** One of Terraform's plugin protocols. Messages are plain objects with the .proto's (snake_case) field names. */
export interface TerraformProtocol {
  /** 5 or 6. */
  readonly version: ProtocolVersion;
  /** The .proto package: `tfplugin5` or `tfplugin6`. */
  readonly package: 'tfplugin5' | 'tfplugin6';
  /**
   * grpc-js ServiceDefinition of `<package>.Provider` (keys = RPC names, e.g. 'GetProviderSchema';
   * `originalName` the camelCase one): for `Server.addService` and `makeGenericClientConstructor`.
   */
  readonly provider: grpc.ServiceDefinition;
  /**
   * Encodes a message of `type` (relative to the package, e.g. 'GetProviderSchema.Response', or
   * fully qualified). Unset fields (undefined or null) and proto3 defaults are left out; bytes are
   * Buffers, int64 numbers or bigints, enums numbers. A field the type does not have, or a value
   * of the wrong type, throws ERR_TERRAFORM_PROTOCOL.
   */
  encode(type: string, message: object): Buffer;
  /**
   * Decodes a message of `type`, with proto3 defaults filled in ('' / 0 / false / empty Buffer /
   * [] / {}; an absent message field is null; unset oneof members and `optional` fields are
   * left out). Decoded Buffers share `bytes`' memory. Malformed input throws ERR_TERRAFORM_PROTOCOL.
   */
  decode(type: string, bytes: Buffer): any;
}

/** Terraform's handshake: the magic cookie every provider checks for (go-plugin's MagicCookieKey/Value). */
export const TERRAFORM_MAGIC_COOKIE_KEY = 'TF_PLUGIN_MAGIC_COOKIE';
/** The value of `TERRAFORM_MAGIC_COOKIE_KEY` that Terraform sets. */
export const TERRAFORM_MAGIC_COOKIE_VALUE = 'd602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2';

const loaded = new Map<ProtocolVersion, TerraformProtocol>();

/**
 * Terraform's plugin protocol `version`, loaded from generated/tfplugin<version>.json once per
 * process. Throws ERR_TERRAFORM_PROTOCOL_MISSING when that file is absent (or stale), saying
 * to run scripts/tfplugin-protos.mjs (it needs Go).
 */
export function terraformProtocol(version: ProtocolVersion): TerraformProtocol {
  if (version !== 5 && version !== 6) {
    throw new TransportError(ErrorCodes.INVALID_OPTION, `Terraform's plugin protocol version must be 5 or 6, got ${String(version)}.`);
  }
  let protocol = loaded.get(version);
  if (protocol === undefined) loaded.set(version, (protocol = makeProtocol(version, readDescriptor(version))));
  return protocol;
}

function readDescriptor(version: ProtocolVersion): ProtoDescriptor {
  const file = join(packageRoot, 'generated', `tfplugin${version}.json`);
  const remedy =
    `Run \`node ${join(packageRoot, 'scripts', 'tfplugin-protos.mjs')}\` once (it needs Go, and the Go module proxy ` +
    'or module cache, and protobufjs: npm install) to generate it.';
  let d: ProtoDescriptor;
  try {
    d = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'is missing' : `is unreadable (${(err as Error).message})`;
    throw terraformError(TerraformErrorCodes.PROTOCOL_MISSING, `Terraform's protocol ${version} descriptor ${file} ${why}. ${remedy}`, { cause: err });
  }
  if (d?.format !== 1 || d.package !== `tfplugin${version}` || !d.services?.[`${d.package}.Provider`]) {
    throw terraformError(TerraformErrorCodes.PROTOCOL_MISSING, `Terraform's protocol ${version} descriptor ${file} is not one this plugsock reads. ${remedy}`);
  }
  return d;
}

function makeProtocol(version: ProtocolVersion, d: ProtoDescriptor): TerraformProtocol {
  const pkg = d.package as TerraformProtocol['package'];
  const compiled = messageTypes(d);
  // A name relative to the package, or a full one; compiled on first use.
  const type = (name: string): MessageType => {
    const t = compiled(`${pkg}.${name}`) ?? compiled(name);
    if (t === undefined) throw terraformError(TerraformErrorCodes.PROTOCOL, `${pkg} has no message type ${name}.`);
    return t;
  };
  const provider: Record<string, grpc.MethodDefinition<any, any>> = {};
  for (const m of d.services[`${pkg}.Provider`]!.methods) {
    // Checked now, compiled when the method is first used.
    for (const name of [m.requestType, m.responseType]) {
      if (!Object.hasOwn(d.messages, name)) throw terraformError(TerraformErrorCodes.PROTOCOL, `${pkg} has no message type ${name}.`);
    }
    let request: MessageType | undefined;
    let response: MessageType | undefined;
    const req = () => (request ??= type(m.requestType));
    const res = () => (response ??= type(m.responseType));
    provider[m.name] = {
      path: `/${pkg}.Provider/${m.name}`,
      requestStream: m.requestStream,
      responseStream: m.responseStream,
      requestSerialize: (value: object) => encodeMessage(req(), value),
      requestDeserialize: (bytes: Buffer) => decodeMessage(req(), bytes),
      responseSerialize: (value: object) => encodeMessage(res(), value),
      responseDeserialize: (bytes: Buffer) => decodeMessage(res(), bytes),
      originalName: m.name[0]!.toLowerCase() + m.name.slice(1),
    };
  }
  return {
    version,
    package: pkg,
    provider,
    encode: (name, message) => encodeMessage(type(name), message),
    decode: (name, bytes) => decodeMessage(type(name), bytes),
  };
}
