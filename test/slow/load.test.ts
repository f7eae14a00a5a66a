/**
 * Load: many concurrent connections from several processes, every byte accounted for, server
 * memory per connection measured; and long runs of sequential connect/close cycles with no fd
 * or socket-file growth. Default counts fit CI on 2 cores; PLUGSOCK_SOAK=1 runs issue 6's full
 * counts (1,000 x 1,000 ping-pongs, 100,000 cycles).
 */
import { once } from 'node:events';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openFdCount, plugsock, removeDir, report, scale, SOAK, socketFilesUnder, startFixture, tempDir } from '../kit';

const { UnixSocketTransport } = plugsock;

const CONNS = 1000;
const CLIENT_PROCS = 4;
const ROUNDS = scale(100, 1000);
const SIZE = 64;
const CYCLES = scale(20_000, 100_000);

let dir: string;
beforeAll(() => {
  dir = tempDir('plugsock-hardening-');
});
afterAll(() => removeDir(dir));

interface Variant {
  name: string;
  native: 'require' | 'off';
  policy: 'none' | 'uids' | 'verify';
  fdPassing?: boolean;
}

const variants: Variant[] = [
  { name: 'native', native: 'require', policy: 'none' },
  { name: 'native + peer policy (uids + async verify)', native: 'require', policy: 'verify' },
  { name: 'fallback (plain net)', native: 'off', policy: 'none' },
  { name: 'native + fdPassing (every 10th message carries an fd)', native: 'require', policy: 'none', fdPassing: true },
];

async function runLoad(v: Variant) {
  const path = join(dir, `load-${v.name.replace(/\W+/g, '-')}.sock`);
  const server = startFixture(
    join(__dirname, 'fixtures', 'load-server.js'),
    { path, native: v.native, policy: v.policy, fdPassing: v.fdPassing },
    { execArgv: ['--expose-gc'] },
  );
  try {
    const ready = await server.next('READY');
    const endpoint = ready.split(' ')[0];
    const base = JSON.parse(ready.slice(endpoint.length + 1));
    const per = CONNS / CLIENT_PROCS;
    const clients = Array.from({ length: CLIENT_PROCS }, (_, id) =>
      startFixture(join(__dirname, 'fixtures', 'load-client.js'), {
        endpoint,
        conns: per,
        rounds: ROUNDS,
        size: SIZE,
        native: v.native,
        policy: v.policy,
        fdPassing: v.fdPassing,
        id,
      }),
    );
    const connected = await Promise.all(clients.map((c) => c.next('CONNECTED', 120_000)));
    expect(connected.map(Number)).toEqual(clients.map(() => per));
    // Let the server finish its accepts (and policy checks) before measuring.
    let loaded: { rss: number; heapUsed: number; external: number; connections: number } = base;
    for (let i = 0; i < 200; i++) {
      server.send('MEM');
      loaded = JSON.parse(await server.next('MEM'));
      if (loaded.connections === CONNS) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(loaded.connections).toBe(CONNS);
    const start = Date.now();
    for (const c of clients) c.send('GO');
    const done = (await Promise.all(clients.map((c) => c.next('DONE', 600_000)))).map((l) => JSON.parse(l));
    const ms = Date.now() - start;
    server.send('STATS');
    const stats = JSON.parse(await server.next('STATS'));
    for (const c of clients) c.child.stdin!.end();
    await Promise.all(clients.map((c) => c.exited));

    const expectedBytes = CONNS * ROUNDS * SIZE;
    const sent = done.reduce((a, d) => a + d.sent, 0);
    const received = done.reduce((a, d) => a + d.received, 0);
    const roundTrips = done.reduce((a, d) => a + d.roundTrips, 0);
    const figures = {
      connections: CONNS,
      clientProcesses: CLIENT_PROCS,
      roundsPerConnection: ROUNDS,
      messageBytes: SIZE,
      roundTrips,
      roundTripsPerSec: Math.round(roundTrips / (ms / 1000)),
      ms,
      bytes: { clientSent: sent, clientReceived: received, serverIn: stats.bytesIn, serverOut: stats.bytesOut },
      serverMemoryPerConnection: {
        rssBytes: Math.round((loaded.rss - base.rss) / CONNS),
        heapBytes: Math.round((loaded.heapUsed - base.heapUsed) / CONNS),
        externalBytes: Math.round((loaded.external - base.external) / CONNS),
      },
      errors: { server: stats.errors, clients: done.map((d) => d.errors) },
      rejected: stats.rejected,
      fds: { sent: done.reduce((a, d) => a + d.fdsSent, 0), receivedAndClosedByServer: stats.fdsReceived },
    };
    report(`load ${v.name}`, figures);
    expect(done.map((d) => d.mismatches)).toEqual(clients.map(() => 0));
    expect(done.map((d) => d.errors)).toEqual(clients.map(() => ({})));
    expect(stats.errors).toEqual({});
    expect(stats.rejected).toBe(0);
    expect(stats.accepted).toBe(CONNS);
    expect(roundTrips).toBe(CONNS * ROUNDS);
    if (v.fdPassing) expect(figures.fds).toEqual({ sent: CONNS * Math.ceil(ROUNDS / 10), receivedAndClosedByServer: CONNS * Math.ceil(ROUNDS / 10) });
    expect({ sent, received, in: stats.bytesIn, out: stats.bytesOut }).toEqual({
      sent: expectedBytes,
      received: expectedBytes,
      in: expectedBytes,
      out: expectedBytes,
    });
    return figures;
  } finally {
    server.send('CLOSE');
    await server.exited;
  }
}

describe('load', () => {
  it.each(variants)(
    `1,000 concurrent connections from ${CLIENT_PROCS} processes x ${ROUNDS} ping-pongs: $name`,
    async (v) => {
      await runLoad(v);
    },
    SOAK ? 1_200_000 : 120_000,
  );

  it(
    `${CYCLES} sequential connect/close cycles leave fd and socket-file counts unchanged`,
    async () => {
      const server = new UnixSocketTransport({ path: join(dir, 'cycles.sock'), native: 'require' });
      let accepted = 0;
      server.on('connection', (s) => {
        accepted++;
        s.on('error', () => {});
        s.destroy();
      });
      await server.listen();
      const client = new UnixSocketTransport({ native: 'require' });
      const warm = async () => {
        const s = await client.connect(server.path);
        s.on('error', () => {});
        s.destroy();
        await once(s, 'close');
      };
      for (let i = 0; i < 50; i++) await warm();
      const fdsBefore = openFdCount();
      const filesBefore = socketFilesUnder(dir);
      const start = Date.now();
      for (let i = 0; i < CYCLES; i++) await warm();
      const ms = Date.now() - start;
      // Server-side closes settle a turn later.
      for (let i = 0; i < 200 && (server.connectionCount > 0 || accepted < CYCLES + 50); i++) await new Promise((r) => setTimeout(r, 10));
      const fdsAfter = openFdCount();
      report('sequential connect/close', { cycles: CYCLES, ms, cyclesPerSec: Math.round(CYCLES / (ms / 1000)), fdsBefore, fdsAfter, accepted });
      expect(fdsAfter).toBe(fdsBefore);
      expect(socketFilesUnder(dir)).toEqual(filesBefore);
      expect(server.connectionCount).toBe(0);
      expect(client.connectionCount).toBe(0);
      expect(accepted).toBe(CYCLES + 50);
      await server.close();
      await client.close();
      expect(socketFilesUnder(dir)).toEqual([]);
    },
    SOAK ? 1_200_000 : 120_000,
  );
});
