/**
 * Terraform values (cty) for plugsock/terraform: types as Terraform writes them in schemas,
 * values as plain JavaScript (objects and maps are plain objects; lists, sets and tuples are
 * arrays; `unknown` is "known after apply"; `Typed` carries the type of a 'dynamic' position), and
 * the encodings of tfplugin's DynamicValue, byte for byte as go-cty writes them.
 *
 * Every function checks the value against the type and throws a TransportError with code
 * ERR_TERRAFORM_VALUE whose message names the attribute path (`.tags["a"]`) and what was wrong.
 * Inputs are bounded: nesting past 64 levels, and lengths that claim more than the bytes that
 * remain, are refused before anything is allocated.
 */
import { decodeJsonValue } from './cty-json';
import { decodeMsgpack, encodeMsgpack } from './cty-msgpack';
import type { CtyType, CtyValue } from './cty-types';

export { decodeJsonValue } from './cty-json';
export { decodeMsgpack, encodeMsgpack } from './cty-msgpack';
export {
  type CtyType,
  type CtyValue,
  ctyTypeFromJson,
  ctyTypeToJson,
  isUnknown,
  Typed,
  Unknown,
  type UnknownRefinements,
  unknown,
} from './cty-types';

/** tfplugin's DynamicValue: msgpack (what Terraform sends) or JSON. */
export interface DynamicValue {
  /** The value in cty's msgpack encoding, unknowns included. */
  msgpack?: Buffer | Uint8Array | null;
  /** The value in cty's JSON encoding (no unknowns), used where there is no msgpack. */
  json?: Buffer | Uint8Array | null;
}

/**
 * The value in a tfplugin DynamicValue: msgpack when it has any, else JSON. An absent
 * DynamicValue (null, undefined, or both fields empty, as protobuf leaves an unset one) is the
 * null value: Terraform leaves out, for example, provider_meta when there is no such schema.
 */
export function decodeDynamicValue(dv: DynamicValue | null | undefined, type: CtyType): CtyValue {
  if (dv?.msgpack != null && dv.msgpack.length > 0) return decodeMsgpack(asBuffer(dv.msgpack), type);
  if (dv?.json != null && dv.json.length > 0) return decodeJsonValue(asBuffer(dv.json), type);
  return null;
}

/** A tfplugin DynamicValue holding `value` as msgpack (the encoding Terraform prefers). */
export function toDynamicValue(
  value: CtyValue,
  type: CtyType,
): {
  /** `value` in cty's msgpack encoding. */
  msgpack: Buffer;
} {
  return { msgpack: encodeMsgpack(value, type) };
}

function asBuffer(b: Buffer | Uint8Array): Buffer {
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}
