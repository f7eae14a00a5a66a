/**
 * Issue 13, "Peer checks under load": asynchronous `verify` checks are bounded in number and in
 * time, a peer that hangs up during its check is let go, refusals are reported with a reason,
 * and a client's own check ends with close(). Clients run in another process.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectCode, openFdCount, plugsock, removeDir, runNode, tempDir, transportsPerTest, waitForLine } from './kit';

const never = () => new Promise<boolean>(() => {});

/** A client process that opens `n` connections, keeps them `holdMs`, and reports how they ended. */
function clients(path: string, n: number, holdMs: number) {
  return runNode(`
    const net = require('net');
    let ended = 0, opened = 0;
    for (let i = 0; i < ${n}; i++) {
      const s = net.connect(${JSON.stringify(path)});
      s.on('connect', () => { if (++opened === ${n}) console.log('OPENED'); });
      s.on('error', () => {});
      s.on('close', () => { ended++; });
      s.resume();
    }
    setTimeout(() => { console.log('ENDED ' + ended); process.exit(0); }, ${holdMs});
  `);
}

describe.runIf(process.platform === 'linux')('bounded peer checks', () => {
  const { dir, make } = transportsPerTest({ native: 'require' });

  it('at most maxPendingPeerChecks checks hold a socket; the others are refused at once with a reason', async () => {
    const path = join(dir(), 'cap.sock');
    const server = make({ path, peer: { verify: never }, maxPendingPeerChecks: 20, peerCheckTimeoutMs: 60_000 });
    const reasons: string[] = [];
    server.on('peerRejected', (_cred, reason) => reasons.push(reason));
    await server.listen();
    const before = openFdCount();
    const { child, done } = clients(path, 200, 1500);
    await waitForLine(child, /^OPENED/);
    // Every connection was accepted; 180 were refused at once, 20 wait for their check.
    const deadline = Date.now() + 5000;
    while (reasons.length < 180 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(reasons.length).toBe(180);
    expect(new Set(reasons)).toEqual(new Set(['too many peer checks in flight (maxPendingPeerChecks is 20)']));
    // The 20 paused sockets, the child's three stdio pipes, and nothing else.
    expect(openFdCount() - before).toBeLessThanOrEqual(20 + 3);
    const r = await done;
    expect(r.stdout).toMatch(/ENDED 180\b/);
  });

  it('a check that takes longer than peerCheckTimeoutMs is a refusal; the client sees the connection end', async () => {
    const path = join(dir(), 'slow.sock');
    const server = make({ path, peer: { verify: never }, peerCheckTimeoutMs: 300 });
    const rejected = new Promise<string>((resolve) => server.once('peerRejected', (_c, reason) => resolve(reason)));
    await server.listen();
    const t0 = Date.now();
    const { done } = clients(path, 1, 1200);
    expect(await rejected).toBe('the peer check took longer than 300 ms (peerCheckTimeoutMs)');
    expect(Date.now() - t0).toBeLessThan(2000);
    expect((await done).stdout).toMatch(/ENDED 1\b/);
  });

  it('a peer that hangs up during its check is let go before the check ends, and its fd is closed', async () => {
    const path = join(dir(), 'hup.sock');
    const server = make({ path, peer: { verify: never }, peerCheckTimeoutMs: 60_000 });
    const reasons: string[] = [];
    server.on('peerRejected', (_c, reason) => reasons.push(reason));
    await server.listen();
    const before = openFdCount();
    const { done } = clients(path, 50, 300); // exit after 300 ms: every connection hangs up
    await done;
    const deadline = Date.now() + 3000;
    while (reasons.length < 50 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(reasons.length).toBe(50);
    expect(new Set(reasons)).toEqual(new Set(['the peer hung up before its check ended']));
    expect(openFdCount()).toBeLessThanOrEqual(before);
  });

  it('close() ends pending server-side checks at once', async () => {
    const path = join(dir(), 'close.sock');
    const server = make({ path, peer: { verify: never }, peerCheckTimeoutMs: 60_000 });
    await server.listen();
    const before = openFdCount();
    const { child, done } = clients(path, 10, 1500);
    await waitForLine(child, /^OPENED/);
    const t0 = Date.now();
    await server.close();
    expect(Date.now() - t0).toBeLessThan(500);
    expect((await done).stdout).toMatch(/ENDED 10\b/);
    expect(openFdCount()).toBeLessThan(before); // the listener too
  });

  it("a client's connect() waiting on its own verify rejects with ERR_TRANSPORT_CLOSED as soon as close() is called", async () => {
    const path = join(dir(), 'srv.sock');
    const server = make({ path });
    await server.listen();
    const client = make({ peer: { verify: never }, peerCheckTimeoutMs: 60_000 });
    const pending = client.connect(path);
    await new Promise((r) => setTimeout(r, 100));
    const t0 = Date.now();
    void client.close();
    await expectCode(pending, 'ERR_TRANSPORT_CLOSED');
    expect(Date.now() - t0).toBeLessThan(200);
    await new Promise((r) => setTimeout(r, 20));
    expect(client.connectionCount).toBe(0);
  });

  it("a client's own check that takes longer than peerCheckTimeoutMs rejects with ERR_PEER_REJECTED", async () => {
    const path = join(dir(), 'srv2.sock');
    await make({ path }).listen();
    const client = make({ peer: { verify: never }, peerCheckTimeoutMs: 200 });
    const err = await expectCode(client.connect(path), 'ERR_PEER_REJECTED');
    expect(err.message).toContain('took longer than 200 ms');
    await new Promise((r) => setTimeout(r, 20)); // the destroyed socket's 'close' comes next
    expect(client.connectionCount).toBe(0);
  });

  it('rejects bad limits with ERR_INVALID_OPTION', () => {
    for (const options of [{ maxPendingPeerChecks: 0 }, { maxPendingPeerChecks: 1.5 }, { peerCheckTimeoutMs: 0 }, { peerCheckTimeoutMs: Number.NaN }]) {
      expect(() => new plugsock.UnixSocketTransport(options)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }));
    }
  });
});

