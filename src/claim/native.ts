/**
 * The claim through directory fds (native/claim.cc does the system calls). See index.ts for
 * the invariant; this file maps the addon's verdicts to TransportErrors and holds the fds.
 */
import type * as net from 'node:net';
import { basename, dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Binding, ClaimResult } from '../addon';
import { ErrorCodes, TransportError, errnoKind, notASocketError, systemToTransport } from '../errors';
import type { NativeSocketMaker } from '../sockets/native';
import { sweepGeneratedOnce } from './generated-sweep';
import { refusalError } from './refusals';
import { type Claim, type ClaimRequest, generatedDirMode } from './types';

/** claimCreate flags (native/claim.cc). */
const SWEEP = 1;
const NO_LOCK = 2;
/** Another claim in the same directory is removing a dead socket: wait this long for it. */
const LOCK_RETRY_MS = 2;
const LOCK_WAIT_MS = 1000;

export async function claimNative(request: ClaimRequest, binding: Binding, maker: NativeSocketMaker): Promise<Claim> {
  const { path, generatedDir } = request;
  // What killed processes left next to it (once per thread; never throws).
  if (generatedDir) sweepGeneratedOnce(binding, dirname(generatedDir));
  const dirFd = openParent(request, binding);
  let result: ClaimResult;
  try {
    result = await claimWithLock(binding, dirFd, basename(path), request);
  } catch (err) {
    if (generatedDir) removeGeneratedDir(binding, generatedDir, dirFd);
    throw err;
  } finally {
    binding.fdClose(dirFd);
  }
  const claim = new NativeClaim(binding, path, result.dev, result.ino, generatedDir);
  try {
    claim.server = await maker.adopt(result.fd, request.backlog);
  } catch (err) {
    claim.release();
    throw systemToTransport(err, path, 'listen');
  }
  return claim;
}

/** The hand-off's successor: the name is removed on release only if it is still (dev, ino). */
export function adoptNative(path: string, server: net.Server, dev: bigint, ino: bigint, binding: Binding): Claim {
  const claim = new NativeClaim(binding, path, dev, ino, null);
  claim.server = server;
  return claim;
}

/**
 * What this process holds of a published socket: its name and identity. No fd is held while
 * listening (a worker thread that is terminated runs no JS to close one): release() opens the
 * directory again and removes the name only if it still is our socket (dev, ino), wherever
 * that directory now is, so a renamed ancestor cannot turn it against another file.
 */
class NativeClaim implements Claim {
  #done = false;
  /** Set as soon as libuv has the listening fd. */
  server!: net.Server;

  constructor(
    private readonly binding: Binding,
    private readonly path: string,
    readonly dev: bigint,
    readonly ino: bigint,
    private readonly generatedDir: string | null,
  ) {}

  release(): void {
    if (this.#done) return;
    this.#done = true;
    let dirFd: number;
    try {
      dirFd = this.binding.dirOpen!(dirname(this.path));
    } catch {
      return; // the directory is gone, and the name with it
    }
    try {
      this.binding.claimRelease!(dirFd, basename(this.path), this.dev, this.ino);
      if (this.generatedDir) removeGeneratedDir(this.binding, this.generatedDir, dirFd);
    } catch {
      // No longer ours to change.
    } finally {
      this.binding.fdClose(dirFd);
    }
  }

  forget(): void {
    // Another process serves on the name now: it stays.
    this.#done = true;
  }
}

function openParent(request: ClaimRequest, binding: Binding): number {
  const { path, generatedDir } = request;
  const dir = generatedDir ?? dirname(path);
  try {
    return generatedDir ? binding.dirMake!(generatedDir, generatedDirMode(request.mode)) : binding.dirOpen!(dir);
  } catch (err) {
    const kind = errnoKind(err);
    if (kind === 'missing' || kind === 'not-dir') {
      throw new TransportError(
        ErrorCodes.INVALID_PATH,
        kind === 'missing'
          ? `The directory ${dir} for socket ${path} does not exist: create it first.`
          : `${dir} is not a directory, so ${path} cannot be created there.`,
        { path, cause: err },
      );
    }
    throw systemToTransport(err, path, generatedDir ? 'mkdir' : 'open');
  }
}

async function claimWithLock(binding: Binding, dirFd: number, name: string, request: ClaimRequest): Promise<Extract<ClaimResult, { status: 'ok' }>> {
  const { path } = request;
  const deadline = Date.now() + LOCK_WAIT_MS;
  let flags = SWEEP;
  for (;;) {
    let result: ClaimResult;
    try {
      result = binding.claimCreate!(dirFd, name, request.mode, request.backlog, request.gid ?? -1, flags);
    } catch (err) {
      throw systemToTransport(err, path, (err as { syscall?: string }).syscall ?? 'bind');
    }
    if (result.status === 'ok') return result;
    if (result.status !== 'contended') throw claimError(result, path);
    // Swept already; a lock held past the deadline is someone else's problem: go on without.
    flags = Date.now() >= deadline ? NO_LOCK : 0;
    await sleep(LOCK_RETRY_MS);
  }
}

/** The addon's verdict on a name it could not take, as the error a user can act on. */
function claimError(result: Exclude<ClaimResult, { status: 'ok' | 'contended' }>, path: string): TransportError {
  switch (result.status) {
    case 'exists':
      return notASocketError(path, result.kind);
    case 'displaced':
      return new TransportError(
        ErrorCodes.ADDRESS_IN_USE,
        `Several processes are racing for ${path}; a socket that was displaced in the race was kept at ${dirname(path)}/${result.stage}/dead. Choose a path of your own.`,
        { path },
      );
    default:
      return refusalError(result.status, path);
  }
}

/** Removes a generated path's directory (`dirFd`) if it is still at its name and empty. */
function removeGeneratedDir(binding: Binding, generatedDir: string, dirFd: number): void {
  try {
    const up = binding.dirOpen!(dirname(generatedDir));
    try {
      binding.dirRemoveAt!(up, basename(generatedDir), dirFd);
    } finally {
      binding.fdClose(up);
    }
  } catch {
    // Gone, or something else put files there: not ours to empty.
  }
}
