/**
 * go-plugin's GRPCStdio stream, both ends. Plugin side: what the process writes to stdout (and,
 * when asked, stderr) after the handshake goes into the stream, queued (bounded) until the host
 * opens it. Host side: the stream read into a callback.
 */
import type * as grpc from '@grpc/grpc-js';
import { TransportError } from '../errors';
import { GoPluginErrorCodes } from './errors';
import { GrpcStatus } from './grpc-status';
import type { StdioData } from './proto';

const STDIO_BUFFER_LIMIT = 1 << 20;

/** The write() each captured stream had before capture() replaced it. */
const uncapturedWrites = new WeakMap<NodeJS.WriteStream, NodeJS.WriteStream['write']>();

/**
 * Writes to `stream` itself (the pipe go-plugin hosts read) even while a StdioPump captures it:
 * log lines must reach the host's log parser, which does not read GRPCStdio.
 */
export function writeUncaptured(stream: NodeJS.WriteStream, text: string | Uint8Array): void {
  (uncapturedWrites.get(stream) ?? stream.write).call(stream, text);
}

/** Plugin side: the stream's one writer, fed by the patched process.stdout/stderr. */
export class StdioPump {
  #queue: StdioData[] = [];
  #size = 0;
  #call: grpc.ServerWritableStream<unknown, StdioData> | null = null;
  #ended = false;
  #restore: Array<() => void> = [];

  push(channel: 'STDOUT' | 'STDERR', chunk: string | Uint8Array, encoding?: BufferEncoding): void {
    if (this.#ended) return;
    const data = typeof chunk === 'string' ? Buffer.from(chunk, encoding) : Buffer.from(chunk);
    if (data.length === 0) return;
    const msg: StdioData = { channel, data };
    if (this.#call) {
      this.#call.write(msg);
      return;
    }
    this.#queue.push(msg);
    this.#size += data.length;
    while (this.#size > STDIO_BUFFER_LIMIT && this.#queue.length > 1) {
      this.#size -= this.#queue.shift()!.data.length;
    }
  }

  /**
   * GRPCStdio.StreamStdio: the host opens the stream. A host may open it again while an earlier
   * one is open (Terraform does, once per provider instance, when it reattaches to a provider in
   * debug mode; go-plugin's server lets concurrent calls share the output): the newest stream
   * gets what follows, and the earlier one is ended.
   */
  attach(call: grpc.ServerWritableStream<unknown, StdioData>): void {
    if (this.#ended) {
      call.end();
      return;
    }
    const earlier = this.#call;
    this.#call = call;
    earlier?.end();
    for (const m of this.#queue) call.write(m);
    this.#queue = [];
    this.#size = 0;
    call.on('cancelled', () => {
      if (this.#call === call) this.#call = null;
    });
  }

  /** Routes what is written to `stream` from now on into the stream, until end(). */
  capture(stream: NodeJS.WriteStream, channel: 'STDOUT' | 'STDERR'): void {
    const original = stream.write;
    if (!uncapturedWrites.has(stream)) uncapturedWrites.set(stream, original);
    const push = (chunk: string | Uint8Array, encoding?: BufferEncoding) => this.push(channel, chunk, encoding);
    stream.write = function (this: NodeJS.WriteStream, chunk: any, encoding?: any, cb?: any): boolean {
      if (typeof encoding === 'function') {
        cb = encoding;
        encoding = undefined;
      }
      push(chunk, encoding);
      if (typeof cb === 'function') process.nextTick(cb);
      return true;
    } as typeof stream.write;
    this.#restore.push(() => {
      stream.write = original;
      if (uncapturedWrites.get(stream) === original) uncapturedWrites.delete(stream);
    });
  }

  /** Ends the stream and gives the captured streams back their own write(). */
  end(): void {
    this.#ended = true;
    this.#call?.end();
    this.#call = null;
    for (const r of this.#restore) r();
  }
}

/**
 * Host side: reads the plugin's GRPCStdio stream into `onData` until it ends (or the channel
 * closes); rejects with ERR_PLUGIN_CALL on any other error (UNIMPLEMENTED: no such service).
 */
export function receiveStdio(client: grpc.Client, what: string, onData: (channel: 'stdout' | 'stderr', data: Buffer) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const call = (client as any).StreamStdio({}) as grpc.ClientReadableStream<StdioData>;
    call.on('data', (d: StdioData) => onData(d.channel === 'STDERR' ? 'stderr' : 'stdout', d.data));
    call.on('error', (err: grpc.ServiceError) => {
      if (err.code === GrpcStatus.CANCELLED || err.code === GrpcStatus.UNAVAILABLE) resolve();
      else reject(new TransportError(GoPluginErrorCodes.PLUGIN_CALL, `StreamStdio of ${what} failed: ${err.message}`, { cause: err }));
    });
    call.on('end', () => resolve());
  });
}
