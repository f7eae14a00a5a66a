/**
 * Listener hand-off between processes: both sides of `handOff()` / `takeOver()` and the wire
 * format between them. UnixSocketTransport's methods are thin wrappers around this module,
 * which gets the transport class injected (a type-only import, so no import cycle).
 *
 * Wire, over an fdPassing connection to the old side's control socket; every line is at most
 * MAX_LINE bytes (a longer one is ERR_HANDOFF, so a peer cannot make the other side buffer
 * without bound) and each side waits at most HANDOFF_REPLY_MS for a line:
 * 1. old -> new: one JSON line, sent with the listening socket (SCM_RIGHTS):
 *    `{"plugsockHandOff":1,"path":"/run/app.sock","mode":432,"dev":"…","ino":"…","confirm":1}`
 * 2. new -> old: `ok` (it will serve on the socket) or `failed`.
 * 3. old -> new, after `ok`: it stops accepting and gives the name up, then sends `done` and
 *    hangs up. A header without `confirm` (plugsock 0.1) means the hang-up itself is `done`.
 * Then the successor starts accepting: between the two, clients wait in the backlog.
 *
 * The old side survives anything a taker does: a taker that hangs up, stalls, sends garbage or
 * answers anything but `ok` is dropped, and handOff() keeps serving and waits for the next one.
 * The successor closes every fd it received on every failure, and removes on close() only a
 * file it has proved to be the received socket (`NameCheck`), never one the header just names.
 */
import { closeSync, fstatSync, openSync, readFileSync, constants as fsConstants } from 'node:fs';
import type * as net from 'node:net';
import type { Duplex } from 'node:stream';
import { addon, type Binding } from './addon';
import type { Claim } from './claim';
import { ErrorCodes, TransportError } from './errors';
import { closeFds } from './fd-helpers';
import { normalizeUnixPath } from './path';
import type { PeerCredentials } from './peer';
import type {
  HandOffOptions,
  PeerFdStream,
  TakeOverOptions,
  UnixSocketTransport,
  UnixSocketTransportOptions,
} from './transport';

/** How long either side waits for the other's next line. */
const HANDOFF_REPLY_MS = 10_000;
/** The longest line either side reads (the header is a path and four numbers). */
const MAX_LINE = 4096;
/** How long the successor keeps an eye out for its own two probe connections (`NameCheck`). */
const PROBE_SWALLOW_MS = 1000;

/** Makes the transports that carry the hand-off (the control socket, its client, the successor). */
export type MakeTransport = (options: UnixSocketTransportOptions) => UnixSocketTransport;

// ---------------------------------------------------------------------------------------------
// The wire format.

interface HandOffHeader {
  path: string;
  mode: number;
  /** Identity of the published socket file (decimal strings on the wire: 64-bit values). */
  dev: bigint;
  ino: bigint;
  /** The old side sends `done` after `ok` (absent from plugsock 0.1's header). */
  confirm: boolean;
}

function encodeHandOff(header: Omit<HandOffHeader, 'confirm'>): Buffer {
  const { path, mode, dev, ino } = header;
  return Buffer.from(`${JSON.stringify({ plugsockHandOff: 1, path, mode, dev: String(dev), ino: String(ino), confirm: 1 })}\n`);
}

function decodeHandOff(line: string): HandOffHeader {
  try {
    const h = JSON.parse(line) as Record<string, unknown>;
    const decimal = (v: unknown) => typeof v === 'string' && /^\d{1,20}$/.test(v);
    const mode = h.mode as number;
    if (h.plugsockHandOff === 1 && typeof h.path === 'string' && Number.isInteger(mode) && mode >= 0 && mode <= 0o777 && decimal(h.dev) && decimal(h.ino)) {
      return { path: normalizeUnixPath(h.path), mode, dev: BigInt(h.dev as string), ino: BigInt(h.ino as string), confirm: h.confirm === 1 };
    }
  } catch {
    // fall through
  }
  throw handOffError(`The hand-off message was not understood: ${JSON.stringify(line.slice(0, 200))}.`);
}

function handOffError(message: string, cause?: unknown): TransportError {
  return new TransportError(ErrorCodes.HANDOFF, message, cause === undefined ? {} : { cause });
}

