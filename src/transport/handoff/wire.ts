/**
 * Listener hand-off between processes (`handOff()` / `takeOver()`): the wire format between the
 * two sides. The old side is offer.ts, the successor take.ts, and what the successor proves
 * about what it received proof.ts; the transport is handed in (types.ts), never imported.
 *
 * Wire, over an fdPassing connection to the old side's control socket; every line is at most
 * MAX_LINE bytes (a longer one is ERR_HANDOFF, so a peer cannot make the other side buffer
 * without bound) and each side waits at most HANDOFF_REPLY_MS for a line:
 * 1. old -> new: one JSON line, sent with the listening socket (SCM_RIGHTS):
 *    `{"plugsockHandOff":1,"path":"/run/app.sock","mode":432,"dev":"…","ino":"…","confirm":1}`
 * 2. new -> old: `ok` (it will serve on the socket) or `failed`.
 * 3. old -> new, after `ok`: it stops accepting and leaves the socket's name to the successor,
 *    sends `done`, removes its control socket, and only then hangs up. A header without
 *    `confirm` (plugsock 0.1) means the hang-up itself is `done`.
 * The successor starts accepting at the hang-up (at most HANGUP_AFTER_DONE_MS after `done`): in
 * between, clients wait in the backlog, and the control path is free for the successor's own
 * handOff() once it resolves.
 *
 * The old side survives anything a taker does: a taker that hangs up, stalls, sends garbage or
 * answers anything but `ok` is dropped, and handOff() keeps serving and waits for the next one.
 * The successor closes every fd it received on every failure, and removes on close() only a
 * file it has proved to be the received socket (`NameCheck`), never one the header just names.
 */
import type { Duplex } from 'node:stream';
import { ErrorCodes, TransportError } from '../../errors';
import { normalizeUnixPath } from '../../path';

/** How long either side waits for the other's next line. */
export const HANDOFF_REPLY_MS = 10_000;
/**
 * How long the successor waits, after `done`, for the old side to hang up. The old side has
 * stopped accepting by then, so clients wait in the backlog meanwhile: a short bound. An old
 * side hangs up right after removing its control socket; one that does not is not waited for.
 */
export const HANGUP_AFTER_DONE_MS = 1000;
/** The longest line either side reads (the header is a path and four numbers). */
const MAX_LINE = 4096;

export interface HandOffHeader {
  path: string;
  mode: number;
  /** Identity of the published socket file (decimal strings on the wire: 64-bit values). */
  dev: bigint;
  ino: bigint;
  /** The old side sends `done` after `ok` (absent from plugsock 0.1's header). */
  confirm: boolean;
}

export function encodeHandOff(header: Omit<HandOffHeader, 'confirm'>): Buffer {
  const { path, mode, dev, ino } = header;
  return Buffer.from(`${JSON.stringify({ plugsockHandOff: 1, path, mode, dev: String(dev), ino: String(ino), confirm: 1 })}\n`);
}

export function decodeHandOff(line: string): HandOffHeader {
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

export function handOffError(message: string, cause?: unknown): TransportError {
  return new TransportError(ErrorCodes.HANDOFF, message, cause === undefined ? {} : { cause });
}

/**
 * Reads one newline-terminated line of at most MAX_LINE bytes, and puts back whatever came
 * after it. Resolves null when the other side hangs up before sending a byte of it. Rejects
 * with ERR_HANDOFF on a hang-up in mid-line, a longer line or the time-out, and with the abort
 * reason when `signal` fires.
 */
export function readLine(stream: Duplex, timeoutMs: number, signal?: AbortSignal): Promise<string | null> {
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

/**
 * Resolves once the other side has hung up, or after `timeoutMs`: never rejects. Whatever it
 * still sends is dropped (flowing, no 'data' listener), so waiting costs no memory.
 */
export function hangUpOf(stream: Duplex, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    if (stream.readableEnded || stream.destroyed) return resolve();
    const finish = () => {
      clearTimeout(timer);
      stream.off('end', finish);
      stream.off('close', finish);
      stream.off('error', finish);
      resolve();
    };
    const timer = setTimeout(finish, timeoutMs);
    stream.once('end', finish);
    stream.once('close', finish);
    stream.once('error', finish);
    stream.resume();
  });
}

/** Writes one line; rejects with ERR_HANDOFF when the other side is gone. */
export function writeLine(stream: Duplex, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    if (stream.destroyed || stream.writableEnded) return reject(handOffError('The other process hung up during the hand-off.'));
    stream.write(`${line}\n`, (err) => (err ? reject(handOffError(`The other process hung up during the hand-off (${err.message}).`, err)) : resolve()));
  });
}

/** Rejects with `signal.reason` once it fires; otherwise settles as `promise`. */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

export const ignore = (): void => {};
