/**
 * Issue 17, diagnostics_channel: every channel plugsock publishes on, subscribed to and its
 * payloads checked with real sockets and real second processes (docs/diagnostics.md documents
 * them), and, in a process of its own, that nothing is built or published without a subscriber
 * (test/fixtures/transport-diagnostics-zero.js).
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ConnectionMessage, FdsMessage, FdsReceivedMessage, PeerRejectedMessage } from '../src/diagnostics';
import { NOBODY, cannotRun, isRoot, plugsock, root, run, runNode, transportsPerTest, waitForLine } from './kit';

type Event = { event: string; context: Record<string, any> };

const unsubscribers: Array<() => void> = [];
afterEach(() => {
  for (const off of unsubscribers.splice(0)) off();
});

/** Every event of the tracing channel `name` from now on, in order, with its context object. */
function traceEvents(name: string): Event[] {
  const events: Event[] = [];
  const tc = diagnostics_channel.tracingChannel(name);
  const record = (event: string) => (context: object) => events.push({ event, context: context as Record<string, any> });
  const handlers = { start: record('start'), end: record('end'), asyncStart: record('asyncStart'), asyncEnd: record('asyncEnd'), error: record('error') };
  tc.subscribe(handlers);
  unsubscribers.push(() => tc.unsubscribe(handlers));
  return events;
}

/** Every message of the channel `name` from now on. */
function messages<T>(name: string): T[] {
  const seen: T[] = [];
  const onMessage = (message: unknown) => seen.push(message as T);
  diagnostics_channel.subscribe(name, onMessage);
  unsubscribers.push(() => diagnostics_channel.unsubscribe(name, onMessage));
  return seen;
}

/** A child process that connects to `path` with plain net, sends a line, and waits to be closed. */
function netClient(path: string, options: { uid?: number; gid?: number } = {}) {
  return runNode(
    `
    const s = require('net').connect(process.argv[1], () => { console.log('CONNECTED ' + process.pid); s.write('hello\\n'); });
    s.on('error', (e) => console.log('ERROR ' + e.code));
    s.on('close', () => console.log('CLOSED'));
    s.resume();
  `,
    { args: [path], timeoutMs: 20_000, ...options },
  );
}

