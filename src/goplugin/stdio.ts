/**
 * go-plugin's GRPCStdio stream, both ends. Plugin side: what the process writes to stdout (and,
 * when asked, stderr) after the handshake goes into the stream, queued (bounded) until the host
 * opens it. Host side: the stream read into a callback.
 */
import * as grpc from '@grpc/grpc-js';
import { TransportError } from '../errors';
import { GoPluginErrorCodes } from './errors';
import type { StdioData } from './proto';

const STDIO_BUFFER_LIMIT = 1 << 20;

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

  /** GRPCStdio.StreamStdio: the host opens the stream. */
  attach(call: grpc.ServerWritableStream<unknown, StdioData>): void {
    if (this.#call || this.#ended) {
      // go-plugin: "This RPC endpoint must only be called ONCE."
      call.emit('error', { code: grpc.status.FAILED_PRECONDITION, details: 'StreamStdio may be called only once' });
      return;
    }
    this.#call = call;
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
      if (err.code === grpc.status.CANCELLED || err.code === grpc.status.UNAVAILABLE) resolve();
      else reject(new TransportError(GoPluginErrorCodes.PLUGIN_CALL, `StreamStdio of ${what} failed: ${err.message}`, { cause: err }));
    });
    call.on('end', () => resolve());
  });
}