/**
 * Reads one newline-terminated line of at most MAX_LINE bytes, and puts back whatever came
 * after it. Resolves null when the other side hangs up before sending a byte of it. Rejects
 * with ERR_HANDOFF on a hang-up in mid-line, a longer line or the time-out, and with the abort
 * reason when `signal` fires.
 */
function readLine(stream: Duplex, timeoutMs: number, signal?: AbortSignal): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const onData = (chunk: Buffer) => {
      const nl = chunk.indexOf(10);
      if (nl < 0) {
        chunks.push(chunk);
        length += chunk.length;
        if (length > MAX_LINE) finish(handOffError(`The other process sent a hand-off line longer than ${MAX_LINE} bytes.`));
        return;
      }
      if (length + nl > MAX_LINE) return finish(handOffError(`The other process sent a hand-off line longer than ${MAX_LINE} bytes.`));
      chunks.push(chunk.subarray(0, nl));
      finish(null, Buffer.concat(chunks).toString('utf8'), chunk.subarray(nl + 1));
    };
    const onHangUp = () => {
      if (length === 0) return finish(null, null);
      const seen = Buffer.concat(chunks).toString('utf8').slice(0, 200);
      finish(handOffError(`The other process hung up in the middle of a hand-off line (after ${JSON.stringify(seen)}).`));
    };
    const onAbort = () => finish(signal!.reason as Error);
    const timer = setTimeout(() => finish(handOffError(`No hand-off line within ${timeoutMs} ms.`)), timeoutMs);
    const finish = (err: Error | null, line?: string | null, rest?: Buffer) => {
      clearTimeout(timer);
      stream.off('data', onData);
      stream.off('end', onHangUp);
      stream.off('close', onHangUp);
      stream.off('error', onHangUp);
      signal?.removeEventListener('abort', onAbort);
      stream.pause();
      if (rest && rest.length > 0) stream.unshift(rest);
      if (err) reject(err);
      else resolve(line ?? null);
    };
    if (signal?.aborted) return finish(signal.reason as Error);
    signal?.addEventListener('abort', onAbort, { once: true });
    stream.on('data', onData);
    stream.once('end', onHangUp);
    stream.once('close', onHangUp);
    stream.once('error', onHangUp);
    // A 'data' listener alone does not restart a stream that an earlier readLine paused.
    stream.resume();
  });
}

/** Writes one line; rejects with ERR_HANDOFF when the other side is gone. */
function writeLine(stream: Duplex, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (stream.destroyed || stream.writableEnded) return reject(handOffError('The other process hung up during the hand-off.'));
    stream.write(`${line}\n`, (err) => (err ? reject(handOffError(`The other process hung up during the hand-off (${err.message}).`, err)) : resolve()));
  });
}

/** Rejects with `signal.reason` once it fires; otherwise settles as `promise`. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

const ignore = (): void => {};

// ---------------------------------------------------------------------------------------------
// The old side: handOff().

/** What the old side hands over, and how it lets go. */
export interface Handing {
  path: string;
  mode: number;
  dev: bigint;
  ino: bigint;
  server: net.Server;
  /**
   * Called once, when a successor has answered `ok`: stop accepting and give the name up.
   * Resolves when the connections accepted here have all closed.
   */
  letGo(): Promise<void>;
}

/**
 * Offers `handing` on the control socket `control` to one taker after another until one
 * answers `ok`. Resolves `{ drained }` (the promise of letGo()) once the control socket is
 * closed and its file removed; rejects with `signal.reason` when aborted (close()), also after
 * closing the control socket.
 */
export async function offerListener(
  control: string,
  options: HandOffOptions,
  handing: Handing,
  make: MakeTransport,
  signal: AbortSignal,
): Promise<{ drained: Promise<void> }> {
  const controlTransport = make({
    path: control,
    mode: options.mode ?? 0o600,
    native: 'require',
    peer: options.peer ?? { sameUser: true },
    fdPassing: true,
  });
  const takers = new Takers(controlTransport);
  try {
    await untilAborted(controlTransport.listen(), signal);
    for (;;) {
      const handed = await offerTo(await takers.next(signal), handing, signal);
      if (handed) return handed;
    }
  } finally {
    await controlTransport.close();
  }
}

