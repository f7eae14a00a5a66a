/**
 * A Duplex byte stream over a connected Unix stream socket that can also pass file descriptors
 * (SCM_RIGHTS) in both directions.
 *
 * libuv reads ordinary sockets with read(), which silently discards passed fds, so the native
 * FdChannel owns every read and write of the socket (recvmsg/sendmsg); this class adds Node's
 * stream semantics on top: backpressure, ordering of sendFds() with write(), half-close.
 */
import { Buffer } from 'node:buffer';
import { closeSync } from 'node:fs';
import { Duplex } from 'node:stream';
import { channels } from './diagnostics';
import { ChannelEvent, addon, type FdChannelConstructor, type FdChannelEvent, type FdChannelHandle } from './addon';
import { ErrorCodes, TransportError, isErrno, nativeRequired, type ErrnoKind } from './errors';
import { checkOptionKeys, optionKeys } from './options';

/** SCM_MAX_FD: the kernel refuses more fds in one message. */
export const MAX_FDS_PER_CALL = 253;

/**
 * The well-known symbols of `using` / `await using`; Node before 20.4 has neither, and Node's own
 * polyfill (18.18+, 20.4+) is these very registry symbols.
 */
const kDispose: typeof Symbol.dispose = Symbol.dispose ?? (Symbol.for('nodejs.dispose') as typeof Symbol.dispose);
const kAsyncDispose: typeof Symbol.asyncDispose = Symbol.asyncDispose ?? (Symbol.for('nodejs.asyncDispose') as typeof Symbol.asyncDispose);

/** Most buffers handed to one sendmsg (IOV_MAX). */
const MAX_IOV = 1024;

// The native side (FdChannel, its events: native/fd_channel*.cc) is typed in addon.ts with the
// rest of the binding: FdChannelHandle, ChannelEvent, FdChannelEvent.

/** Options of `new FdStream(fd, options)`; unknown keys are ERR_INVALID_OPTION. */
export interface FdStreamOptions<Peer = unknown> {
  /** Whatever the transport knows about the other side (e.g. peer credentials); kept as `peer`. */
  peer?: Peer;
  /** As for net.Socket: when false (the default) the stream ends its writable side once the
   * peer has ended its own. */
  allowHalfOpen?: boolean;
  /** As for any Readable: bytes buffered before reading pauses (Node's default). */
  readableHighWaterMark?: number;
  /** As for any Writable: bytes buffered before write() returns false (Node's default). */
  writableHighWaterMark?: number;
}

/** Every key of `FdStreamOptions` (a missing one does not compile); others are errors. */
export const FD_STREAM_OPTION_KEYS = optionKeys<FdStreamOptions>({
  peer: true,
  allowHalfOpen: true,
  readableHighWaterMark: true,
  writableHighWaterMark: true,
});

/** The `'fdsTruncated'` error: the kernel set MSG_CTRUNC and the fds of one message were lost. */
export interface FdsTruncatedError extends TransportError {
  /** How many fds of that message did arrive; they have been closed. */
  receivedCount: number;
}

/** Marks the Buffer that sendFds() writes, so _write/_writev know which fds travel with it. */
interface FdTag {
  fds: number[];
  /** A failure of this send alone (e.g. EBADF): the stream stays usable, the promise rejects. */
  error?: Error;
}
// A symbol property on a Buffer this module created, not a WeakMap: at 100k+ sends a second
// the WeakMap's ephemeron bookkeeping in every scavenge cost more than the send itself.
const kFdTag = Symbol('plugsock.fdTag');
type TaggedBuffer = Buffer & { [kFdTag]?: FdTag };
const tagOf = (chunk: Buffer): FdTag | undefined => (chunk as TaggedBuffer)[kFdTag];

// sendFds() without data sends one zero byte: views of one shared byte, so no allocation each.
const ZERO_BYTE = new ArrayBuffer(1);
const ONE_ZERO_BYTE = new Uint8Array(ZERO_BYTE);
const RESOLVED = Promise.resolve();

/** One sendmsg's worth: either a run of plain buffers, or one sendFds payload with its fds. */
interface WriteOp {
  bufs: Buffer[];
  fds: number[] | null;
  tag?: FdTag;
}

interface PendingWrite {
  ops: WriteOp[];
  cb: (err?: Error | null) => void;
}