describe.runIf(process.platform === 'linux')('at the fd limit (RLIMIT_NOFILE)', () => {
  it('connections beyond the limit are closed at once (not left hanging), the server survives and serves again once fds are free', async () => {
    const dir = tempDir();
    try {
      const path = join(dir, 'emfile.sock');
      const server = runNode(`
        const t = new plugsock.UnixSocketTransport({ path: ${JSON.stringify(path)}, native: 'require' });
        let served = 0;
        const held = [];
        t.on('connection', (s) => { served++; held.push(s); s.write('h'); });
        t.on('error', (e) => console.log('ERROR ' + e.message));
        t.listen().then(() => console.log('READY'));
        process.stdin.on('data', () => { for (const s of held.splice(0)) s.destroy(); setTimeout(() => console.log('STATS ' + served), 50); });
      `);
      await waitForLine(server.child, /^READY/);
      // The running server may hold 40 fds from now on; 80 clients arrive and stay.
      const { spawnSync } = await import('node:child_process');
      expect(spawnSync('prlimit', [`--pid=${server.child.pid}`, '--nofile=40:40']).status).toBe(0);
      const flood = clients(path, 80, 1500);
      const ended = Number(/ENDED (\d+)/.exec((await flood.done).stdout)![1]);
      // Those the server had no fd for were closed by libuv at once: none hung.
      expect(ended).toBeGreaterThan(0);
      expect(ended).toBeLessThan(80);
      server.child.stdin!.write('free\n');
      await waitForLine(server.child, /^STATS/);
      const { done } = runNode(`
        const s = require('net').connect(${JSON.stringify(path)});
        let d = ''; s.on('data', (x) => { d += x; s.end(); }); s.on('close', () => console.log('GOT ' + d));
      `);
      expect((await done).stdout).toContain('GOT h');
      expect(server.child.exitCode).toBeNull();
      server.child.kill();
      await server.done;
    } finally {
      removeDir(dir);
    }
  });
});
