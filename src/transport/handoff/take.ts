/**
 * The successor of a hand-off (takeOver()): it receives the listener and the header (wire.ts),
 * answers, waits until the old side has stopped accepting, then serves on the socket, and owns
 * its name only once proof.ts has proved the file at the path to be that socket.
 */
import type * as net from 'node:net';
import { addon } from '../../addon';
import type { Claim } from '../../claim';
import { closeFds } from '../../fd-helpers';
import { AbortError, abortError } from '../../errors';
import type { TakeOverOptions } from '../options';
import type { PeerFdStream } from '../types';
import { NameCheck, checkListener } from './proof';
import type { HandOffTransport, MakeTransport, Successor } from './types';
import { HANDOFF_REPLY_MS, HANGUP_AFTER_DONE_MS, type HandOffHeader, decodeHandOff, handOffError, hangUpOf, ignore, readLine, writeLine } from './wire';

/** How long the successor keeps an eye out for its own two probe connections (`NameCheck`). */
const PROBE_SWALLOW_MS = 1000;

/** What the successor holds once the old side has stopped accepting. */
interface Taken<T> {
  header: HandOffHeader;
  /** The listening socket received (owned: closed on every failure). */
  fd: number;
  /** The transport that is to serve on it (made, not yet serving). */
  transport: T;
}

/**
 * Takes over the listener offered on `control` and resolves a transport serving on it. After
 * the successor has adopted the socket nothing waits on I/O before resolving, so the caller's
 * 'connection' listener is in place before the first connection is accepted.
 *
 * `options.signal` aborts it until this side answers `ok` (the old side then keeps serving);
 * from `ok` on the old side stops accepting, so the hand-off must run to its end here.
 */
export async function takeOverListener<T extends HandOffTransport>(
  control: string,
  options: TakeOverOptions,
  make: MakeTransport<T>,
  successorOf: (transport: T) => Successor,
): Promise<T> {
  const { handOffPeer, signal, ...transportOptions } = options;
  const client = make({ native: 'require', connectTimeoutMs: options.connectTimeoutMs });
  let taken: Taken<T>;
  try {
    const stream = await client.connect(control, { fdPassing: true, peer: handOffPeer ?? { sameUser: true }, signal });
    stream.on('error', ignore); // failures show up in readLine/writeLine
    taken = await takeFrom(stream, (header) => make({ ...transportOptions, path: header.path, mode: header.mode }), signal);
  } catch (err) {
    // One AbortError for the whole call, whichever step it cut short (readLine rejects with the
    // signal's reason itself).
    if (signal?.aborted && (err instanceof AbortError || err === signal.reason)) throw abortError(signal, `takeOver() from ${control}`);
    throw err;
  } finally {
    await client.close();
  }
  return serveTaken(taken, successorOf(taken.transport));
}

/**
 * Steps 1 to 3 of the wire format. On any failure every received fd is closed, and the old
 * side, if still there, hears `failed` (or the hang-up) and keeps serving.
 */
async function takeFrom<T>(stream: PeerFdStream, makeTransport: (header: HandOffHeader) => T, signal: AbortSignal | undefined): Promise<Taken<T>> {
  const { header, fd } = await receiveOffer(stream, signal);
  let replied = false;
  try {
    checkListener(fd);
    const transport = makeTransport(header);
    // The last moment an abort can undo anything: after ok the old side stops accepting.
    if (signal?.aborted) throw abortError(signal, 'takeOver()');
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
async function receiveOffer(stream: PeerFdStream, signal: AbortSignal | undefined): Promise<{ header: HandOffHeader; fd: number }> {
  const fds: number[] = [];
  const onFds = (received: number[]) => fds.push(...received);
  stream.on('fds', onFds);
  try {
    const line = await readLine(stream, HANDOFF_REPLY_MS, signal);
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
 * Step 3: the old side has stopped accepting. It says so with `done`, then gives its control
 * socket up and hangs up, or, for a plugsock 0.1 old side (no `confirm` in the header), just
 * hangs up. After `done` the listener is this side's whatever comes: the hang-up is awaited
 * (so the control path is free for this side's own handOff()), for HANGUP_AFTER_DONE_MS at most.
 */
async function doneOf(stream: PeerFdStream, confirm: boolean): Promise<void> {
  const line = await readLine(stream, HANDOFF_REPLY_MS);
  if (!confirm && line === null) return;
  if (confirm && line === 'done') return hangUpOf(stream, HANGUP_AFTER_DONE_MS);
  throw handOffError(
    line === null
      ? 'The process handing over hung up without confirming that it stopped accepting; it may still serve, so this one does not.'
      : `The process handing over answered ${JSON.stringify(line.slice(0, 200))} after ok, not done.`,
  );
}

/** Serves on the received socket, and owns its name only if NameCheck proves it. */
async function serveTaken<T extends HandOffTransport>(taken: Taken<T>, successor: Successor): Promise<T> {
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

/**
 * The claim of a listener received from another process before (or without) proof that the file
 * at its path is its own: release() removes nothing.
 */
export function borrowedClaim(server: net.Server): Claim {
  return { server, dev: 0n, ino: 0n, release: ignore, forget: ignore };
}
