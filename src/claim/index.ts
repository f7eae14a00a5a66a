/**
 * The claim protocol: how a listening socket gets its name, and how it gives the name up.
 *
 * Invariant: plugsock creates, chmods, chowns, links, renames and unlinks only objects it
 * created itself, identified by the (dev, ino) of an fd it holds, never by following a name that
 * another user could change between two system calls.
 *
 * - Native (`native.ts`, Linux): the directory is opened once and every later step goes through
 *   fds: a private staging directory, bind, mode and group inside it, link(2) to publish, a dead
 *   socket moved into the stage and checked before it is deleted, and the same move-then-check
 *   on release. One synchronous addon call claims, one releases.
 * - Path (`path.ts`, no addon, or not Linux): the same steps by name, which is only safe where
 *   nobody else can rename entries, so any other directory is refused with
 *   ERR_INSECURE_DIRECTORY.
 */
import type * as net from 'node:net';
import type { Binding } from '../addon';
import type { NativeSocketMaker } from '../sockets/native';
import { claimNative, adoptNative } from './native';
import { claimByPath, adoptByPath } from './path';

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

/** Binds, listens and publishes `request.path`; rejects with a TransportError. */
export function claimSocket(request: ClaimRequest, binding: Binding | null, maker: NativeSocketMaker | null): Promise<Claim> {
  if (binding?.claimUnix && maker) return claimNative(request, binding, maker);
  return claimByPath(request);
}

/** A claim for a listener received from another process, published at `path` as (dev, ino). */
export function adoptClaim(path: string, server: net.Server, dev: bigint, ino: bigint, binding: Binding | null): Claim {
  if (binding?.claimUnix) return adoptNative(path, server, dev, ino, binding);
  return adoptByPath(path, server, dev, ino);
}

/** Mode of a generated path's directory: whoever may use the socket may traverse it. */
export function generatedDirMode(socketMode: number): number {
  return 0o700 | (socketMode & 0o060 ? 0o010 : 0) | (socketMode & 0o006 ? 0o001 : 0);
}