/**
 * sendmsg failures that concern one message's fds, not the connection: nothing was sent.
 * EBADF, EINVAL, and ETOOMANYREFS (the sender has too many fds in flight: RLIMIT_NOFILE of
 * unreceived fds).
 */
const PER_MESSAGE: readonly ErrnoKind[] = ['bad-fd', 'invalid', 'too-many-refs'];

function loadChannel(): FdChannelConstructor {
  const ctor = addon()?.FdChannel;
  if (!ctor) throw nativeRequired('fd passing (Node cannot receive fds on an ordinary socket)');
  return ctor;
}

/** Closes received fds. Through the addon, not fs.closeSync: in a worker thread Node warns
 * about every fd that fs closes without having opened it. */
export function closeAll(fds: readonly number[]): void {
  const binding = addon();
  for (const fd of fds) {
    try {
      if (binding) binding.fdClose(fd);
      else closeSync(fd);
    } catch {
      // Already closed by whoever owned it; nothing else can be done for this fd.
    }
  }
}

/**
 * A connected Unix stream socket as a Duplex, with fd passing.
 *
 * Events, beyond Duplex's:
 * - `'fds' (fds: number[])`: fds received; emitted immediately before the `'data'` chunk that
 *   holds the first byte sent with them. That chunk holds no byte written after that payload
 *   (it may hold bytes written before it), so the fds belong to the last payload that starts in
 *   it. The listener owns the fds and must close them. Without an `'fds'` listener they are
 *   closed at once. Pairing by chunk holds for `'data'` in flowing mode; `read()` in paused mode
 *   may merge chunks, and with no `'data'` listener the bytes of one read wake-up go out as one
 *   chunk, after their fds (a `'data'` listener added meanwhile pairs from the next message on).
 * - `'fdsTruncated' (err: FdsTruncatedError)`: code `ERR_FDS_TRUNCATED`. The kernel could not
 *   deliver all fds of a message (the receiver hit RLIMIT_NOFILE, say). The fds that did arrive
 *   are closed, the bytes are still delivered, the stream stays open. This is deliberately not
 *   `'error'`: in Node `'error'` means the stream is dead (pipeline/finished tear down, an
 *   unhandled `'error'` crashes the process), while here the connection is fine. With no
 *   listener it becomes a process warning (`process.emitWarning`), so the loss is never silent.
 */
export class FdStream<Peer = unknown> extends Duplex {
  /** Whatever the creator passed as `options.peer`. */
  readonly peer: Peer | undefined;

  private channel: FdChannelHandle | null;
  /** The channel's id, which its write() takes (cheaper for the addon than `this`). */
  private readonly channelId: number;
  private pending: PendingWrite | null = null;
  private reading = false;

  /**
   * Takes ownership of `fd`, a connected AF_UNIX SOCK_STREAM socket (made non-blocking here).
   * If the constructor throws, the caller still owns `fd`. Unknown option keys throw
   * `ERR_INVALID_OPTION`.
   */
  constructor(fd: number, options: FdStreamOptions<Peer> = {}) {
    checkOptionKeys(options, FD_STREAM_OPTION_KEYS, '');
    super({
      allowHalfOpen: options.allowHalfOpen ?? false,
      readableHighWaterMark: options.readableHighWaterMark,
      writableHighWaterMark: options.writableHighWaterMark,
    });
    this.peer = options.peer;
    const Channel = loadChannel();
    this.channel = new Channel(fd, this.onChannelEvent);
    this.channelId = this.channel.id;
  }

  /** The socket's fd, or -1 once destroyed. Reading or writing it directly corrupts the stream. */
  get fd(): number {
    return this.channel ? this.channel.fd : -1;
  }