/** One taker: the listener goes, and the reply decides. Null when this taker failed. */
async function offerTo(stream: PeerFdStream, handing: Handing, signal: AbortSignal): Promise<{ drained: Promise<void> } | null> {
  let reply: string | null = null;
  try {
    await stream.sendFds([serverFd(handing.server)], encodeHandOff(handing));
    reply = await readLine(stream, HANDOFF_REPLY_MS, signal);
  } catch {
    // A hang-up (EPIPE), a stall, an overlong line: this taker is dropped, the next may come.
  }
  if (reply !== 'ok' || signal.aborted) {
    stream.destroy();
    if (signal.aborted) throw signal.reason;
    return null;
  }
  // The successor serves from here on: stop accepting, then tell it so.
  const drained = handing.letGo();
  await new Promise<void>((resolve) => stream.write('done\n', () => resolve()));
  stream.destroy();
  return { drained };
}

/** Control connections in arrival order; each is an fdPassing stream whose errors are ours. */
class Takers {
  #waiting: PeerFdStream[] = [];
  #wake: (() => void) | null = null;

  constructor(control: UnixSocketTransport) {
    control.on('connection', (stream: PeerFdStream) => {
      // Failures show up in sendFds/readLine; without a listener an EPIPE would crash the host.
      stream.on('error', ignore);
      this.#waiting.push(stream);
      this.#wake?.();
    });
  }

