/**
 * The default largest gRPC message, received and sent, on both sides: 256 MiB, what Terraform
 * (its provider client) and terraform-plugin-go (its provider server) set, where grpc-js by
 * default receives at most 4 MiB and sends without limit. Bounded on purpose: a peer cannot make
 * us buffer more than this for one message. Override with serverOptions / channelOptions.
 */
export const DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

/** grpc-js options for DEFAULT_MAX_MESSAGE_BYTES both ways (channel and server options alike). */
export function messageSizeOptions(): { 'grpc.max_receive_message_length': number; 'grpc.max_send_message_length': number } {
  return { 'grpc.max_receive_message_length': DEFAULT_MAX_MESSAGE_BYTES, 'grpc.max_send_message_length': DEFAULT_MAX_MESSAGE_BYTES };
}
