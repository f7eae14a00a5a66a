/**
 * gRPC status codes plugsock sends or tests for: gRPC's numbers, as grpc-js's `status` has them,
 * without loading grpc-js (grpc-js.ts says why).
 */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;
