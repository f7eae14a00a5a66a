/**
 * The sweep of generated paths' private directories that killed processes left behind.
 *
 * A generated path (`<tmpdir>/plugsock-<pid>-<start>-<random>/plugsock.sock`, src/path.ts) is
 * removed by close() or the 'exit' hook; SIGKILL, or SIGTERM without a handler, runs neither,
 * and the directory stayed for good. So the first listen() on a generated path in a process
 * (native claim, Linux) looks for such directories next to its own and removes those that are
 * certainly dead, each check as strict as the staging sweep's (native/claim_sweep.cc):
 *
 * - the name is exactly the generated form, and records its creator: pid and start time;
 * - that creator is gone: no such pid, or a process that started more than a second apart (the
 *   pid was reused); never this process;
 * - the entry, not followed if it is a symlink, is a directory owned by this uid, of a mode a
 *   generated directory has (0700, 0710, 0701 or 0711); opened, it is still that directory
 *   (dev, ino), and everything below happens through that fd;
 * - it holds nothing, or only sockets of this uid named as plugsock names them
 *   (`plugsock.sock`, and `.ps-<pid>-XXXXXX` where the kernel has no sock_diag), and each one
 *   refuses a connection (ECONNREFUSED: nobody listens, e.g. no process it was handed to);
 * - each socket is then removed only if it is still that socket (claimRelease: dev, ino), and
 *   the directory only if it is still at its name and empty (dirRemoveAt).
 *
 * Anything else is left alone. Bounded: at most MAX_SCANNED names read and MAX_EXAMINED
 * directories examined, once per thread. Best effort: it never throws, and never fails a listen().
 */
import { fstatSync, opendirSync } from 'node:fs';
import type { Binding } from '../addon';
import { parseGeneratedName, processStartTime } from '../path';

/** Names read from the temp dir per sweep (a busy /tmp can hold many thousands). */
const MAX_SCANNED = 10_000;
/** Directories of dead creators examined per sweep (each costs a few system calls and a connect). */
const MAX_EXAMINED = 16;
/** Entries a dead directory may hold and still be removed (the socket, a few temporary names). */
const MAX_ENTRIES = 4;

/**
 * Start times this close (clock ticks, USER_HZ: 100 a second) count as the same process: an
 * emulator (qemu-user) shows a process its own start time a few ticks off what others read, and
 * a pid reused within a second of its first owner's start is not worth removing anything for.
 */
const START_SLACK_TICKS = 100;

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFSOCK = 0o140000;
/** generatedDirMode()'s possible results (src/claim/types.ts). */
const GENERATED_DIR_MODES = new Set([0o700, 0o710, 0o701, 0o711]);
/** What a claim leaves in a directory where the kernel has no sock_diag (native/claim_stage.cc). */
const TEMPORARY_SOCKET = /^\.ps-[1-9][0-9]{0,9}-[A-Za-z0-9]{6}$/;

let swept = false;

/**
 * Once per thread: removes the dead generated directories in `tmp` (see above). Returns how
 * many it removed (0 on every later call).
 */
export function sweepGeneratedOnce(binding: Binding, tmp: string): number {
  if (swept) return 0;
  swept = true;
  return sweepGenerated(binding, tmp);
}

/** The sweep itself, every time it is called (tests call it through sweepGeneratedOnce in fresh processes). */
export function sweepGenerated(binding: Binding, tmp: string): number {
  if (!binding.dirOpen || !binding.dirStatAt || !binding.dirRemoveAt || !binding.claimRelease || !binding.dirScan || typeof process.geteuid !== 'function') {
    return 0;
  }
  const candidates = deadLookAlikes(binding, tmp);
  if (candidates.length === 0) return 0;
  let parent: number;
  try {
    parent = binding.dirOpen(tmp);
  } catch {
    return 0;
  }
  let removed = 0;
  try {
    for (const name of candidates) {
      try {
        if (removeIfDead(binding, parent, name)) removed++;
      } catch {
        // Changed under us, or not ours after all: left alone.
      }
    }
  } finally {
    binding.fdClose(parent);
  }
  return removed;
}

/** Names in `tmp` of the generated form whose creator is gone, at most MAX_EXAMINED. */
function deadLookAlikes(binding: Binding, tmp: string): string[] {
  const found: string[] = [];
  let names: string[];
  try {
    // Directories (or entries of unknown type) named plugsock-*, read in C: a busy /tmp holds
    // hundreds of names, and a Dirent for each cost ~2 ms of every plugin's start.
    names = binding.dirScan!(tmp, 'plugsock-', MAX_SCANNED);
  } catch {
    return found;
  }
  for (const name of names) {
    const creator = parseGeneratedName(name);
    if (creator !== null && creatorIsGone(creator.pid, creator.start)) found.push(name);
    if (found.length === MAX_EXAMINED) break;
  }
  return found;
}

/** Whether the process that made a directory is gone: no such pid, or another process now has it. */
function creatorIsGone(pid: number, start: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: a process of another user has this pid, so it exists; only ESRCH says gone.
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
  // A live pid: the creator only if it started when the name says (0: not recorded, keep it).
  if (start === 0) return false;
  const now = processStartTime(pid);
  return now !== null && Math.abs(now - start) > START_SLACK_TICKS;
}

/** Checks `parent/name` as the header says and removes it, through fds; true if removed. */
function removeIfDead(binding: Binding, parent: number, name: string): boolean {
  const uid = process.geteuid!();
  const st = binding.dirStatAt!(parent, name);
  if (st === null || (st.mode & S_IFMT) !== S_IFDIR || st.uid !== uid || !GENERATED_DIR_MODES.has(st.mode & 0o7777)) return false;
  // Opened through the parent's fd; a symlink swapped in since the lstat leads elsewhere,
  // which the (dev, ino) comparison refuses.
  const fd = binding.dirOpen!(`/proc/self/fd/${parent}/${name}`);
  try {
    const opened = fstatSync(fd, { bigint: true });
    if (opened.dev !== st.dev || opened.ino !== st.ino || !opened.isDirectory()) return false;
    const here = `/proc/self/fd/${fd}`;
    const sockets: Array<{ name: string; dev: bigint; ino: bigint }> = [];
    const dir = opendirSync(here);
    try {
      for (let entry = dir.readSync(); entry !== null; entry = dir.readSync()) {
        if (sockets.length === MAX_ENTRIES) return false;
        if (entry.name !== 'plugsock.sock' && !TEMPORARY_SOCKET.test(entry.name)) return false;
        const s = binding.dirStatAt!(fd, entry.name);
        if (s === null || (s.mode & S_IFMT) !== S_IFSOCK || s.uid !== uid || !refuses(binding, `${here}/${entry.name}`)) return false;
        sockets.push({ name: entry.name, dev: s.dev, ino: s.ino });
      }
    } finally {
      dir.closeSync();
    }
    for (const s of sockets) if (!binding.claimRelease!(fd, s.name, s.dev, s.ino)) return false;
    return binding.dirRemoveAt!(parent, name, fd);
  } finally {
    binding.fdClose(fd);
  }
}

/** Whether the socket at `path` refuses a connection: a dead one. A live one is let go at once. */
function refuses(binding: Binding, path: string): boolean {
  let fd: number;
  try {
    fd = binding.socketConnect(path);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
  }
  binding.fdClose(fd);
  return false;
}
