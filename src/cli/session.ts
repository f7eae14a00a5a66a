/**
 * One connection between stdio and a socket, as `nc -N` and socat do it: stdin to the socket
 * and the socket to stdout, each with backpressure; stdin's end shuts down our sending side
 * (half-close) while the peer's data is still read to its end; the session is over when both
 * directions are (the socket closes: net's allowHalfOpen must be on).
 *
 * When the peer's EOF comes while we can still send, a zero-byte write tells a half-close (the
 * peer still reads: keep sending) from a full close (the kernel has shut our sending side too:
 * EPIPE), as nc's POLLHUP does; after a half-close it is asked again every 200 ms, since a full
 * close then wakes nothing. That, and what had been exchanged by then, is what tells a refusal
 * apart (see `classify`).
 */
import { writeSync } from 'node:fs';
import type { Duplex, Writable } from 'node:stream';
import { FdStream } from '../fd-stream';
import { status } from './exit';
import { hexDump, reportFds } from './output';
import type { StdinFeed } from './stdin-feed';

export interface SessionOptions {
  /** The connection's number, `#1` in status lines; null for connect's one connection (no number). */
  id: number | null;
  /** Who is on the other end, in messages. */
  peerName: 'server' | 'client';
  verbose: boolean;
  feed: StdinFeed;
  out: Writable;
  /** stdin is a terminal: say when the peer is done and Ctrl-D would end ours. */
  interactive: boolean;
}

export interface SessionEnd {
  received: number;
  sent: number;
  /**
   * done: both directions ended. closed: the peer closed the whole connection while we could
   * still send, after an exchange. refused: it closed before anything was exchanged, or
   * without reading anything (what a refusal looks like: see `classify`). failed: the
   * connection broke.
   */
  outcome: 'done' | 'closed' | 'refused' | 'failed';
  /** What happened, for the status line (not for done). */
  message: string;
}

const EMPTY = Buffer.alloc(0);
/** How often a half-closed peer is asked whether it closed the rest (one system call). */
const HANG_UP_POLL_MS = 200;

/** Pipes stdio through `conn` until it closes; never rejects. */
export function runSession(conn: Duplex, options: SessionOptions): Promise<SessionEnd> {
  const { id, verbose, feed, out, peerName } = options;
  // What starts each of this connection's lines: `#1 ` (listen), or nothing (connect).
  const tag = id === null ? '' : `#${id} `;
  let received = 0;
  let sent = 0;
  let error: NodeJS.ErrnoException | null = null;
  let hungUp = false;

  conn.on('data', (chunk: Buffer) => {
    if (verbose) hexDump(`${tag}<`, chunk, received);
    received += chunk.length;
  });
  conn.pipe(out, { end: false });
  if (conn instanceof FdStream) conn.on('fds', (fds: number[]) => reportFds(tag, fds));
  feed.attach(conn, (chunk) => {
    if (verbose) hexDump(`${tag}>`, chunk, sent);
    sent += chunk.length;
  });
  conn.on('error', (err: NodeJS.ErrnoException) => {
    error ??= err;
  });
  // After the peer's EOF, while we still send: has it closed the whole connection since? The
  // kernel tells nothing of a full close that follows a half-close, so it is asked again.
  let watch: NodeJS.Timeout | undefined;
  const checkHangUp = (): boolean => {
    // With bytes still queued, their write fails (EPIPE) and says so: they were read from stdin.
    if (conn.writableEnded || conn.destroyed || conn.writableLength > 0) return false;
    if (!peerHungUp(conn)) return false;
    // Nobody reads what we would still send: the session is over.
    hungUp = true;
    conn.destroy();
    return true;
  };
  conn.on('end', () => {
    if (verbose) status(`${tag}the ${peerName} finished sending (${received} bytes received)`);
    if (conn.writableEnded || conn.destroyed || checkHangUp()) return;
    if (options.interactive) status(`${tag}the ${peerName} finished sending; Ctrl-D ends yours`);
    watch = setInterval(checkHangUp, HANG_UP_POLL_MS).unref();
  });

  return new Promise((resolve) => {
    conn.once('close', () => {
      clearInterval(watch);
      feed.detach(conn);
      conn.unpipe(out);
      const end = classify(peerName, received, sent, error, hungUp);
      if (verbose) status(`${tag}closed: ${received} bytes received, ${sent} bytes sent`);
      resolve(end);
    });
  });
}

/**
 * What the end of a connection means. A listener whose peer policy refuses a client closes
 * it unread: the client sees its bytes refused (ECONNRESET: they were unread; EPIPE: written
 * after the close) or, when it had sent none, a full close. Both with nothing received. A
 * server that closes early for another reason looks the same, and a client that sent nothing
 * and had ended its side first sees an ordinary end: the messages say so.
 */
function classify(peer: SessionOptions['peerName'], received: number, sent: number, error: NodeJS.ErrnoException | null, hungUp: boolean): SessionEnd {
  const counts = { received, sent };
  if (error) {
    const code = error.code ?? error.message;
    if (received === 0 && (code === 'ECONNRESET' || code === 'EPIPE')) {
      return {
        ...counts,
        outcome: 'refused',
        message: `the ${peer} closed the connection before sending anything, without reading what was sent to it (${code}): its peer policy refuses us, or it stopped early`,
      };
    }
    const why =
      code === 'ECONNRESET'
        ? `the ${peer} closed it before reading all that was sent`
        : code === 'EPIPE'
          ? `the ${peer} closed it while data was still being sent`
          : error.message;
    return { ...counts, outcome: 'failed', message: `connection lost after ${received} bytes received, ${sent} sent: ${why} (${code})` };
  }
  if (hungUp && received === 0 && sent === 0) {
    return {
      ...counts,
      outcome: 'refused',
      message:
        peer === 'server'
          ? 'the server closed the connection before either side sent anything, as a listener whose peer policy refuses us does'
          : 'the client closed the connection before either side sent anything (a liveness probe, or a client whose own policy refuses this server)',
    };
  }
  if (hungUp) {
    return { ...counts, outcome: 'closed', message: `the ${peer} closed the connection while stdin was open` };
  }
  return { ...counts, outcome: 'done', message: '' };
}

/** How long a session the peer closed early waits to see whether stdin had more (`cutShort`). */
const LEFTOVER_WAIT_MS = 500;

/**
 * A session that served its purpose: one the peer closed while stdin was open ('closed') is a
 * failure when stdin had more to send (that input was lost), so that a cut transfer never
 * exits 0; others are as they ended.
 */
export async function cutShort(end: SessionEnd, feed: StdinFeed, peer: SessionOptions['peerName']): Promise<SessionEnd> {
  if (end.outcome !== 'closed') return end;
  const left = await feed.leftover(LEFTOVER_WAIT_MS);
  if (left === 0) return end;
  return { ...end, outcome: 'failed', message: `the ${peer} closed the connection before the end of stdin: at least ${left} bytes of it were not sent` };
}

/**
 * Whether the peer has closed the whole connection rather than only its sending side; null
 * when it cannot be asked. Only meaningful while our own sending side is open: a zero-byte
 * write fails with EPIPE exactly when the kernel has shut it (the peer closed), sends nothing
 * and never blocks. It is made on the fd, synchronously: an FdStream skips empty writes, and
 * net's would answer only later.
 */
function peerHungUp(conn: Duplex): boolean | null {
  const fd = conn instanceof FdStream ? conn.fd : (conn as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) return null;
  try {
    writeSync(fd, EMPTY);
    return false;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'EPIPE' || code === 'ECONNRESET' ? true : null;
  }
}
