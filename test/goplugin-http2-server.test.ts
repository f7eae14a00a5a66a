/**
 * Http2GrpcServer (src/goplugin/http2-server.ts), the minimal gRPC server on node:http2 that
 * serveProvider uses instead of grpc-js's server, checked against the real grpc-js client over real
 * Unix sockets: unary, server-streaming and bidirectional calls with grpc-js's handler API, error
 * statuses and their percent-encoded details, UNIMPLEMENTED routes, cancellation and deadlines,
 * message-size limits, strict options, forceShutdown, and (with node:http2's own client) the wire
 * cases grpc-js never sends: compressed or invalid message flags, truncated bodies, two messages
 * for a unary call, and requests that are not gRPC. The server does not listen: each test's
 * net.Server hands its connections to `injectConnection`, as plugsock's transport does.
 * Needs no build: the server is imported from src/.
 */
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type GrpcError, Http2GrpcServer, MAX_CONCURRENT_CALLS, type ServerCall } from '../src/goplugin/http2-server';
import { removeDir, tempDir } from './kit/dirs';
import { until } from './kit/processes';

const KiB = 1024;
const MiB = 1024 * KiB;

/** A codec for a method: JSON values, or raw bytes (the size tests). */
interface Codec {
  serialize(value: any): Buffer;
  deserialize(bytes: Buffer): any;
}
const JSON_CODEC: Codec = { serialize: (v) => Buffer.from(JSON.stringify(v)), deserialize: (b) => JSON.parse(b.toString('utf8')) };
const BYTES: Codec = { serialize: (b: Buffer) => b, deserialize: (b) => b };

function method(name: string, requestStream: boolean, responseStream: boolean, codec: Codec = JSON_CODEC): grpc.MethodDefinition<any, any> {
  return {
    path: `/test.Svc/${name}`,
    requestStream,
    responseStream,
    requestSerialize: codec.serialize,
    requestDeserialize: codec.deserialize,
    responseSerialize: codec.serialize,
    responseDeserialize: codec.deserialize,
  };
}

/** A handler as this server calls it: grpc-js's API, typed by the server's own ServerCall. */
type Cb = (err: GrpcError | null, value?: unknown) => void;
type Impl = Record<string, (call: ServerCall, callback: Cb) => unknown>;
/** addService takes grpc-js's handler types; these handlers are typed by this server's ServerCall. */
const untyped = (implementation: Impl) => implementation as unknown as grpc.UntypedServiceImplementation;

/** The hand-written service every test serves (or part of it). */
const SVC = {
  Unary: method('Unary', false, false),
  Other: method('Other', false, false),
  Bytes: method('Bytes', false, false, BYTES),
  Watch: method('Watch', false, true),
  Chat: method('Chat', true, true),
} satisfies grpc.ServiceDefinition;

// ---- bounded waits --------------------------------------------------------------------------

/** `p`, or a failure naming `what` after `ms`: no test waits forever. */
function within<T>(p: Promise<T>, what: string, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The first `event` of `emitter`, bounded. */
function nextEvent(emitter: NodeJS.EventEmitter, event: string, ms = 5000): Promise<unknown[]> {
  return within(new Promise<unknown[]>((resolve) => emitter.once(event, (...args: unknown[]) => resolve(args))), `'${event}'`, ms);
}

/** A value that a handler hands to the test (its ServerCall, typically). */
function deferred<T>(): { promise: Promise<T>; resolve(value: T): void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

// ---- the rig: a temp dir, a net.Server feeding the h2 server, clients; all closed after each test

let dir: string | undefined;
const cleanups: (() => void | Promise<void>)[] = [];

beforeEach(() => {
  dir = tempDir('plugsock-h2srv-');
});

afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
  if (dir) removeDir(dir);
  dir = undefined;
});

let sockets = 0;

/** Serves `server` on a fresh Unix socket; returns its path. */
async function listen(server: Http2GrpcServer): Promise<string> {
  const path = join(dir!, `s${sockets++}.sock`);
  const open = new Set<net.Socket>();
  const listener = net.createServer((socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    server.injectConnection(socket);
  });
  await within(new Promise<void>((resolve) => listener.listen(path, resolve)), 'listen');
  cleanups.push(async () => {
    server.forceShutdown();
    for (const s of open) s.destroy();
    await within(new Promise<void>((resolve) => listener.close(() => resolve())), 'net.Server close');
  });
  return path;
}

