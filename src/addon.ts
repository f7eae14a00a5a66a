/**
 * Loads the native addon once, and remembers why it did not load. Nothing here throws:
 * a missing addon means fallback mode, and `capabilities()` says why.
 */
import { join } from 'node:path';

/** The addon's exports (see docs/ADDON-CONTRACT.md). */
export interface Binding {
  sourceHash: string;
  connectUnix(path: string): number;
  /** SO_SNDBUF; returns what the kernel applied (Linux: twice the request, capped). */
  setSendBufferSize(fd: number, size: number): number;
  /** SO_PASSRIGHTS (Linux 6.16+): false where the kernel has no such option. */
  setPassRights?(fd: number, on: boolean): boolean;
  probePassRights?(): boolean;
  /** Whether the peer of a connected socket has hung up (POLLRDHUP), without reading. */
  isHungUp?(fd: number): boolean;
  closeFd(fd: number): void;
  peerCred(fd: number): { pid: number; uid: number; gid: number; groups: number[] | null };
  /** Linux fast path: pid, uid, gid into `out`. */
  peerCredInto?(fd: number, out: Int32Array): void;
  peerGroups?(fd: number): number[] | null;
  peerPidfd(fd: number): number;
  pidfdAlive(pidfd: number): boolean;
  dupFd?(fd: number): number;
  memfdCreate?(name: string): number;
  FdChannel?: unknown;
  // The claim through directory fds (native/claim.cc, Linux only).
  claimUnix?(dirFd: number, name: string, mode: number, backlog: number, gid: number, flags: number): ClaimResult;
  releaseClaim?(dirFd: number, name: string, dev: bigint, ino: bigint): boolean;
  dirOpen?(path: string): number;
  dirMake?(path: string, mode: number): number;
  rmdirAt?(parentFd: number, name: string, dirFd: number): boolean;
  statAt?(dirFd: number, name: string): { dev: bigint; ino: bigint; mode: number; uid: number; gid: number } | null;
}

/** claimUnix's verdict (native/claim.cc). */
export type ClaimResult =
  | { status: 'ok'; fd: number; dev: bigint; ino: bigint }
  | { status: 'exists'; kind: 'file' | 'directory' | 'symlink' | 'fifo' | 'device' | 'other' }
  | { status: 'live' | 'busy' | 'wrongtype' | 'denied' | 'insecure' | 'racing' }
  | { status: 'contended' }
  | { status: 'displaced'; stage: string };

interface LoadResult {
  binding: Binding | null;
  reason: string | null;
}

let loaded: LoadResult | undefined;

/** Package root: dist/addon.js and src/addon.ts both sit one level below it. */
export const packageRoot = join(__dirname, '..');

export function loadAddon(): LoadResult {
  if (loaded) return loaded;
  if (process.env.PLUGSOCK_DISABLE_ADDON === '1') {
    loaded = { binding: null, reason: 'disabled by PLUGSOCK_DISABLE_ADDON=1' };
    return loaded;
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => Binding;
    loaded = { binding: nodeGypBuild(packageRoot), reason: null };
  } catch (err) {
    const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
    loaded = { binding: null, reason: `native addon did not load: ${message}` };
  }
  return loaded;
}

/** The binding, or null in fallback mode. */
export function addon(): Binding | null {
  return loadAddon().binding;
}

let passRightsOff: boolean | undefined;

/**
 * Whether connections that are not fdPassing refuse passed fds here (SO_PASSRIGHTS off: Linux
 * 6.16+ with the addon), so a peer cannot park descriptors in them. Asked once.
 */
export function refusesPassedFds(): boolean {
  if (passRightsOff === undefined) {
    const binding = addon();
    try {
      passRightsOff = binding?.probePassRights?.() === true;
    } catch {
      passRightsOff = false;
    }
  }
  return passRightsOff;
}