  async next(signal: AbortSignal): Promise<PeerFdStream> {
    for (;;) {
      const stream = this.#waiting.shift();
      if (stream && !stream.destroyed) return stream;
      if (!stream) await untilAborted(new Promise<void>((resolve) => (this.#wake = resolve)), signal);
    }
  }
}

/**
 * The claim of a listener received from another process before (or without) proof that the file
 * at its path is its own: release() removes nothing.
 */
export function borrowedClaim(server: net.Server): Claim {
  return { server, dev: 0n, ino: 0n, release: ignore, forget: ignore };
}

function serverFd(server: net.Server): number {
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new TransportError(ErrorCodes.INVALID_STATE, 'The listener has no file descriptor (already closed).');
  return fd;
}

// ---------------------------------------------------------------------------------------------
// The successor: takeOver().

/** What takeOver() may do to the transport it makes (private to UnixSocketTransport). */
export interface Successor {
  /** Serve on the received listening fd (owned from here on), removing no file on close. */
  adopt(fd: number): Promise<void>;
  /** The file at the transport's path is proved to be (dev, ino) of this socket: remove it on close. */
  own(dev: bigint, ino: bigint): void;
  /** Accepted connections for which `filter` returns true are closed unseen; null: none. */
  filterAccepted(filter: ((peer: PeerCredentials) => boolean) | null): void;
}

/**
 * Takes over the listener offered on `control` and resolves a transport serving on it. After
 * the successor has adopted the socket nothing waits on I/O before resolving, so the caller's
 * 'connection' listener is in place before the first connection is accepted.
 */
export async function takeOverListener(
  control: string,
  options: TakeOverOptions,
  make: MakeTransport,
  successorOf: (transport: UnixSocketTransport) => Successor,
): Promise<UnixSocketTransport> {
  const { handOffPeer, ...transportOptions } = options;
  const client = make({ native: 'require', connectTimeoutMs: options.connectTimeoutMs });
  let taken: { header: HandOffHeader; fd: number; transport: UnixSocketTransport };
  try {
    const stream = await client.connect(control, { fdPassing: true, peer: handOffPeer ?? { sameUser: true } });
    stream.on('error', ignore); // failures show up in readLine/writeLine
    taken = await takeFrom(stream, (header) => make({ ...transportOptions, path: header.path, mode: header.mode }));
  } finally {
    await client.close();
  }
  return serveTaken(taken, successorOf(taken.transport));
}

/**
 * Steps 1 to 3 of the wire format. On any failure every received fd is closed, and the old
 * side, if still there, hears `failed` (or the hang-up) and keeps serving.
 */
async function takeFrom(stream: PeerFdStream, makeTransport: (header: HandOffHeader) => UnixSocketTransport) {
  const { header, fd } = await receiveOffer(stream);
  let replied = false;
  try {
    checkListener(fd);
    const transport = makeTransport(header);
    replied = true;
    await writeLine(stream, 'ok');
    await doneOf(stream, header.confirm);
    return { header, fd, transport };
  } catch (err) {
    closeFds([fd]);
    if (!replied) await writeLine(stream, 'failed').catch(ignore);
    throw err;
  }
}

/** Step 1: the header and exactly one fd with it; every fd received is closed on failure. */
async function receiveOffer(stream: PeerFdStream): Promise<{ header: HandOffHeader; fd: number }> {
  const fds: number[] = [];
  const onFds = (received: number[]) => fds.push(...received);
  stream.on('fds', onFds);
  try {
    const line = await readLine(stream, HANDOFF_REPLY_MS);
    if (line === null) throw handOffError('The process handing over hung up before sending anything.');
    const header = decodeHandOff(line);
    if (fds.length !== 1) throw handOffError(`Expected one listening socket with the hand-off message, got ${fds.length} fds.`);
    return { header, fd: fds[0] };
  } catch (err) {
    closeFds(fds);
    throw err;
  } finally {
    // Any fd that comes later is closed by the stream (no 'fds' listener).
    stream.off('fds', onFds);
  }
}

/**
 * Step 3: the old side has stopped accepting. It says so with `done` (then hangs up), or, for a
 * plugsock 0.1 old side (no `confirm` in the header), by hanging up.
 */
async function doneOf(stream: PeerFdStream, confirm: boolean): Promise<void> {
  const line = await readLine(stream, HANDOFF_REPLY_MS);
  if (line === (confirm ? 'done' : null)) return;
  throw handOffError(
    line === null
      ? 'The process handing over hung up without confirming that it stopped accepting; it may still serve, so this one does not.'
      : `The process handing over answered ${JSON.stringify(line.slice(0, 200))} after ok, not done.`,
  );
}

/** Serves on the received socket, and owns its name only if NameCheck proves it. */
async function serveTaken(taken: { header: HandOffHeader; fd: number; transport: UnixSocketTransport }, successor: Successor): Promise<UnixSocketTransport> {
  const { header, fd, transport } = taken;
  // Without the addon the transport cannot tell its own probes from clients: nothing to prove.
  const check = NameCheck.before(addon()!, fd, header, transport.socketMaker === 'native' ? null : 'the transport does not use the native addon');
  try {
    try {
      await successor.adopt(fd);
    } catch (err) {
      await transport.close();
      throw err;
    }
    // Nothing is accepted before this function returns (no I/O is awaited from here on), so
    // the two probe connections are still queued when the filter is set.
    const unproved = check.after();
    if (unproved === null) {
      successor.own(header.dev, header.ino);
      swallowProbes(successor, 2);
    } else {
      process.emitWarning(
        `takeOver(): serving on the listener received for ${header.path}, but that file could not be proved to be this socket (${unproved}); close() will not remove it.`,
        { code: 'PLUGSOCK_HANDOFF_UNVERIFIED' },
      );
    }
    return transport;
  } finally {
    check.close();
  }
}

/**
 * Closes, unseen, the first `count` connections this very process makes to its socket: the
 * probes of NameCheck. They were queued before anything the caller can connect; if another
 * process accepted them instead, the filter lapses after PROBE_SWALLOW_MS.
 */
function swallowProbes(successor: Successor, count: number): void {
  let left = count;
  const timer = setTimeout(() => successor.filterAccepted(null), PROBE_SWALLOW_MS).unref();
  successor.filterAccepted((peer) => {
    if (peer.pid !== process.pid) return false;
    if (--left === 0) {
      clearTimeout(timer);
      successor.filterAccepted(null);
    }
    return true;
  });
}

/** /proc/net/unix flag of a listening socket (__SO_ACCEPTCON), and SOCK_STREAM. */
const SO_ACCEPTCON = 0x10000;
const SOCK_STREAM = 1;

/**
 * Throws ERR_HANDOFF unless `fd` is a listening AF_UNIX stream socket. Linux asks the kernel's
 * table of Unix sockets (/proc/self/net/unix: only AF_UNIX sockets are in it, with their type
 * and listening flag); elsewhere the fd must at least be a socket.
 */
function checkListener(fd: number): void {
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
    if ((parseInt(f[3], 16) & SO_ACCEPTCON) && parseInt(f[4], 16) === SOCK_STREAM) return;
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
 * in the socket's backlog; `swallowProbes` closes them unseen.
 */
class NameCheck {
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
    const fd = this.binding.connectUnix(`/proc/self/fd/${this.#pathFd}`);
    try {
      return peerPid(this.binding, fd);
    } finally {
      this.binding.closeFd(fd);
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
