/**
 * What the successor of a hand-off proves before it serves or removes anything: that the fd it
 * received is a listening Unix stream socket (`checkListener`), and that the file at the path
 * the header names is that very socket (`NameCheck`), or else it will never remove the file.
 */
import { closeSync, fstatSync, openSync, readFileSync, constants as fsConstants } from 'node:fs';
import type { Binding } from '../../addon';
import { type HandOffHeader, handOffError } from './wire';

/** /proc/net/unix flag of a listening socket (__SO_ACCEPTCON), and SOCK_STREAM. */
const SO_ACCEPTCON = 0x10000;
const SOCK_STREAM = 1;

/**
 * Throws ERR_HANDOFF unless `fd` is a listening AF_UNIX stream socket. Linux asks the kernel's
 * table of Unix sockets (/proc/self/net/unix: only AF_UNIX sockets are in it, with their type
 * and listening flag); elsewhere the fd must at least be a socket.
 */
export function checkListener(fd: number): void {
  const st = fstatSync(fd, { bigint: true });
  if (!st.isSocket()) throw handOffError('The fd received with the hand-off message is not a socket.');
  let table: string;
  try {
    table = readFileSync('/proc/self/net/unix', 'latin1');
  } catch {
    if (process.platform !== 'linux') return;
    throw handOffError('Cannot tell what the received fd is: /proc/self/net/unix is not readable.');
  }
  const ino = String(st.ino);
  for (const line of table.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[6] !== ino) continue;
    if (parseInt(f[3], 16) & SO_ACCEPTCON && parseInt(f[4], 16) === SOCK_STREAM) return;
    throw handOffError('The fd received with the hand-off message is a Unix socket, but not a listening stream socket.');
  }
  throw handOffError('The fd received with the hand-off message is not a Unix-domain socket (of this network namespace).');
}

/** open(2) flags for an fd that only names a file (Linux; the value of every arch Node runs on). */
const O_PATH = 0o10000000;

/**
 * Proves that the file at `header.path` is the received listening socket, with the kernel's
 * record of which process last called listen() on a socket: a connection to it reports that
 * process (SO_PEERCRED, Linux). The file is opened O_PATH|O_NOFOLLOW, must be a socket with the
 * header's (dev, ino), and is connected to through /proc/self/fd, so each probe reaches that
 * very inode whatever happens to the name. Before this process adopts the received socket the
 * probe must report the process that last listened on it (not this one); after adopting it (libuv
 * calls listen()), this one. Another socket of this process would report this process before;
 * another process's socket would not report this process after. Two probe connections end up
 * in the socket's backlog; `swallowProbes` (take.ts) closes them unseen.
 */
export class NameCheck {
  #pathFd: number | null = null;
  #problem: string | null = null;

  private constructor(private readonly binding: Binding) {}

  /** Everything up to the first probe; call before adopting `fd`. `blocker`: why not to try. */
  static before(binding: Binding, fd: number, header: HandOffHeader, blocker: string | null): NameCheck {
    const check = new NameCheck(binding);
    try {
      check.#problem = blocker ?? check.#before(fd, header);
    } catch (err) {
      check.#problem = (err as Error).message;
    }
    return check;
  }

  #before(fd: number, header: HandOffHeader): string | null {
    if (process.platform !== 'linux') return 'only Linux records who listens on a socket';
    const listener = peerPid(this.binding, fd);
    if (listener === process.pid) return 'it was handed over within this process';
    this.#pathFd = openSync(header.path, O_PATH | fsConstants.O_NOFOLLOW);
    const st = fstatSync(this.#pathFd, { bigint: true });
    if (!st.isSocket()) return 'it is not a socket';
    if (st.dev !== header.dev || st.ino !== header.ino) return 'its (dev, ino) is not the one the old process sent';
    if (this.#probe() !== listener) return 'it is another socket';
    return null;
  }

  /** The second probe, after adopting: null when proved, else what failed. */
  after(): string | null {
    if (this.#problem !== null) return this.#problem;
    try {
      return this.#probe() === process.pid ? null : 'it is another socket';
    } catch (err) {
      return (err as Error).message;
    }
  }

  /** The pid the socket at the path reports to a connection (who last called listen()). */
  #probe(): number {
    const fd = this.binding.socketConnect(`/proc/self/fd/${this.#pathFd}`);
    try {
      return peerPid(this.binding, fd);
    } finally {
      this.binding.fdClose(fd);
    }
  }

  close(): void {
    if (this.#pathFd !== null) closeSync(this.#pathFd);
    this.#pathFd = null;
  }
}

/** SO_PEERCRED's pid: of the peer for a connection, of the last listen() for a listener. */
function peerPid(binding: Binding, fd: number): number {
  if (binding.peerCredInto) {
    const out = new Int32Array(3);
    binding.peerCredInto(fd, out);
    return out[0];
  }
  return binding.peerCred(fd).pid;
}
