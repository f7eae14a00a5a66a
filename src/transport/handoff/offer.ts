/**
 * The old side of a hand-off (handOff()): the listener is offered on a control socket to one
 * taker after another, until one answers `ok` (wire.ts).
 */
import type * as net from 'node:net';
import { ErrorCodes, TransportError } from '../../errors';
import type { HandOffOptions } from '../options';
import type { PeerFdStream } from '../types';
import type { Handing, HandOffTransport, MakeTransport } from './types';
import { HANDOFF_REPLY_MS, encodeHandOff, ignore, readLine, untilAborted } from './wire';

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
  let successor: PeerFdStream | null = null;
  try {
    await untilAborted(controlTransport.listen(), signal);
    for (;;) {
      const handed = await offerTo(await takers.next(signal), handing, signal);
      if (handed) {
        successor = handed.stream;
        return { drained: handed.drained };
      }
    }
  } finally {
    // The control socket's name goes before the successor hears the hang-up that ends the
    // hand-off: it serves from then on, and may at once offer the next hand-off on this path.
    try {
      await controlTransport.close();
    } finally {
      successor?.destroy();
    }
  }
}

/**
 * One taker: the listener goes, and the reply decides. Null when this taker failed; else the
 * taker's stream, `done` sent and still open (the caller hangs up), and the letGo() promise.
 */
async function offerTo(stream: PeerFdStream, handing: Handing, signal: AbortSignal): Promise<{ drained: Promise<void>; stream: PeerFdStream } | null> {
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
  return { drained, stream };
}

/** Control connections in arrival order; each is an fdPassing stream whose errors are ours. */
class Takers {
  #waiting: PeerFdStream[] = [];
  #wake: (() => void) | null = null;

  constructor(control: HandOffTransport) {
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

function serverFd(server: net.Server): number {
  const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new TransportError(ErrorCodes.INVALID_STATE, 'The listener has no file descriptor (already closed).');
  return fd;
}