/** A grpc-js client of `path`, closed after the test. */
function client(path: string, options: grpc.ChannelOptions = {}): grpc.Client {
  const c = new grpc.Client(`unix:${path}`, grpc.credentials.createInsecure(), options);
  cleanups.push(() => c.close());
  return c;
}

/** A server with `implementation` for SVC (or `definition`), listening, and a client of it. */
async function serve(
  implementation: Impl,
  options?: ConstructorParameters<typeof Http2GrpcServer>[0],
  clientOptions?: grpc.ChannelOptions,
  definition: grpc.ServiceDefinition = SVC,
): Promise<{ server: Http2GrpcServer; path: string; client: grpc.Client }> {
  const server = new Http2GrpcServer(options);
  server.addService(definition, untyped(implementation));
  const path = await listen(server);
  return { server, path, client: client(path, clientOptions) };
}

/** Every client call carries a deadline, so a server that never answers fails the test instead of hanging it. */
const soon = () => Date.now() + 5000;

/** A unary call: its value, or its ServiceError (status OK is the absence of one). */
function unary(
  c: grpc.Client,
  def: grpc.MethodDefinition<any, any>,
  request: unknown,
  deadline: number = soon(),
): Promise<{ value?: any; error?: grpc.ServiceError }> {
  return within(
    new Promise((resolve) => {
      c.makeUnaryRequest(def.path, def.requestSerialize, def.responseDeserialize, request, new grpc.Metadata(), { deadline }, (error, value) =>
        resolve(error ? { error } : { value }),
      );
    }),
    `the unary call ${def.path}`,
    10_000,
  );
}

/** Reads a client stream to its end: the messages and the final status (an 'error' is a status too). */
function drain(
  stream: grpc.ClientReadableStream<any> | grpc.ClientDuplexStream<any, any>,
): Promise<{ messages: any[]; status: grpc.StatusObject; error?: grpc.ServiceError; ended: boolean }> {
  return within(
    new Promise((resolve) => {
      const messages: any[] = [];
      let error: grpc.ServiceError | undefined;
      let ended = false;
      stream.on('data', (m) => messages.push(m));
      stream.on('end', () => (ended = true));
      stream.on('error', (e: grpc.ServiceError) => (error = e));
      stream.on('status', (status: grpc.StatusObject) => setImmediate(() => resolve({ messages, status, error, ended })));
    }),
    'the stream to end',
  );
}

// ---- the tests ------------------------------------------------------------------------------