  /**
   * Sends `fds` with `data` (one zero byte when absent or empty), in order with every other
   * write on this stream, honouring backpressure. Resolves once the kernel has taken them. The
   * caller keeps its own fds (the receiver gets duplicates) and must keep them open until the
   * promise settles. Rejects with `ERR_TOO_MANY_FDS` beyond 253 fds, and with `EBADF` for a
   * closed or invalid fd, in which case nothing of this call was sent and the stream goes on.
   */
  sendFds(fds: readonly number[], data?: Uint8Array): Promise<void> {
    if (!Array.isArray(fds) || !fds.every((fd) => Number.isInteger(fd))) {
      return Promise.reject(new TransportError(ErrorCodes.INVALID_OPTION, 'sendFds(fds): fds must be an array of integers.'));
    }
    if (fds.length > MAX_FDS_PER_CALL) {
      return Promise.reject(
        new TransportError(
          ErrorCodes.TOO_MANY_FDS,
          `sendFds() got ${fds.length} fds; at most ${MAX_FDS_PER_CALL} travel in one message (SCM_MAX_FD). Split them over several calls.`,
        ),
      );
    }
    if (this.destroyed || this.writableEnded) {
      return Promise.reject(new TransportError(ErrorCodes.CLOSED, `sendFds() on a stream that is ${this.destroyed ? 'destroyed' : 'ended'}.`));
    }
    const payload = data && data.byteLength > 0 ? data : ONE_ZERO_BYTE;
    // Fast path: nothing is queued ahead (no buffered or in-flight write, not corked), so
    // sending now keeps the order, and skips Writable's bookkeeping and a Promise per call.
    if (this.channel && this.pending === null && this.writableLength === 0 && this.writableCorked === 0) {
      let sent: number;
      try {
        // One fd (the common case) without a spread: V8 calls the addon directly then.
        const id = this.channelId;
        sent = fds.length === 1 ? this.channel.write(id, payload, fds[0]) : this.channel.write(id, payload, ...fds);
      } catch (err) {
        if (isErrno(err, ...PER_MESSAGE)) return Promise.reject(err);
        this.destroy(err as Error);
        return Promise.reject(err);
      }
      if (sent > 0 && channels.fdsSent.hasSubscribers) channels.fdsSent.publish({ count: fds.length, bytes: payload.byteLength, stream: this });
      if (sent === payload.byteLength) return RESOLVED;
      if (sent > 0) {
        // The fds went with the first byte; the rest follows as plain bytes, first in line.
        const rest = Buffer.from(payload.buffer, payload.byteOffset + sent, payload.byteLength - sent);
        return new Promise<void>((resolve, reject) => this.write(rest, (err) => (err ? reject(err) : resolve())));
      }
      // EAGAIN: nothing went, fds included; queue the whole message.
    }
    // A Buffer object of our own (a view, not a copy) carries the tag: nobody else holds it.
    const buf: TaggedBuffer = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    const tag: FdTag = { fds: fds.slice() };
    buf[kFdTag] = tag;
    return new Promise<void>((resolve, reject) => {
      // Going through write() puts the fds in Writable's own queue: ordered with every write
      // before and after, corked with them, and counted against the high-water mark.
      this.write(buf, (err) => {
        const failure = tag.error ?? err;
        if (failure) reject(failure);
        else resolve();
      });
    });
  }

  /** `using stream = …`: destroys the stream (as `destroy()`), at once. */
  [kDispose](): void {
    this.destroy();
  }

  /**
   * `await using stream = …`: destroys the stream (as `destroy()`, without an error, unlike
   * Readable's own, which destroys with an AbortError) and resolves once it has closed.
   */
  override [kAsyncDispose](): Promise<void> {
    if (this.closed) return RESOLVED;
    const closed = new Promise<void>((resolve) => this.once('close', () => resolve()));
    this.destroy();
    return closed;
  }

  /** Like net.Socket#ref: keep the process alive while this stream waits for I/O (default). */
  ref(): this {
    this.channel?.ref();
    return this;
  }

  /** Like net.Socket#unref: let the process exit even though this stream is open. */
  unref(): this {
    this.channel?.unref();
    return this;
  }

  /** @internal Duplex's hook: starts reading from the channel. */
  override _read(): void {
    if (!this.reading && this.channel) {
      this.reading = true;
      this.channel.readStart();
    }
  }

