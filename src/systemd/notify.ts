/**
 * sd_notify: state messages to systemd (`READY=1`, `STOPPING=1`, `STATUS=…`) and fds for its fd
 * store, as one datagram to the AF_UNIX socket named by NOTIFY_SOCKET. Node cannot send
 * datagrams in the Unix domain, so the addon sends (notifySend, never blocking); a full queue
 * is tried again here, briefly, without holding up the event loop.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { addon } from '../addon';
import { ErrorCodes, TransportError, errnoKind, nativeRequired } from '../errors';

/** systemd reads notify messages into a buffer of this size (NOTIFY_BUFFER_MAX). */
export const NOTIFY_MESSAGE_MAX = 4096;
/** How long a message waits, at most, for room in systemd's queue (EAGAIN). */
const FULL_QUEUE_MS = 1000;
const RETRY_FIRST_MS = 1;
const RETRY_MAX_MS = 50;

/**
 * Where NOTIFY_SOCKET points, as notifySend takes it: a path, or a NUL and the name for
 * `@name` (abstract). null when the variable is unset or empty: not run by systemd (or not
 * with `Type=notify`/`NotifyAccess=`). Throws ERR_SYSTEMD_NOTIFY for forms plugsock cannot
 * reach (`vsock:`, relative paths).
 */
export function notifyAddress(): string | null {
  const target = process.env.NOTIFY_SOCKET;
  if (!target) return null;
  if (target.startsWith('/')) return target;
  if (target.startsWith('@') && target.length > 1) return `\0${target.slice(1)}`;
  throw new TransportError(
    ErrorCodes.SYSTEMD_NOTIFY,
    `NOTIFY_SOCKET=${JSON.stringify(target)} is not an absolute path or an @abstract name; plugsock sends to AF_UNIX notify sockets only (not vsock).`,
  );
}

/**
 * Sends `state` to systemd, as sd_notify(0, state) does: newline-separated `KEY=VALUE`
 * assignments, e.g. `'READY=1'`, `'STATUS=serving 12 clients'`, `'STOPPING=1'`.
 *
 * Resolves true once sent, false when NOTIFY_SOCKET is not set (the process was not started by
 * systemd, or not as a notify service), as sd_notify returns 0: a service can call it
 * unconditionally. Rejects with ERR_INVALID_OPTION for a malformed `state`, ERR_SYSTEMD_NOTIFY
 * when the socket cannot be reached or stays full for a second, ERR_NATIVE_REQUIRED without the
 * addon (only when NOTIFY_SOCKET is set). Needs no listening transport.
 */
export async function notify(state: string): Promise<boolean> {
  checkState(state);
  const target = notifyAddress();
  if (target === null) return false;
  await sendToSystemd(target, state, []);
  return true;
}

/** Throws ERR_INVALID_OPTION unless `state` is 1..4096 bytes of `KEY=VALUE` lines. */
function checkState(state: unknown): asserts state is string {
  let problem: string | null = null;
  if (typeof state !== 'string') problem = `must be a string, got ${state === null ? 'null' : typeof state}`;
  else if (Buffer.byteLength(state) > NOTIFY_MESSAGE_MAX) problem = `is ${Buffer.byteLength(state)} bytes, over the ${NOTIFY_MESSAGE_MAX} systemd reads`;
  else if (state.includes('\0')) problem = 'contains a NUL byte';
  else {
    const lines = state.split('\n').filter((line, i, all) => line !== '' || i < all.length - 1);
    const bad = lines.find((line) => !/^[A-Z0-9_]+=/.test(line));
    if (lines.length === 0) problem = 'is empty';
    else if (bad !== undefined) problem = `has the line ${JSON.stringify(bad.slice(0, 80))}, not KEY=VALUE (e.g. READY=1)`;
  }
  if (problem !== null) throw new TransportError(ErrorCodes.INVALID_OPTION, `notify(): the state ${problem}.`);
}

/**
 * One message to `target` (from notifyAddress), with `fds` (the caller's, not closed). A full
 * queue (EAGAIN) is tried again with backoff for up to a second; every other failure rejects
 * with ERR_SYSTEMD_NOTIFY at once.
 */
export async function sendToSystemd(target: string, message: string, fds: number[]): Promise<void> {
  const notifySend = addon()?.notifySend;
  if (!notifySend) throw nativeRequired('Sending to systemd (NOTIFY_SOCKET)', { unused: 'this build of it has no notifySend: rebuild it' });
  const shown = process.env.NOTIFY_SOCKET ?? target;
  const deadline = Date.now() + FULL_QUEUE_MS;
  let delay = RETRY_FIRST_MS;
  for (;;) {
    try {
      notifySend(target, message, fds);
      return;
    } catch (err) {
      const kind = errnoKind(err);
      if (kind !== 'busy') throw notifyError(err, shown, kind);
      if (Date.now() >= deadline) throw notifyError(err, shown, 'full');
    }
    await sleep(delay);
    delay = Math.min(delay * 2, RETRY_MAX_MS);
  }
}

function notifyError(err: unknown, shown: string, kind: string): TransportError {
  const code = (err as { code?: string }).code ?? String(err);
  const why =
    kind === 'full'
      ? `its queue stayed full for ${FULL_QUEUE_MS} ms`
      : kind === 'missing' || kind === 'refused'
        ? `nothing receives there (${code}): was the service stopped, or is NOTIFY_SOCKET left over from another process?`
        : kind === 'denied'
          ? `permission denied (${code}): this process may not write to it`
          : (err as Error).message;
  return new TransportError(ErrorCodes.SYSTEMD_NOTIFY, `Cannot send to systemd at NOTIFY_SOCKET=${shown}: ${why}.`, { cause: err });
}
