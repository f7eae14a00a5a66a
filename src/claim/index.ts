/**
 * The claim protocol: how a listening socket gets its name, and how it gives the name up.
 *
 * Invariant: plugsock creates, chmods, chowns, links, renames and unlinks only objects it
 * created itself, identified by the (dev, ino) of an fd it holds, never by following a name that
 * another user could change between two system calls.
 *
 * - Native (`native.ts`, Linux): the directory is opened once and every step goes through fds:
 *   bind under a temporary name, the bound file identified through the kernel's socket table
 *   and opened O_PATH, mode and group set on that fd, link(2) to publish, a dead socket moved
 *   into a private stage and checked before it is deleted; release removes the name only if
 *   it still is our socket. One synchronous addon call claims, one releases (native/claim.cc
 *   says why the two remaining unlinkat() calls give a racing user nothing).
 * - Path (`path.ts`, no addon, or not Linux): the same steps by name, which is only safe where
 *   nobody else can rename entries, so any other directory is refused with
 *   ERR_INSECURE_DIRECTORY.
 * - Abstract (`abstract.ts`, Linux, the addon): an abstract address (`'\0name'`) has no file,
 *   so the claim only binds and listens, and release() removes nothing.
 */
import type * as net from 'node:net';
import type { Binding } from '../addon';
import { NATIVE_OFF } from '../errors';
import type { Claim, ClaimRequest } from './types';
import type { NativeSocketMaker } from '../sockets/native';
import { isAbstractPath } from '../path';
import { claimAbstract } from './abstract';
import { claimNative, adoptNative } from './native';
import { claimByPath, adoptByPath } from './path';

export type { Claim, ClaimRequest } from './types';

/** Binds, listens and publishes `request.path`; rejects with a TransportError. */
export function claimSocket(request: ClaimRequest, binding: Binding | null, maker: NativeSocketMaker | null): Promise<Claim> {
  if (isAbstractPath(request.path)) return claimAbstract(request, binding, maker);
  if (binding?.claimCreate && maker) return claimNative(request, binding, maker);
  // Why not natively, for messages that name the addon (binding null: it did not load, which
  // the message says, or the transport was made with native: 'off').
  return claimByPath(request, binding ? `its claim through directory fds is Linux-only` : NATIVE_OFF);
}

/** A claim for a listener received from another process, published at `path` as (dev, ino). */
export function adoptClaim(path: string, server: net.Server, dev: bigint, ino: bigint, binding: Binding | null): Claim {
  if (binding?.claimCreate) return adoptNative(path, server, dev, ino, binding);
  return adoptByPath(path, server, dev, ino);
}