  /** @internal Duplex's hook: one chunk (or one sendFds payload) to send. */
  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    const tag = tagOf(chunk);
    const ops: WriteOp[] = chunk.length > 0 ? [{ bufs: [chunk], fds: tag ? tag.fds : null, tag }] : [];
    this.startWrite({ ops, cb });
  }

  /** @internal Duplex's hook: buffered chunks, sent in as few sendmsg calls as their fds allow. */
  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    const ops: WriteOp[] = [];
    let plain: WriteOp | null = null;
    for (const { chunk } of chunks) {
      if (chunk.length === 0) continue;
      const tag = tagOf(chunk);
      if (tag) {
        // Alone in its sendmsg: then the kernel ends the receiver's read at the end of this
        // payload, which is what lets the receiver pair fds with bytes.
        ops.push({ bufs: [chunk], fds: tag.fds, tag });
        plain = null;
      } else {
        if (!plain || plain.bufs.length >= MAX_IOV) {
          plain = { bufs: [], fds: null };
          ops.push(plain);
        }
        plain.bufs.push(chunk);
      }
    }
    this.startWrite({ ops, cb });
  }

  /** @internal Duplex's hook: the writable side ended, so shut down sending (the peer sees EOF). */
  override _final(cb: (err?: Error | null) => void): void {
    try {
      this.channel?.shutdown();
    } catch (err) {
      // The peer already went away: there is nothing left to half-close.
      if (!isErrno(err, 'not-connected')) {
        cb(err as Error);
        return;
      }
    }
    cb();
  }

  /** @internal Duplex's hook: closes the channel and any fds still queued. */
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const channel = this.channel;
    this.channel = null;
    channel?.close();
    const pending = this.pending;
    this.pending = null;
    if (pending) {
      // As net.Socket does for a write in flight: its callback (and a sendFds promise) fails.
      const reason =
        err ??
        Object.assign(new Error('The stream was destroyed before this write completed.'), {
          code: 'ERR_STREAM_DESTROYED',
        });
      pending.cb(reason);
    }
    cb(err);
  }

  private startWrite(pending: PendingWrite): void {
    this.pending = pending;
    this.pump();
  }

  /** Sends as much of the pending write as the socket takes; resumes on 'writable'. */
  private pump(): void {
    const pending = this.pending;
    const channel = this.channel;
    if (!pending || !channel) return;
    const { ops } = pending;
    while (ops.length > 0) {
      const op = ops[0];
      let sent: number;
      try {
        const data = op.bufs.length === 1 ? op.bufs[0] : op.bufs;
        sent = op.fds === null ? channel.write(this.channelId, data) : channel.write(this.channelId, data, ...op.fds);
      } catch (err) {
        if (op.tag && op.fds && isErrno(err, ...PER_MESSAGE)) {
          // sendmsg failed whole: nothing of this sendFds went out, the byte stream is intact.
          op.tag.error = err as Error;
          ops.shift();
          continue;
        }
        this.pending = null;
        pending.cb(err as Error);
        return;
      }
      if (sent < 0) {
        // EAGAIN sent nothing, fds included: the same op (with its fds) is retried whole.
        channel.setWantWritable(true);
        return;
      }
      // Any byte sent carried the fds with it; the rest must go without them.
      if (op.fds !== null && channels.fdsSent.hasSubscribers) this.publishSent(op);
      op.fds = null;
      let i = 0;
      while (sent > 0) {
        const b = op.bufs[i];
        if (b.length <= sent) {
          sent -= b.length;
          i++;
        } else {
          op.bufs[i] = b.subarray(sent);
          sent = 0;
        }
      }
      if (i > 0) op.bufs.splice(0, i);
      if (op.bufs.length === 0) ops.shift();
    }
    this.pending = null;
    pending.cb();
  }

  private onChannelEvent = (...event: FdChannelEvent): void => {
    switch (event[0]) {
      case ChannelEvent.Data:
        this.onData(event[1], event[2]);
        break;
      case ChannelEvent.End:
        this.reading = false;
        this.push(null);
        break;
      case ChannelEvent.Error:
        this.destroy(event[1]);
        break;
      case ChannelEvent.Writable:
        this.pump();
        break;
    }
  };

  /**
   * One batch of messages (native/fd_channel_read.cc): `bytes` holds them back to back from 0;
   * `meta` is [n, (length, fds) x n, the fds...], where "fds" is message i's fd count, or
   * -1 - received when the kernel truncated them (MSG_CTRUNC; those received were closed).
   * `meta` is the channel's own array, rewritten by the next batch: read it before returning.
   *
   * A chunk ends after each message that came with fds (or lost them), so `'fds'` comes right
   * before the chunk that ends with their bytes; messages without fds join the next chunk.
   * Every fd of the batch reaches a listener or is closed, even when a listener throws: the
   * batch goes on, and the first error is thrown once it is done (later ones are queued).
   */
  private onData(bytes: Buffer, meta: Int32Array): void {
    const n = meta[0];
    // Chunks are made from the ArrayBuffer: Buffer.from(ab, ...) skips subarray()'s per-call
    // `.buffer` lookup, a call into V8's C++ runtime (~10 ns of a message's ~250 ns here).
    const ab = bytes.buffer;
    const base = bytes.byteOffset;
    let fdAt = 1 + 2 * n;
    let start = 0;
    let end = 0;
    let failure: { err: unknown } | null = null;
    for (let i = 0; i < n; i++) {
      end += meta[1 + 2 * i];
      const count = meta[2 + 2 * i];
      if (count === 0 && i + 1 < n) continue;
      let fds: number[] | undefined;
      if (count > 0) {
        fds = count === 1 ? [meta[fdAt]] : Array.from(meta.subarray(fdAt, fdAt + count));
        fdAt += count;
      }
      try {
        if (count !== 0 && channels.fdsReceived.hasSubscribers) {
          const truncated = count < 0;
          channels.fdsReceived.publish({ count: truncated ? -1 - count : count, bytes: meta[1 + 2 * i], stream: this, truncated });
        }
        if (count < 0) this.reportTruncated(-1 - count);
        // 'fds' right before the bytes they came with, so a listener can pair them; with no
        // listener (emit returns false), or once destroyed, they are closed here.
        if (fds !== undefined && (this.destroyed || !this.emit('fds', fds))) closeAll(fds);
      } catch (err) {
        failure = this.failedListener(failure, err);
      }
      // Only 'data' shows where a chunk ends (read() merges chunks), so with no 'data' listener
      // the batch's messages go in one chunk: a push per message costs more than its recvmsg.
      if (i + 1 < n && this.listenerCount('data') === 0) continue;
      const chunk = start === 0 && end === bytes.length ? bytes : Buffer.from(ab, base + start, end - start);
      start = end;
      try {
        // Every message of the batch is already read: push them all, then stop reading.
        if (!this.push(chunk) && this.reading && this.channel) {
          this.reading = false;
          this.channel.readStop();
        }
      } catch (err) {
        failure = this.failedListener(failure, err);
      }
    }
    if (failure !== null) throw failure.err;
  }

  /** A listener threw during a batch: the first error is rethrown after it, later ones queued. */
  private failedListener(failure: { err: unknown } | null, err: unknown): { err: unknown } {
    if (failure === null) return { err };
    queueMicrotask(() => {
      throw err;
    });
    return failure;
  }

  /** plugsock:fds-sent for `op`, whose sendmsg just took `sent` bytes and its fds. */
  private publishSent(op: WriteOp): void {
    // Only the first sendmsg of a sendFds payload carries fds: op.bufs is still whole here.
    let bytes = 0;
    for (const b of op.bufs) bytes += b.length;
    channels.fdsSent.publish({ count: op.fds!.length, bytes, stream: this });
  }

  private reportTruncated(receivedCount: number): void {
    const err = new TransportError(
      ErrorCodes.FDS_TRUNCATED,
      `The kernel dropped fds passed with one message (MSG_CTRUNC): ${receivedCount} arrived and were closed. ` +
        'The receiving process is probably at its fd limit (RLIMIT_NOFILE). The connection is still usable.',
    ) as FdsTruncatedError;
    err.receivedCount = receivedCount;
    if (this.listenerCount('fdsTruncated') > 0) this.emit('fdsTruncated', err);
    else process.emitWarning(err);
  }
}