describe('diagnostics_channel (native)', () => {
  const { dir, make } = transportsPerTest({ native: 'require' });

  it('plugsock:listen traces a listen(): start, end, asyncStart, asyncEnd with path and endpoint; a failure with error', async () => {
    const events = traceEvents('plugsock:listen');
    const t = make({ path: join(dir(), 'l.sock') });
    const endpoint = await t.listen();
    const ours = events.filter((e) => e.context.path === t.path);
    expect(ours.map((e) => e.event)).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
    const context = ours[0].context;
    expect(ours.every((e) => e.context === context)).toBe(true); // one context through the call
    expect(context).toMatchObject({ path: t.path, endpoint, result: endpoint });
    expect(context.error).toBeUndefined();

    // The same path again: a live server there, ERR_ADDRESS_IN_USE.
    const second = make({ path: t.path });
    await expect(second.listen()).rejects.toMatchObject({ code: 'ERR_ADDRESS_IN_USE' });
    const failed = events.filter((e) => e.context !== context && e.context.path === t.path);
    expect(failed.map((e) => e.event)).toEqual(['start', 'end', 'error', 'asyncStart', 'asyncEnd']);
    expect(failed[0].context.error.code).toBe('ERR_ADDRESS_IN_USE');
    expect(failed[0].context.endpoint).toBeUndefined();
  });

  it("plugsock:connect traces a connect() to another process: the path at start, the server's credentials at asyncEnd", async () => {
    const path = join(dir(), 'child.sock');
    // The server is a second process (plain net): its pid is what the payload must name.
    const server = runNode(
      `
      const s = require('net').createServer((c) => c.end('hi'));
      s.listen(process.argv[1], () => console.log('LISTENING ' + process.pid));
    `,
      { args: [path], timeoutMs: 20_000 },
    );
    try {
      const [, pid] = await waitForLine(server.child, /^LISTENING (\d+)/);
      const events = traceEvents('plugsock:connect');
      const socket = await make().connect(`unix:${path}`);
      socket.resume();
      expect(events.map((e) => e.event)).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
      const { context } = events[0];
      expect(context.path).toBe(path); // normalised from the endpoint
      expect(context.peer).toEqual({ pid: Number(pid), uid: process.getuid!(), gid: process.getgid!() });
      expect(context.result).toBe(socket);
      socket.destroy();
    } finally {
      server.child.kill('SIGKILL');
      await server.done;
    }
  });

  it('plugsock:connect traces failures with their error: a time-out, an abort', async () => {
    const events = traceEvents('plugsock:connect');
    const missing = join(dir(), 'missing.sock');
    await expect(make().connect(missing, { timeoutMs: 50 })).rejects.toMatchObject({ code: 'ERR_CONNECT_TIMEOUT' });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 30);
    await expect(make().connect(missing, { timeoutMs: 5000, signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
    const errors = events.filter((e) => e.event === 'error');
    expect(errors.map((e) => e.context.path)).toEqual([missing, missing]);
    expect(errors[0].context.error.code).toBe('ERR_CONNECT_TIMEOUT');
    expect(errors[1].context.error.name).toBe('AbortError');
    expect(errors.every((e) => e.context.peer === undefined)).toBe(true);
  });

  it('plugsock:connection publishes a connection from another process that passed the policy, with its credentials', async () => {
    const seen = messages<ConnectionMessage>('plugsock:connection');
    const server = make({ path: join(dir(), 'c.sock'), peer: { sameUser: true } });
    const connection = once(server, 'connection');
    await server.listen();
    const child = netClient(server.path);
    const [, pid] = await waitForLine(child.child, /^CONNECTED (\d+)/);
    const [socket] = await connection;
    const ours = seen.filter((m) => m.path === server.path);
    expect(ours).toHaveLength(1);
    expect(ours[0].peer).toEqual({ pid: Number(pid), uid: process.getuid!(), gid: process.getgid!() });
    expect(ours[0].connection).toBe(socket);
    socket.destroy();
    await child.done;
  });

  it('plugsock:peer-rejected publishes a peer refused by a uid policy (a process running as nobody), with its credentials, reason and code', async ({
    skip,
  }) => {
    if (!isRoot && cannotRun('needs root to run a child as another user')) return skip();
    const rejected = messages<PeerRejectedMessage>('plugsock:peer-rejected');
    const connections = messages<ConnectionMessage>('plugsock:connection');
    const server = make({ path: join(dir(), 'r.sock'), mode: 0o666, peer: { uids: [0] } });
    const events: string[] = [];
    const onMessage = () => events.push('published');
    diagnostics_channel.subscribe('plugsock:peer-rejected', onMessage);
    unsubscribers.push(() => diagnostics_channel.unsubscribe('plugsock:peer-rejected', onMessage));
    const refused = new Promise<string>((resolve) =>
      server.on('peerRejected', (_cred, reason) => {
        events.push('event');
        resolve(reason);
      }),
    );
    await server.listen();
    const child = netClient(server.path, { uid: NOBODY.uid, gid: NOBODY.gid });
    const [, pid] = await waitForLine(child.child, /^CONNECTED (\d+)/);
    const reason = await refused;
    await child.done;
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toEqual({ path: server.path, peer: { pid: Number(pid), uid: NOBODY.uid, gid: NOBODY.gid }, reason, code: 'ERR_PEER_REJECTED' });
    expect(reason).toContain('uid 65534');
    expect(events).toEqual(['published', 'event']); // published first, while the connection is open
    expect(connections.filter((m) => m.path === server.path)).toEqual([]);
  });

  it('plugsock:peer-rejected says ERR_PEER_CHECK_TIMEOUT for a verify that runs past peerCheckTimeoutMs', async () => {
    const rejected = messages<PeerRejectedMessage>('plugsock:peer-rejected');
    const server = make({ path: join(dir(), 't.sock'), peerCheckTimeoutMs: 200, peer: { verify: () => new Promise<boolean>(() => {}) } });
    const refused = once(server, 'peerRejected');
    await server.listen();
    const child = netClient(server.path);
    const [, pid] = await waitForLine(child.child, /^CONNECTED (\d+)/);
    await refused;
    expect(rejected).toHaveLength(1);
    expect(rejected[0]).toMatchObject({ path: server.path, peer: { pid: Number(pid) }, code: 'ERR_PEER_CHECK_TIMEOUT' });
    expect(rejected[0].reason).toContain('peerCheckTimeoutMs');
    await child.done;
  });

  it('plugsock:fds-sent and plugsock:fds-received count descriptors and bytes, with another process on the other end', async () => {
    const sent = messages<FdsMessage>('plugsock:fds-sent');
    const received = messages<FdsReceivedMessage>('plugsock:fds-received');
    const server = make({ path: join(dir(), 'fd.sock'), fdPassing: true });
    const accepted = once(server, 'connection');
    await server.listen();
    // The other process sends its stdin and stdout with "hello", then reports what it gets back.
    const peer = runNode(
      `
      const t = new plugsock.UnixSocketTransport({ native: 'require' });
      t.connect(process.argv[1], { fdPassing: true }).then(async (s) => {
        // Both messages the test sends back (one fd each), then close: closing after the first
        // could turn the second send into EPIPE.
        let got = 0;
        s.on('fds', (fds) => { console.log('GOT ' + fds.length); plugsock.closeFds(fds); if (++got === 2) { s.destroy(); t.close(); } });
        s.resume();
        await s.sendFds([0, 1], Buffer.from('hello'));
      });
    `,
      { args: [server.path], timeoutMs: 20_000 },
    );
    const [stream] = (await accepted) as [InstanceType<typeof plugsock.FdStream>];
    const fdsIn = once(stream, 'fds');
    stream.resume();
    const [fds] = (await fdsIn) as [number[]];
    plugsock.closeFds(fds);
    expect(received.filter((m) => m.stream === stream)).toEqual([{ count: 2, bytes: 5, stream, truncated: false }]);

    const fd = openSync(join(root, 'package.json'), 'r');
    try {
      await stream.sendFds([fd], Buffer.from('xyz'));
      await stream.sendFds([fd]); // no data: one zero byte goes with it
    } finally {
      closeSync(fd);
    }
    expect(sent.filter((m) => m.stream === stream)).toEqual([
      { count: 1, bytes: 3, stream },
      { count: 1, bytes: 1, stream },
    ]);
    await waitForLine(peer.child, /^GOT 1$/);
    await peer.done;
  });

  it('with nobody subscribed, no payload is built or published (a process of its own)', async () => {
    const r = await run(process.execPath, [join(root, 'test', 'fixtures', 'transport-diagnostics-zero.js')], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as {
      hadSubscribers: boolean;
      quiet: { credentialReads: number; unexpected: number };
      observed: { credentialReads: number; seen: Record<string, number> };
    };
    expect(report.hadSubscribers).toBe(false);
    // Ten plain connections, an fdPassing one and two listeners: not one publish, not one
    // credential read (the payloads' only reader).
    expect(report.quiet).toEqual({ credentialReads: 0, unexpected: 0 });
    // The rig sees payloads when there are subscribers: the same traffic reads the credentials
    // of both ends of every plain connection, and publishes on every channel it touches.
    expect(report.observed.credentialReads).toBeGreaterThanOrEqual(20);
    expect(report.observed.seen).toMatchObject({
      'plugsock:listen': 2,
      'plugsock:connect': 11,
      'plugsock:connection': 11,
      'plugsock:fds-sent': 1,
      'plugsock:fds-received': 1,
    });
  });
});
