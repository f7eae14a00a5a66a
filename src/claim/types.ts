/**
 * What a claim is asked for and what it gives back (see index.ts for the protocol).
 */
import type * as net from 'node:net';

export interface ClaimRequest {
  /** Normalised absolute socket path. */
  path: string;
  /** Exact mode of the socket file. */
  mode: number;
  backlog: number;
  /** Group of the socket file (chgrp before it is published), or null to keep ours. */
  gid: number | null;
  /** A generated path's private directory, created by the claim and removed by release(). */
  generatedDir: string | null;
  allowHalfOpen: boolean;
}

/** A published listening socket and the right to remove its name again. */
export interface Claim {
  readonly server: net.Server;
  /** Identity of the published file, handed on with a listener (hand-off). */
  readonly dev: bigint;
  readonly ino: bigint;
  /**
   * Removes the published file if it is still ours, and a generated directory if empty.
   * Synchronous (the process 'exit' hook uses it) and idempotent.
   */
  release(): void;
  /** Gives the name up without removing it: it belongs to another process now (hand-off). */
  forget(): void;
}

/** Mode of a generated path's directory: whoever may use the socket may traverse it. */
export function generatedDirMode(socketMode: number): number {
  return 0o700 | (socketMode & 0o060 ? 0o010 : 0) | (socketMode & 0o006 ? 0o001 : 0);
}