describe('Http2GrpcServer with the grpc-js client over a Unix socket', () => {
  it('unary: the handler gets the deserialized request as call.request, and callback(null, value) answers it with status OK', async () => {
    let seen: unknown;
    const { client: c } = await serve({
      Unary(call: ServerCall, callback: Cb) {
        seen = call.request;
        callback(null, { echo: (call.request as { n: number }).n + 1 });
      },
    });
    const { value, error } = await unary(c, SVC.Unary, { n: 41 });
    expect(error).toBeUndefined();
    expect(seen).toEqual({ n: 41 });
    expect(value).toEqual({ echo: 42 });
  });

  it('unary: callback({ code, details }) reaches the client as that code and those details', async () => {
    const { client: c } = await serve({ Unary: (_call: ServerCall, cb: Cb) => cb({ code: grpc.status.NOT_FOUND, details: 'no such thing' }) });
    const { error } = await unary(c, SVC.Unary, {});
    expect(error?.code).toBe(grpc.status.NOT_FOUND);
    expect(error?.details).toBe('no such thing');
  });

  it('unary: callback(new Error(...)) is UNKNOWN with the error’s message in the details', async () => {
    const { client: c } = await serve({ Unary: (_call: ServerCall, cb: Cb) => cb(new Error('boom')) });
    const { error } = await unary(c, SVC.Unary, {});
    expect(error?.code).toBe(grpc.status.UNKNOWN);
    expect(error?.details).toContain('boom');
  });

  it('unary: a handler that throws is UNKNOWN, and the server keeps serving the next call', async () => {
    let calls = 0;
    const { client: c } = await serve({
      Unary(_call: ServerCall, cb: Cb) {
        if (calls++ === 0) throw new Error('thrown in the handler');
        cb(null, 'fine');
      },
    });
    const first = await unary(c, SVC.Unary, {});
    expect(first.error?.code).toBe(grpc.status.UNKNOWN);
    expect(first.error?.details).toContain('thrown in the handler');
    // Same client, same connection: the throw did not take the session down.
    const second = await unary(c, SVC.Unary, {});
    expect(second.error).toBeUndefined();
    expect(second.value).toBe('fine');
  });

  it('details outside printable ASCII, and "%", arrive intact (grpc-message is percent-encoded)', async () => {
    // Raw UTF-8 in a header would be refused by node:http2 (✓) or mangled (ï as Latin-1), and
    // an unencoded '%' would be taken for an escape by the client's decodeURI.
    const details = 'naïve 100% ✓ %41 tab\tnewline\n';
    const { client: c } = await serve({ Unary: (_call: ServerCall, cb: Cb) => cb({ code: grpc.status.FAILED_PRECONDITION, details }) });
    const { error } = await unary(c, SVC.Unary, {});
    expect(error?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(error?.details).toBe(details);
  });

  it('a path no service has is UNIMPLEMENTED', async () => {
    const { client: c } = await serve({ Unary: (_call: ServerCall, cb: Cb) => cb(null, 1) });
    const { error } = await unary(c, { ...SVC.Unary, path: '/test.Nope/Missing' }, {});
    expect(error?.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  it('a method of an added service whose implementation has no handler for it is UNIMPLEMENTED (the others still work)', async () => {
    const { client: c } = await serve({ Unary: (_call: ServerCall, cb: Cb) => cb(null, 'here') });
    const { error } = await unary(c, SVC.Other, {});
    expect(error?.code).toBe(grpc.status.UNIMPLEMENTED);
    expect((await unary(c, SVC.Unary, {})).value).toBe('here');
  });

  it('server streaming: three writes then end() reach the client in order, then end and status OK', async () => {
    let request: unknown;
    const { client: c } = await serve({
      Watch(call: ServerCall) {
        request = call.request;
        call.write({ i: 1 });
        call.write({ i: 2 });
        call.write({ i: 3 });
        call.end();
      },
    });
    const stream = c.makeServerStreamRequest(SVC.Watch.path, SVC.Watch.requestSerialize, SVC.Watch.responseDeserialize, { from: 'test' }, new grpc.Metadata(), {
      deadline: soon(),
    });
    const got = await drain(stream);
    expect(request).toEqual({ from: 'test' });
    expect(got.messages).toEqual([{ i: 1 }, { i: 2 }, { i: 3 }]);
    expect(got.error).toBeUndefined();
    expect(got.ended).toBe(true);
    expect(got.status.code).toBe(grpc.status.OK);
  });

  it("server streaming: call.emit('error', { code, details }) ends the call with that status", async () => {
    const { client: c } = await serve({ Watch: (call: ServerCall) => call.emit('error', { code: grpc.status.UNIMPLEMENTED, details: 'x' }) });
    const stream = c.makeServerStreamRequest(SVC.Watch.path, SVC.Watch.requestSerialize, SVC.Watch.responseDeserialize, {}, new grpc.Metadata(), {
      deadline: soon(),
    });
    const got = await drain(stream);
    expect(got.status.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(got.error?.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(got.error?.details).toBe('x');
  });

  it("bidirectional: each 'data' is echoed with call.write, 'end' is answered with call.end(); the client gets the echoes and OK", async () => {
    const { client: c } = await serve({
      Chat(call: ServerCall) {
        call.on('data', (m: unknown) => call.write({ echo: m }));
        call.on('end', () => call.end());
      },
    });
    const stream = c.makeBidiStreamRequest(SVC.Chat.path, SVC.Chat.requestSerialize, SVC.Chat.responseDeserialize, new grpc.Metadata(), { deadline: soon() });
    const done = drain(stream);
    stream.write('a');
    stream.write('b');
    stream.write('c');
    stream.end();
    const got = await done;
    expect(got.messages).toEqual([{ echo: 'a' }, { echo: 'b' }, { echo: 'c' }]);
    expect(got.error).toBeUndefined();
    expect(got.status.code).toBe(grpc.status.OK);
  });

  it("a call the client cancels emits 'cancelled' on the server side and sets call.cancelled", async () => {
    const started = deferred<ServerCall>();
    const { client: c } = await serve({
      Watch(call: ServerCall) {
        call.write({ first: true }); // never ended: only the client's cancel ends it
        started.resolve(call);
      },
    });
    const stream = c.makeServerStreamRequest(SVC.Watch.path, SVC.Watch.requestSerialize, SVC.Watch.responseDeserialize, {}, new grpc.Metadata(), {
      deadline: soon(),
    });
    const done = drain(stream);
    await nextEvent(stream, 'data'); // the call is open on both sides
    const call = await within(started.promise, 'the handler');
    const cancelled = nextEvent(call, 'cancelled');
    stream.cancel();
    await cancelled;
    expect(call.cancelled).toBe(true);
    expect((await done).status.code).toBe(grpc.status.CANCELLED);
  });

  it('a deadline that passes is DEADLINE_EXCEEDED on the client, and the server-side call ends (a late callback is a no-op)', async () => {
    const started = deferred<{ call: ServerCall; cb: Cb }>();
    const { client: c } = await serve({ Unary: (call: ServerCall, cb: Cb) => started.resolve({ call, cb }) });
    const t0 = Date.now();
    const { error } = await unary(c, SVC.Unary, {}, Date.now() + 200);
    expect(error?.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect(Date.now() - t0).toBeLessThan(3000);
    const { call, cb } = await within(started.promise, 'the handler');
    // Ended either by the server's own grpc-timeout timer or by the client's RST_STREAM.
    await until(() => call.done, 5000); // the server-side call ends
    expect(() => cb(null, 'too late')).not.toThrow();
    expect(call.write('too late')).toBe(false);
  });

  describe('message sizes', () => {
    const echoBytes: Impl = { Bytes: (call: ServerCall, cb: Cb) => cb(null, call.request) };

    it("'grpc.max_receive_message_length': 1024 refuses a 2 KiB request with RESOURCE_EXHAUSTED and takes a 1 KiB one", async () => {
      const { client: c } = await serve(echoBytes, { 'grpc.max_receive_message_length': 1024 });
      const big = await unary(c, SVC.Bytes, Buffer.alloc(2 * KiB, 7));
      expect(big.error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      const ok = await unary(c, SVC.Bytes, Buffer.alloc(KiB, 7));
      expect(ok.error).toBeUndefined();
      expect(ok.value).toEqual(Buffer.alloc(KiB, 7));
    });

    it("'grpc.max_send_message_length': 1024 turns a 2 KiB response into RESOURCE_EXHAUSTED", async () => {
      const { client: c } = await serve({ Bytes: (_call: ServerCall, cb: Cb) => cb(null, Buffer.alloc(2 * KiB)) }, { 'grpc.max_send_message_length': 1024 });
      const { error } = await unary(c, SVC.Bytes, Buffer.alloc(1));
      expect(error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    });

    it('responses around the size where a message stops being copied behind its prefix (64 KiB) arrive byte for byte', async () => {
      const { client: c } = await serve(echoBytes);
      for (const size of [0, 1, 64 * KiB - 5, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1, 3 * 64 * KiB + 7]) {
        const value = Buffer.alloc(size);
        for (let i = 0; i < size; i++) value[i] = (i * 7 + size) & 0xff;
        const { value: got, error } = await unary(c, SVC.Bytes, value);
        expect(error, `size ${size}`).toBeUndefined();
        expect(got.equals(value), `size ${size}`).toBe(true);
      }
    });

    it('with no options, a 64 MiB request and a 64 MiB response both go through (no limit in the class itself)', async () => {
      const unlimited = { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 };
      const { client: c } = await serve(echoBytes, undefined, unlimited);
      const value = Buffer.alloc(64 * MiB);
      for (let i = 0; i < value.length; i += 4096) value.writeUInt32LE(i, i);
      const { value: got, error } = await unary(c, SVC.Bytes, value, Date.now() + 20_000);
      expect(error).toBeUndefined();
      expect(got.length).toBe(64 * MiB);
      expect(got.equals(value)).toBe(true);
    }, 20_000);
  });

  describe('options and services are checked strictly', () => {
    const codeOf = (fn: () => unknown): unknown => {
      try {
        fn();
      } catch (err) {
        return (err as { code?: unknown }).code;
      }
      return 'no error thrown';
    };

    it('an option this server does not take throws ERR_INVALID_OPTION', () => {
      expect(codeOf(() => new Http2GrpcServer({ 'grpc.keepalive_time_ms': 1 } as any))).toBe('ERR_INVALID_OPTION');
    });

    it('a size that is not a whole number of bytes (1.5) or below -1 (-2) throws ERR_INVALID_OPTION', () => {
      expect(codeOf(() => new Http2GrpcServer({ 'grpc.max_receive_message_length': 1.5 }))).toBe('ERR_INVALID_OPTION');
      expect(codeOf(() => new Http2GrpcServer({ 'grpc.max_receive_message_length': -2 }))).toBe('ERR_INVALID_OPTION');
      expect(codeOf(() => new Http2GrpcServer({ 'grpc.max_send_message_length': 1.5 }))).toBe('ERR_INVALID_OPTION');
    });

    it('adding a second service with a method path already served throws ERR_INVALID_OPTION', () => {
      const server = new Http2GrpcServer();
      server.addService({ Unary: SVC.Unary }, {});
      expect(codeOf(() => server.addService({ Again: SVC.Unary }, {}))).toBe('ERR_INVALID_OPTION');
    });
  });

  it(`at most MAX_CONCURRENT_CALLS (${MAX_CONCURRENT_CALLS}) calls run at once on a connection; the client queues the rest, and they run as others end`, async () => {
    const held: Cb[] = [];
    const { client: c } = await serve({
      Unary(_call: ServerCall, cb: Cb) {
        held.push(cb);
      },
    });
    const total = MAX_CONCURRENT_CALLS + 12;
    const calls = Array.from({ length: total }, (_, i) => unary(c, SVC.Unary, i));
    await until(() => held.length === MAX_CONCURRENT_CALLS, 5000); // the first 128 run
    await new Promise((r) => setTimeout(r, 100)); // the others are queued, not on their way
    expect(held.length).toBe(MAX_CONCURRENT_CALLS);
    for (const cb of held.splice(0, 12)) cb(null, 'done');
    await until(() => held.length === MAX_CONCURRENT_CALLS, 5000); // the 12 queued calls run in the freed places
    for (const cb of held.splice(0)) cb(null, 'done');
    const results = await Promise.all(calls);
    expect(results.filter((r) => r.value === 'done')).toHaveLength(total);
  });

  it("forceShutdown() ends open connections: the server-side call sees 'cancelled', the client a non-OK status", async () => {
    const started = deferred<ServerCall>();
    const { server, client: c } = await serve({
      Watch(call: ServerCall) {
        call.write({ first: true });
        started.resolve(call);
      },
    });
    const stream = c.makeServerStreamRequest(SVC.Watch.path, SVC.Watch.requestSerialize, SVC.Watch.responseDeserialize, {}, new grpc.Metadata(), {
      deadline: soon(),
    });
    const done = drain(stream);
    await nextEvent(stream, 'data');
    const call = await within(started.promise, 'the handler');
    const cancelled = nextEvent(call, 'cancelled');
    server.forceShutdown();
    await cancelled;
    expect(call.cancelled).toBe(true);
    const got = await done;
    expect(got.status.code).not.toBe(grpc.status.OK);
    expect(got.status.code).not.toBe(grpc.status.DEADLINE_EXCEEDED); // ended by the shutdown, not by the 5 s deadline
  });
});

// ---- the wire, with node:http2's own client -------------------------------------------------

interface RawAnswer {
  httpStatus: number;
  /** The response's header names, pseudo-headers included. */
  headerNames: string[];
  grpcStatus?: number;
  grpcMessage?: string;
}

/** Sends one request on a fresh HTTP/2 session to `path`: `headers`, then `body`, then END_STREAM. */
function raw(path: string, headers: http2.OutgoingHttpHeaders, body: Buffer): Promise<RawAnswer> {
  const session = http2.connect('http://localhost', { createConnection: () => net.connect(path) });
  session.on('error', () => {});
  cleanups.push(() => {
    session.destroy();
  });
  return within(
    new Promise<RawAnswer>((resolve, reject) => {
      const req = session.request({ ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers', ...headers });
      const answer: RawAnswer = { httpStatus: 0, headerNames: [] };
      const take = (h: http2.IncomingHttpHeaders) => {
        if (h['grpc-status'] !== undefined) answer.grpcStatus = Number(h['grpc-status']);
        if (h['grpc-message'] !== undefined) answer.grpcMessage = String(h['grpc-message']);
      };
      req.on('response', (h) => {
        answer.httpStatus = Number(h[':status']);
        answer.headerNames = Object.keys(h);
        take(h); // Trailers-Only: the status is in the only HEADERS frame
      });
      req.on('trailers', take);
      req.on('error', reject);
      req.on('close', () => resolve(answer));
      req.resume();
      if (!req.writableEnded) req.end(body); // node:http2 ends a GET's request stream itself
    }),
    'the raw HTTP/2 answer',
  );
}

/** A length-prefixed gRPC message: flag byte, 4-byte big-endian length, payload. */
function frame(payload: Buffer, flag = 0, length = payload.length): Buffer {
  const prefix = Buffer.alloc(5);
  prefix[0] = flag;
  prefix.writeUInt32BE(length, 1);
  return Buffer.concat([prefix, payload]);
}

describe('Http2GrpcServer on the wire (node:http2 client)', () => {
  let path: string;
  let handled: number;
  beforeEach(async () => {
    handled = 0;
    const server = new Http2GrpcServer();
    server.addService(
      SVC,
      untyped({
        Unary(call: ServerCall, cb: Cb) {
          handled++;
          cb(null, { got: call.request });
        },
      }),
    );
    path = await listen(server);
  });
  const json = (v: unknown) => Buffer.from(JSON.stringify(v));

  it('a well-formed unary request is answered OK (the baseline for the cases below)', async () => {
    const a = await raw(path, { ':path': SVC.Unary.path }, frame(json(1)));
    expect(a.httpStatus).toBe(200);
    expect(a.grpcStatus).toBe(grpc.status.OK);
    expect(handled).toBe(1);
  });

  it('a message with the compressed flag (1) is UNIMPLEMENTED', async () => {
    const a = await raw(path, { ':path': SVC.Unary.path }, frame(json(1), 1));
    expect(a.grpcStatus).toBe(grpc.status.UNIMPLEMENTED);
    expect(handled).toBe(0);
  });

  it('a message flag of 2 is INTERNAL', async () => {
    const a = await raw(path, { ':path': SVC.Unary.path }, frame(json(1), 2));
    expect(a.grpcStatus).toBe(grpc.status.INTERNAL);
    expect(handled).toBe(0);
  });

  it('a body that ends inside a message (prefix says 10 bytes, 3 sent) is INTERNAL', async () => {
    const a = await raw(path, { ':path': SVC.Unary.path }, frame(Buffer.from('abc'), 0, 10));
    expect(a.grpcStatus).toBe(grpc.status.INTERNAL);
    expect(handled).toBe(0);
  });

  it('a unary request carrying two messages is INTERNAL, and the handler does not run', async () => {
    const a = await raw(path, { ':path': SVC.Unary.path }, Buffer.concat([frame(json(1)), frame(json(2))]));
    expect(a.grpcStatus).toBe(grpc.status.INTERNAL);
    expect(handled).toBe(0);
  });

  it('a unary request with no message is INTERNAL', async () => {
    const a = await raw(path, { ':path': SVC.Unary.path }, Buffer.alloc(0));
    expect(a.grpcStatus).toBe(grpc.status.INTERNAL);
    expect(handled).toBe(0);
  });

  it('a request that is not gRPC (GET, or content-type text/plain) is HTTP 415', async () => {
    const get = await raw(path, { ':method': 'GET', ':path': SVC.Unary.path }, Buffer.alloc(0));
    expect(get.httpStatus).toBe(415);
    const text = await raw(path, { ':path': SVC.Unary.path, 'content-type': 'text/plain' }, frame(json(1)));
    expect(text.httpStatus).toBe(415);
    // application/grpc+proto and application/grpc;... are gRPC, application/grpcx is not.
    expect((await raw(path, { ':path': SVC.Unary.path, 'content-type': 'application/grpc+proto' }, frame(json(1)))).grpcStatus).toBe(grpc.status.OK);
    expect((await raw(path, { ':path': SVC.Unary.path, 'content-type': 'application/grpcx' }, frame(json(1)))).httpStatus).toBe(415);
    expect(handled).toBe(1);
  });

  it('answers carry only the headers gRPC defines: no date (as grpc-go and grpc-js servers)', async () => {
    const ok = await raw(path, { ':path': SVC.Unary.path }, frame(json(1)));
    expect(ok.grpcStatus).toBe(grpc.status.OK);
    expect(ok.headerNames.sort()).toEqual([':status', 'content-type', 'grpc-accept-encoding']);
    // Trailers-Only (an error before any message) and a 415 have no date either.
    const failed = await raw(path, { ':path': SVC.Unary.path }, Buffer.alloc(0));
    expect(failed.grpcStatus).toBe(grpc.status.INTERNAL);
    expect(failed.headerNames).not.toContain('date');
    expect((await raw(path, { ':method': 'GET', ':path': SVC.Unary.path }, Buffer.alloc(0))).headerNames).not.toContain('date');
  });
});
