/**
 * A gRPC server on node:http2 for the calls a go-plugin plugin answers: unary, server-streaming
 * and bidirectional, uncompressed, with grpc-js's handler API (`call.request`, `callback(err,
 * value)`, `call.write`, `call.end`, `'data'`/`'end'`/`'cancelled'`), so the same handlers run on
 * either server. Why: Terraform starts a provider 3-5 times per command, and loading grpc-js (its
 * client, resolvers and load balancers come with its server) was ~10 ms of each start; a plugin
 * needs none of that. serveProvider uses this; servePlugin keeps grpc-js for plugins whose own
 * services use more of its API.
 *
 * The wire: a request is HEADERS (POST, `content-type: application/grpc...`, `:path
 * /package.Service/Method`) then DATA holding length-prefixed messages (1 byte compressed flag,
 * 4 bytes big-endian length). The answer is HEADERS, the messages, then trailers carrying
 * `grpc-status` and `grpc-message`; an answer with no message may be one HEADERS frame
 * ("Trailers-Only").
 */
import { EventEmitter } from 'node:events';
import * as http2 from 'node:http2';
import type { Duplex } from 'node:stream';
// biome-ignore lint/suspicious/noTsIgnore: in the published .d.ts; @ts-expect-error would fail wherever grpc-js is installed
/** @ts-ignore grpc-js is an optional peer: without it (a Terraform provider needs none) these types are `any` rather than an error. */
import type { MethodDefinition, ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { ErrorCodes, TransportError } from '../errors';
import { checkOptionKeys } from '../options';
import { GrpcStatus } from './grpc-status';

/** The message-size options this server takes, with grpc-js's names (bytes). */
export interface Http2GrpcServerOptions {
  /** Largest message received; a larger one ends the call with RESOURCE_EXHAUSTED. */
  'grpc.max_receive_message_length'?: number;
  /** Largest message sent; a larger one ends the call with RESOURCE_EXHAUSTED. */
  'grpc.max_send_message_length'?: number;
}

const OPTION_KEYS = ['grpc.max_receive_message_length', 'grpc.max_send_message_length'] as const;

/** What a handler's callback and `'error'` take: grpc-js's ServiceError shape, or any Error. */
export interface GrpcError {
  /** The gRPC status code (1-16); anything else is sent as UNKNOWN. */
  code?: number;
  /** The status message the client sees (`grpc-message`). */
  details?: string;
  /** Used as the status message when `details` is absent (an Error's). */
  message?: string;
}

type Callback = (err: GrpcError | null, value?: unknown) => void;
type Handler = (call: ServerCall, callback: Callback) => void;

/** What services are added to: grpc-js's Server, or this file's Http2GrpcServer. */
export interface GrpcServiceHost {
  /** Serves `implementation`'s handlers for the methods of `definition`. */
  addService(definition: ServiceDefinition, implementation: UntypedServiceImplementation): void;
}

interface Route {
  method: MethodDefinition<unknown, unknown>;
  handler: Handler | undefined;
}

const { HTTP2_HEADER_PATH, HTTP2_HEADER_METHOD, HTTP2_HEADER_CONTENT_TYPE, HTTP2_HEADER_STATUS } = http2.constants;
/**
 * Responses without node:http2's default `date` header: gRPC servers send none (grpc-go and
 * grpc-js do not), and formatting it cost ~0.6 ms of a plugin's first answer. `sendDate` is the
 * option node:http2's compatibility API passes to respond() for the same (Node 20 to 24).
 */
const NO_DATE = { sendDate: false } as http2.ServerStreamResponseOptions;
/** A message up to this size is copied behind its prefix; a larger one is written beside it. */
const COPY_MAX = 64 * 1024;
/**
 * Calls at once on one connection. Terraform makes at most `-parallelism` (default 10) at once,
 * plus its two long-lived streams (GRPCStdio, GRPCBroker).
 */
export const MAX_CONCURRENT_CALLS = 128;
const GRPC_CONTENT_TYPE = /^application\/grpc([+;]|$)/;
const EMPTY = Buffer.alloc(0);

/**
 * A gRPC server that is handed connections (`injectConnection`) instead of listening: the plugin's
 * socket and its AutoMTLS are plugsock's. Only what go-plugin plugins use: no compression (a
 * compressed message ends its call with UNIMPLEMENTED), no metadata for handlers.
 */
export class Http2GrpcServer implements GrpcServiceHost {
  readonly #routes = new Map<string, Route>();
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  readonly #maxReceive: number;
  readonly #maxSend: number;
  readonly #h2: http2.Http2Server;

  /**
   * `options` are checked (unknown keys and bad sizes are ERR_INVALID_OPTION), then laid over
   * `defaults` (serveProvider's: 256 MiB each way); without either, sizes are unlimited.
   */
  constructor(options: Http2GrpcServerOptions = {}, defaults: Http2GrpcServerOptions = {}) {
    checkOptionKeys(options, OPTION_KEYS, 'serverOptions');
    const given = { ...defaults, ...options };
    this.#maxReceive = sizeOption(given, 'grpc.max_receive_message_length');
    this.#maxSend = sizeOption(given, 'grpc.max_send_message_length');
    // No limit on the session's buffered memory (grpc-js's default too): a 256 MiB message may
    // be in flight, and the only peer is the host the transport admitted. What bounds it is the
    // number of calls at once on a connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS): a host
    // that wants more waits for one to end (grpc-go and Node's http2 client queue them), and
    // each call buffers at most one message of at most the receive limit.
    this.#h2 = http2.createServer({ maxSessionMemory: Number.MAX_SAFE_INTEGER, settings: { maxConcurrentStreams: MAX_CONCURRENT_CALLS } });
    this.#h2.on('session', (session) => {
      this.#sessions.add(session);
      session.on('close', () => this.#sessions.delete(session));
      session.on('error', () => {}); // the peer hung up: its calls see 'close'
    });
    this.#h2.on('stream', (stream, headers) => this.#serve(stream, headers));
  }

  /**
   * Adds a service: `definition` as grpc-js gives it (`.service` of a client constructor, or
   * plugsock's own), `implementation` its handlers by method name. A method without a handler
   * answers UNIMPLEMENTED, as grpc-js does.
   */
  addService(definition: ServiceDefinition, implementation: UntypedServiceImplementation): void {
    const handlers = implementation as unknown as Record<string, Handler | undefined>;
    for (const [name, method] of Object.entries(definition)) {
      if (this.#routes.has(method.path)) throw new TransportError(ErrorCodes.INVALID_OPTION, `addService: ${method.path} is already served.`);
      const handler = handlers[name] ?? (method.originalName ? handlers[method.originalName] : undefined);
      this.#routes.set(method.path, { method: method as MethodDefinition<unknown, unknown>, handler });
    }
  }

  /** Serves HTTP/2 on a connection that is already open (and authenticated, if it had to be). */
  injectConnection(connection: Duplex): void {
    this.#h2.emit('connection', connection);
  }

  /** Ends every connection at once; calls in progress see `'cancelled'`. */
  forceShutdown(): void {
    for (const session of this.#sessions) session.destroy();
    this.#sessions.clear();
  }

  #serve(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => {}); // a reset stream: the call sees 'close'
    const contentType = headers[HTTP2_HEADER_CONTENT_TYPE];
    if (headers[HTTP2_HEADER_METHOD] !== 'POST' || typeof contentType !== 'string' || !GRPC_CONTENT_TYPE.test(contentType)) {
      stream.respond({ [HTTP2_HEADER_STATUS]: 415 }, { endStream: true, ...NO_DATE });
      stream.resume(); // whatever the request carries is dropped
      return;
    }
    const path = String(headers[HTTP2_HEADER_PATH] ?? '');
    const route = this.#routes.get(path);
    const call = new ServerCall(stream, route?.method, this.#maxSend, headers['grpc-timeout']);
    if (!route?.handler) {
      call.finish(GrpcStatus.UNIMPLEMENTED, `The server does not implement the method ${path}`);
      stream.resume();
      return;
    }
    const { method, handler } = route;
    const reader = new MessageReader(this.#maxReceive);
    const callback: Callback = (err, value) => (err ? call.fail(err) : call.reply(value));
    let received = 0;
    stream.on('data', (chunk: Buffer) => {
      if (call.done) return; // answered (an error, or the deadline): the rest is dropped, not buffered
      const failed = reader.push(chunk, (bytes) => {
        received++;
        let message: unknown;
        try {
          message = method.requestDeserialize(bytes);
        } catch (err) {
          return `Failed to parse the request message: ${(err as Error).message}`;
        }
        if (method.requestStream) call.emit('data', message);
        else if (received > 1) return 'Received a second request message for a unary request';
        else call.request = message;
        return null;
      });
      if (failed) call.finish(failed.code, failed.details);
    });
    stream.on('end', () => {
      if (call.done) return;
      if (reader.pending) return call.finish(GrpcStatus.INTERNAL, 'The request ended inside a message');
      if (method.requestStream) return void call.emit('end');
      if (received === 0) return call.finish(GrpcStatus.INTERNAL, 'The request has no message');
      run(handler, call, callback);
    });
    if (method.requestStream) run(handler, call, callback);
  }
}

function run(handler: Handler, call: ServerCall, callback: Callback): void {
  try {
    handler(call, callback);
  } catch (err) {
    call.fail({ code: GrpcStatus.UNKNOWN, details: `The handler threw: ${(err as Error)?.message ?? String(err)}` });
  }
}

function sizeOption(options: Http2GrpcServerOptions, key: (typeof OPTION_KEYS)[number]): number {
  const value = options[key];
  if (value === undefined || value === -1) return Number.POSITIVE_INFINITY; // -1: unlimited, as grpc-js
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new TransportError(ErrorCodes.INVALID_OPTION, `serverOptions['${key}'] must be a whole number of bytes (or -1: no limit), got ${String(value)}.`);
  }
  return value;
}

/** Splits a request body into messages without copying a message twice. */
class MessageReader {
  #chunks: Buffer[] = [];
  #have = 0;
  #need = -1; // length of the message being read; -1 while its 5-byte prefix is not complete

  constructor(private readonly max: number) {}

  /** Whether part of a message is buffered (the request may not end here). */
  get pending(): boolean {
    return this.#have > 0 || this.#need >= 0;
  }

  /** Feeds a chunk; `onMessage` returns an error text to stop. Returns the call's end, if any. */
  push(chunk: Buffer, onMessage: (bytes: Buffer) => string | null): { code: number; details: string } | null {
    this.#chunks.push(chunk);
    this.#have += chunk.length;
    for (;;) {
      if (this.#need < 0) {
        if (this.#have < 5) return null;
        const prefix = this.#take(5);
        if (prefix[0] !== 0) {
          return prefix[0] === 1
            ? { code: GrpcStatus.UNIMPLEMENTED, details: 'Compressed messages are not supported (send grpc-encoding identity)' }
            : { code: GrpcStatus.INTERNAL, details: `Invalid message flag ${prefix[0]}` };
        }
        this.#need = prefix.readUInt32BE(1);
        if (this.#need > this.max) {
          return { code: GrpcStatus.RESOURCE_EXHAUSTED, details: `Received message larger than max (${this.#need} vs. ${this.max})` };
        }
      }
      if (this.#have < this.#need) return null;
      const bytes = this.#take(this.#need);
      this.#need = -1;
      const failed = onMessage(bytes);
      if (failed) return { code: GrpcStatus.INTERNAL, details: failed };
    }
  }

  #take(n: number): Buffer {
    if (n === 0) return EMPTY;
    const all = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#have);
    const rest = all.subarray(n);
    this.#chunks = rest.length > 0 ? [rest] : [];
    this.#have = rest.length;
    return all.subarray(0, n);
  }
}

/**
 * One call, with the part of grpc-js's server call API go-plugin services use: `request`, and
 * for streams `write`, `end`, `'data'`, `'end'`, `'cancelled'`; emitting `'error'` with
 * `{ code, details }` ends the call with that status, as in grpc-js.
 */
export class ServerCall extends EventEmitter {
  /** The request message (unary and server-streaming calls). */
  request: unknown = undefined;
  /** Whether the client went away before the call ended. */
  cancelled = false;
  #done = false;
  #trailers: http2.OutgoingHttpHeaders | null = null;
  readonly #deadline: NodeJS.Timeout | null = null;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    private readonly method: MethodDefinition<unknown, unknown> | undefined,
    private readonly maxSend: number,
    timeout: string | string[] | undefined,
  ) {
    super();
    this.on('error', (err: GrpcError) => this.fail(err));
    stream.on('close', () => {
      if (this.#deadline) clearTimeout(this.#deadline);
      if (this.#done) return;
      this.#done = true;
      this.cancelled = true;
      this.emit('cancelled');
    });
    const ms = typeof timeout === 'string' ? timeoutMs(timeout) : null;
    if (ms !== null) {
      this.#deadline = setTimeout(() => this.finish(GrpcStatus.DEADLINE_EXCEEDED, 'Deadline exceeded'), ms);
      this.#deadline.unref();
    }
  }

  /** Whether the call has ended (answered, failed or cancelled). */
  get done(): boolean {
    return this.#done;
  }

  /** Sends one response message; false when the stream's buffer is full (or the call ended). */
  write(value: unknown): boolean {
    if (this.#done) return false;
    let bytes: Buffer;
    try {
      bytes = this.method!.responseSerialize(value);
    } catch (err) {
      this.finish(GrpcStatus.INTERNAL, `Failed to serialize the response: ${(err as Error).message}`);
      return false;
    }
    if (bytes.length > this.maxSend) {
      this.finish(GrpcStatus.RESOURCE_EXHAUSTED, `Sent message larger than max (${bytes.length} vs. ${this.maxSend})`);
      return false;
    }
    this.#respond();
    const n = bytes.length;
    // The 5-byte prefix (flag 0, big-endian length) and the message in one write: a small one
    // copied behind the prefix, a large one corked with it (one writev, no copy).
    const framed = Buffer.allocUnsafe(n <= COPY_MAX ? 5 + n : 5);
    framed[0] = 0;
    framed[1] = n >>> 24;
    framed[2] = (n >>> 16) & 0xff;
    framed[3] = (n >>> 8) & 0xff;
    framed[4] = n & 0xff;
    if (n <= COPY_MAX) {
      bytes.copy(framed, 5);
      return this.stream.write(framed);
    }
    this.stream.cork();
    this.stream.write(framed);
    const more = this.stream.write(bytes);
    this.stream.uncork();
    return more;
  }

  /** Ends the call with status OK. */
  end(): void {
    this.finish(GrpcStatus.OK, '');
  }

  /** A unary answer: the message, then status OK. */
  reply(value: unknown): void {
    this.write(value); // a full buffer is fine: the trailers queue behind the message
    this.end();
  }

  /** Ends the call with an error's status (UNKNOWN when it carries no code). */
  fail(err: GrpcError): void {
    const code = typeof err?.code === 'number' && Number.isInteger(err.code) && err.code > 0 && err.code <= 16 ? err.code : GrpcStatus.UNKNOWN;
    this.finish(code, String(err?.details ?? err?.message ?? ''));
  }

  /** Ends the call with `code` and `details`; later calls do nothing. */
  finish(code: number, details: string): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#deadline) clearTimeout(this.#deadline);
    const { stream } = this;
    if (stream.destroyed || stream.closed) return;
    const status = { 'grpc-status': String(code), 'grpc-message': encodeMessage(details) };
    if (!stream.headersSent) {
      stream.respond({ [HTTP2_HEADER_STATUS]: 200, [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc', ...status }, { endStream: true, ...NO_DATE });
      return;
    }
    this.#trailers = status;
    stream.end();
  }

  #respond(): void {
    if (this.stream.headersSent) return;
    this.stream.respond(
      { [HTTP2_HEADER_STATUS]: 200, [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc', 'grpc-accept-encoding': 'identity' },
      { waitForTrailers: true, ...NO_DATE },
    );
    // on(), not once(): 'wantTrailers' comes once per stream, and once() wraps the listener.
    this.stream.on('wantTrailers', () => this.stream.sendTrailers(this.#trailers ?? { 'grpc-status': String(GrpcStatus.OK), 'grpc-message': '' }));
  }
}

/** `grpc-timeout` (`<digits><unit>`, at most 8 digits) in milliseconds; null when malformed. */
function timeoutMs(value: string): number | null {
  const m = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!m) return null;
  const scale = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 }[m[2] as 'H'];
  return Math.min(Math.ceil(Number(m[1]) * scale), 2 ** 31 - 1);
}

/** grpc-message is percent-encoded outside printable ASCII (and `%` itself). */
function encodeMessage(text: string): string {
  return /^[\x20-\x24\x26-\x7e]*$/.test(text)
    ? text
    : Buffer.from(text, 'utf8').reduce(
        (s, b) => s + (b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`),
        '',
      );
}
