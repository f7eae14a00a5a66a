/**
 * The Terraform layer's error codes: the `code` of the TransportErrors (../errors) that only
 * plugsock/terraform throws, beside the transport's `ErrorCodes` and go-plugin's codes.
 */
import { TransportError, type TransportErrorOptions } from '../errors';

/** Error codes of the Terraform layer. */
export const TerraformErrorCodes = {
  /**
   * A protocol message does not match Terraform's protocol: bytes that are not a valid message of
   * the expected type (truncated, lengths past the end, nested too deep), or a value of the wrong
   * type (or a field the message does not have) given to encode.
   */
  PROTOCOL: 'ERR_TERRAFORM_PROTOCOL',
  /** generated/tfplugin<5|6>.json is missing or unreadable: run scripts/tfplugin-protos.mjs (needs Go). */
  PROTOCOL_MISSING: 'ERR_TERRAFORM_PROTOCOL_MISSING',
  /** A Terraform value (cty) does not fit its type, or its encoding is malformed. */
  VALUE: 'ERR_TERRAFORM_VALUE',
} as const;

/** One of the Terraform layer's codes. */
export type TerraformErrorCode = (typeof TerraformErrorCodes)[keyof typeof TerraformErrorCodes];

/**
 * A TransportError with one of the Terraform layer's codes. (The cast: `ErrorCode` in ../errors
 * lists the transport's and go-plugin's codes; until it lists these too, they pass through here.)
 */
export function terraformError(code: TerraformErrorCode, message: string, options?: TransportErrorOptions): TransportError {
  return new TransportError(code, message, options);
}
