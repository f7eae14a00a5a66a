/**
 * What this installation can do, and why not where it cannot.
 */
import { loadAddon, refusesPassedFds } from './addon';

/** What `capabilities()` reports: whether the addon loaded, and the features that follow from it. */
export interface Capabilities {
  /** True when the native addon loaded. */
  native: boolean;
  /** Why the addon did not load (one line), or null. */
  reason: string | null;
  /** `process.platform`. */
  platform: NodeJS.Platform;
  /** `process.arch`. */
  arch: string;
  /** sha256 of the addon's sources it was built from, or null. */
  addonSourceHash: string | null;
  /** What this installation can do; false where it needs the addon and the addon did not load. */
  features: {
    /** The socket file gets exactly the requested mode, never wider (both modes). */
    exactMode: boolean;
    /** Paths over 107 bytes bind and connect (fallback refuses them). */
    longPaths: boolean;
    /** `socket.peer` and peer policies. */
    peerCredentials: boolean;
    /** Supplementary groups of the peer (SO_PEERGROUPS). */
    peerGroups: boolean;
    /** fd passing over `fdPassing` connections (SCM_RIGHTS). */
    fdPassing: boolean;
    /** Concurrent stale-socket cleanup serialised by a directory lock. */
    dirLock: boolean;
    /**
     * listen() and close() work through directory fds (src/claim/), so they are safe in
     * directories where other users can rename entries. False: such directories are refused
     * with ERR_INSECURE_DIRECTORY.
     */
    fdClaim: boolean;
    /** The `sendBufferSize` option (SO_SNDBUF). */
    sendBufferSize: boolean;
    /**
     * Connections that are not fdPassing refuse passed fds (SO_PASSRIGHTS off, Linux 6.16+): a
     * peer's sendmsg with SCM_RIGHTS fails with EPERM instead of parking fds in our queue.
     */
    refusesPassedFds: boolean;
  };
}

/**
 * What this installation can do: whether the native addon loaded (and if not, why, in one line)
 * and which features follow from that. Cheap: the addon is loaded once per process.
 */
export function capabilities(): Capabilities {
  const { binding, reason } = loadAddon();
  const native = binding !== null;
  return {
    native,
    reason,
    platform: process.platform,
    arch: process.arch,
    addonSourceHash: binding?.sourceHash ?? null,
    features: {
      exactMode: true,
      longPaths: native && process.platform === 'linux',
      peerCredentials: native,
      peerGroups: native && process.platform === 'linux',
      fdPassing: native && typeof binding?.FdChannel === 'function',
      dirLock: typeof binding?.claimCreate === 'function',
      fdClaim: typeof binding?.claimCreate === 'function',
      sendBufferSize: native && typeof binding?.socketSetSendBufferSize === 'function',
      refusesPassedFds: refusesPassedFds(),
    },
  };
}
