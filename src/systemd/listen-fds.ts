/**
 * The sockets systemd passed (sd_listen_fds_with_names): LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES,
 * fds from 3. Read once per process, as sd_listen_fds(1) does: the variables are then unset (so
 * no child inherits them and takes them for its own) and every fd passed gets FD_CLOEXEC. The
 * result is kept, so that several fromSystemd() calls can take several named sockets, each once.
 */
import { ErrorCodes, TransportError } from '../errors';

/** SD_LISTEN_FDS_START: the first fd passed. */
export const LISTEN_FDS_START = 3;
/** A bound on LISTEN_FDS (systemd's own limit for the fd store is 65536). */
export const LISTEN_FDS_MAX = 65536;

/** One fd systemd passed, with its name ('unknown' when LISTEN_FDNAMES is unset, as systemd says). */
export interface PassedFd {
  readonly fd: number;
  readonly name: string;
}

/** What the environment said: the fds passed, or why there are none. */
export interface ListenFds {
  readonly fds: readonly PassedFd[];
  /** Why `fds` is empty (or the variables are malformed); null when fds were passed. */
  readonly problem: string | null;
}

let read: ListenFds | undefined;
const taken = new Set<number>();

/** The fds passed to this process (read, unset and made CLOEXEC on the first call). */
export function listenFds(setCloexec: (fd: number) => void): ListenFds {
  if (read) return read;
  const { LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES } = process.env;
  // sd_listen_fds(1) unsets them whatever they say (another process's included).
  delete process.env.LISTEN_PID;
  delete process.env.LISTEN_FDS;
  delete process.env.LISTEN_FDNAMES;
  read = parse(LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES);
  for (const { fd } of read.fds) {
    try {
      setCloexec(fd);
    } catch {
      // Not open (EBADF): fromSystemd says so when that fd is picked.
    }
  }
  return read;
}

function parse(pid: string | undefined, count: string | undefined, names: string | undefined): ListenFds {
  const none = (problem: string): ListenFds => ({ fds: [], problem });
  if (pid === undefined || count === undefined) {
    const missing = [pid === undefined && 'LISTEN_PID', count === undefined && 'LISTEN_FDS'].filter(Boolean).join(' and ');
    return none(
      `${missing} ${missing.includes(' and ') ? 'are' : 'is'} not set: this process was not started by systemd socket activation (or an earlier call consumed the variables)`,
    );
  }
  if (!/^[1-9][0-9]{0,9}$/.test(pid)) return none(`LISTEN_PID=${JSON.stringify(pid)} is not a process id`);
  if (Number(pid) !== process.pid) {
    return none(
      `LISTEN_PID=${pid} is another process (this one is ${process.pid}): the variables were inherited from a parent, and its sockets are not this process's to take`,
    );
  }
  if (!/^[0-9]{1,6}$/.test(count) || Number(count) > LISTEN_FDS_MAX)
    return none(`LISTEN_FDS=${JSON.stringify(count)} is not a number of fds from 0 to ${LISTEN_FDS_MAX}`);
  const n = Number(count);
  if (n === 0) return none('LISTEN_FDS=0: systemd passed no socket');
  const list = names === undefined ? new Array<string>(n).fill('unknown') : names.split(':');
  if (list.length !== n) return none(`LISTEN_FDNAMES names ${list.length} fds, but LISTEN_FDS=${n}`);
  return { fds: list.map((name, i) => ({ fd: LISTEN_FDS_START + i, name })), problem: null };
}

/**
 * The fd to serve: the one named `name`, or, without a name, the only one passed. Throws
 * ERR_SYSTEMD_SOCKET when there is none, ERR_INVALID_OPTION when the choice is not unique.
 */
export function pickFd(passed: ListenFds, name: string | undefined): PassedFd {
  if (passed.problem !== null) throw new TransportError(ErrorCodes.SYSTEMD_SOCKET, `fromSystemd(): no socket to serve: ${passed.problem}.`);
  const all = passed.fds;
  const names = [...new Set(all.map((p) => JSON.stringify(p.name)))].join(', ');
  const matches = name === undefined ? all : all.filter((p) => p.name === name);
  if (matches.length === 0) {
    throw new TransportError(
      ErrorCodes.SYSTEMD_SOCKET,
      `fromSystemd(): systemd passed no socket named ${JSON.stringify(name)}; the names passed are ${names}.`,
    );
  }
  if (matches.length > 1) {
    throw new TransportError(
      ErrorCodes.INVALID_OPTION,
      name === undefined
        ? `fromSystemd(): systemd passed ${all.length} fds (named ${names}); say which to serve with { name }.`
        : `fromSystemd(): systemd passed ${matches.length} fds named ${JSON.stringify(name)} (fds ${matches.map((p) => p.fd).join(', ')}); give each its own FileDescriptorName= (or FDNAME=).`,
    );
  }
  const picked = matches[0];
  if (taken.has(picked.fd)) {
    throw new TransportError(
      ErrorCodes.INVALID_STATE,
      `fromSystemd(): fd ${picked.fd} (${JSON.stringify(picked.name)}) is served already, by an earlier fromSystemd() of this process.`,
    );
  }
  return picked;
}

/** `picked` is handed to a transport (which closes it when done): it cannot be taken again. */
export function markTaken(picked: PassedFd): void {
  taken.add(picked.fd);
}