// biome-ignore lint/correctness/noUnusedVariables: the type parameter of the class this merges into
export interface FdStream<Peer = unknown> {
  /** `'fds'`: descriptors received, just before the `'data'` chunk sent with them; the listener owns them. */
  on(event: 'fds', listener: (fds: number[]) => void): this;
  /** `'fdsTruncated'`: the kernel dropped descriptors of a message (MSG_CTRUNC); the stream stays usable. */
  on(event: 'fdsTruncated', listener: (err: FdsTruncatedError) => void): this;
  /** Any other event of a Duplex (`'data'`, `'end'`, `'error'`, `'close'`, ...). */
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  /** As `on('fds')`, once. */
  once(event: 'fds', listener: (fds: number[]) => void): this;
  /** As `on('fdsTruncated')`, once. */
  once(event: 'fdsTruncated', listener: (err: FdsTruncatedError) => void): this;
  /** Any other event of a Duplex, once. */
  once(event: string | symbol, listener: (...args: any[]) => void): this;
  /** As `on('fds')`. */
  addListener(event: 'fds', listener: (fds: number[]) => void): this;
  /** As `on('fdsTruncated')`. */
  addListener(event: 'fdsTruncated', listener: (err: FdsTruncatedError) => void): this;
  /** Any other event of a Duplex. */
  addListener(event: string | symbol, listener: (...args: any[]) => void): this;
}
