import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cannotRun, expectCode, isRoot, NOBODY, plugsock, runNode, transportsPerTest, until, waitForLine } from './kit';

const { UnixSocketTransport } = plugsock;

/**
 * A client in another process. It may drop to another user with extra supplementary groups,
 * connects with a plain net socket, reports its pid, whether it got any data, and how the
 * connection ended.
 */
function clientProcess(path: string, options: { uid?: number; gid?: number; groups?: number[]; send?: string; holdMs?: number } = {}) {
  const drop =
    options.uid === undefined
      ? ''
      : `
    process.setgroups(${JSON.stringify(options.groups ?? [])});
    process.setgid(${options.gid});
    process.setuid(${options.uid});`;
  return runNode(`${drop}
    const net = require('net');
    console.log('PID ' + process.pid);
    const s = net.connect(${JSON.stringify(path)});
    let data = '';
    s.on('data', (d) => (data += d));
    s.on('error', (e) => console.log('ERROR ' + e.code));
    s.on('connect', () => { ${options.send ? `s.write(${JSON.stringify(options.send)});` : ''} });
    s.on('close', () => { console.log('CLOSED data=' + JSON.stringify(data)); process.exit(0); });
    setTimeout(() => { console.log('STILL-OPEN data=' + JSON.stringify(data)); process.exit(0); }, ${options.holdMs ?? 3000});
  `);
}

describe('peer credentials', () => {
  const { dir, make } = transportsPerTest({ native: 'require' });

  it('sets socket.peer to the connecting process before "connection" fires', async () => {
    const server = make({ path: join(dir(), 'p.sock') });
    const seen = new Promise<{ pid: number; uid: number; gid: number; groups: readonly number[] | null; cmd: string; alive: boolean | null }>((resolve) => {
      server.on('connection', (s) => {
        const p = s.peer!;
        resolve({ pid: p.pid, uid: p.uid, gid: p.gid, groups: p.groups, cmd: p.commandLine(), alive: p.isAlive() });
        s.end('ok');
      });
    });
    await server.listen();
    const client = clientProcess(server.path);
    const [, pid] = await waitForLine(client.child, /^PID (\d+)/);
    const peer = await seen;
    expect(peer.pid).toBe(Number(pid));
    expect(peer.uid).toBe(process.getuid!());
    expect(peer.gid).toBe(process.getgid!());
    expect(Array.isArray(peer.groups)).toBe(true);
    expect(peer.cmd).toContain(process.execPath);
    expect(peer.alive).toBe(true);
    expect((await client.done).stdout).toContain('CLOSED data="ok"');
  });

  it('client side: socket.peer describes the server process when connect() resolves', async () => {
    const path = join(dir(), 'srv.sock');
    const server = runNode(`
      const t = new plugsock.UnixSocketTransport({ path: ${JSON.stringify(path)}, native: 'require' });
      t.on('connection', (s) => s.on('error', () => {}).end());
      t.listen().then(() => console.log('READY ' + process.pid));
      process.stdin.on('end', () => t.close()).resume();
    `);
    const [, serverPid] = await waitForLine(server.child, /^READY (\d+)/);
    const socket = await make().connect(path);
    expect(socket.peer).not.toBeNull();
    expect(socket.peer!.pid).toBe(Number(serverPid));
    expect(socket.peer!.uid).toBe(process.getuid!());
    socket.destroy();
    server.child.stdin!.end();
    await server.done;
  });

  it('pidfd: isAlive() turns false when the peer process exits, even though its pid could be reused', async () => {
    // allowHalfOpen keeps our end open after the peer's EOF, so the pidfd is still ours to ask.
    const server = make({ path: join(dir(), 'alive.sock'), allowHalfOpen: true });
    const peers: Array<import('../src/peer').PeerCredentials> = [];
    server.on('connection', (s) => {
      peers.push(s.peer!);
      s.on('error', () => {});
    });
    await server.listen();
    const client = clientProcess(server.path, { holdMs: 300 });
    await waitForLine(client.child, /^PID/);
    await new Promise((r) => setTimeout(r, 100));
    expect(peers).toHaveLength(1);
    expect(typeof peers[0].pidfd).toBe('number');
    expect(peers[0].isAlive()).toBe(true);
    await client.done;
    await new Promise((r) => setTimeout(r, 50));
    expect(peers[0].isAlive()).toBe(false);
  });

  describe('policy', () => {
    it('rejects a process of another user before any byte, and accepts it with a policy naming it', async () => {
      if (!isRoot && cannotRun('needs root to run a child as another user')) return;
      const path = join(dir(), 'policy.sock');
      const strict = make({ path, mode: 0o666, peer: { uids: [process.getuid!()] } });
      const accepted: number[] = [];
      const rejected: Array<{ uid: number; reason: string }> = [];
      let bytesRead = 0;
      strict.on('connection', (s) => {
        accepted.push(s.peer!.pid);
        s.on('data', (d) => (bytesRead += d.length));
        s.end('welcome');
      });
      strict.on('peerRejected', (cred, reason) => rejected.push({ uid: cred.uid, reason }));
      await strict.listen();

      const intruder = clientProcess(path, { ...NOBODY, send: 'hello from nobody' });
      const result = await intruder.done;
      expect(result.stdout, result.stderr).toContain('CLOSED data=""');
      expect(accepted).toEqual([]);
      expect(bytesRead).toBe(0);
      expect(rejected).toHaveLength(1);
      expect(rejected[0].uid).toBe(NOBODY.uid);
      expect(rejected[0].reason).toContain(`uid ${NOBODY.uid}`);
      await strict.close();

      const lenient = make({ path, mode: 0o666, peer: { uids: [NOBODY.uid] } });
      lenient.on('connection', (s) => s.end('welcome'));
      await lenient.listen();
      const friend = clientProcess(path, { ...NOBODY });
      expect((await friend.done).stdout).toContain('CLOSED data="welcome"');
    });

    it('gids matches a supplementary group of the peer', async () => {
      if (!isRoot && cannotRun('needs root to give a child supplementary groups')) return;
      const path = join(dir(), 'groups.sock');
      const server = make({ path, mode: 0o666, peer: { gids: [4242] } });
      const groups: Array<readonly number[] | null> = [];
      server.on('connection', (s) => {
        groups.push(s.peer!.groups);
        s.end('member');
      });
      const rejected: string[] = [];
      const rejectedGroups: Array<readonly number[] | null> = [];
      server.on('peerRejected', (cred, reason) => {
        rejected.push(reason);
        rejectedGroups.push(cred.groups); // still readable: reported before the socket closes
      });
      await server.listen();
      const member = clientProcess(path, { ...NOBODY, groups: [4242, 5151] });
      expect((await member.done).stdout).toContain('CLOSED data="member"');
      expect(groups[0]).toEqual(expect.arrayContaining([4242, 5151]));
      const outsider = clientProcess(path, { ...NOBODY, groups: [5151] });
      expect((await outsider.done).stdout).toContain('CLOSED data=""');
      expect(rejected).toHaveLength(1);
      expect(rejectedGroups).toEqual([[5151]]);
    });

    it('client: connect() with pids naming another process rejects with ERR_PEER_REJECTED and destroys the socket', async () => {
      const path = join(dir(), 'pids.sock');
      const server = make({ path });
      server.on('connection', (s) => {
        s.on('error', () => {});
        s.end();
      });
      await server.listen();
      const err = await expectCode(make().connect(path, { peer: { pids: [process.pid + 100000] } }), 'ERR_PEER_REJECTED');
      expect(err.message).toContain(`pid ${process.pid}`);
      const ok = await make({ peer: { pids: [process.pid] } }).connect(path);
      expect(ok.peer!.pid).toBe(process.pid);
      ok.destroy();
    });

    it('client: nothing the rejected server sent reaches the caller (socket paused until the verdict)', async () => {
      const path = join(dir(), 'chatty.sock');
      const server = make({ path });
      server.on('connection', (s) => {
        s.on('error', () => {});
        s.write('secret payload');
      });
      await server.listen();
      let calls = 0;
      const err = await expectCode(
        make().connect(path, {
          peer: { verify: () => new Promise((r) => setTimeout(() => r(false), 200)) },
          onread: {
            buffer: Buffer.alloc(1024),
            callback: () => {
              calls++;
              return true;
            },
          },
        }),
        'ERR_PEER_REJECTED',
      );
      expect(err.message).toContain('verify() returned false');
      await new Promise((r) => setTimeout(r, 50));
      expect(calls).toBe(0);
    });

    it('a slow async verify does not hold up other connections', async () => {
      const path = join(dir(), 'slow.sock');
      let calls = 0;
      const order: string[] = [];
      // The first verify finishes only once the second connection was served: if checks ran one
      // at a time, the second would wait for it and this test would time out.
      let releaseSlow!: () => void;
      const slowGate = new Promise<void>((r) => (releaseSlow = r));
      const server = make({
        path,
        peer: {
          verify: async () => {
            const n = ++calls;
            if (n === 1) await slowGate;
            order.push(`verified ${n}`);
            return true;
          },
        },
      });
      server.on('connection', (s) => {
        order.push('connection');
        s.end();
      });
      await server.listen();
      const slow = clientProcess(path, { holdMs: 3000 });
      await waitForLine(slow.child, /^PID/);
      await until(() => calls === 1);
      const fast = clientProcess(path, { holdMs: 3000 });
      expect((await fast.done).stdout).toContain('CLOSED');
      expect(order).toEqual(['verified 2', 'connection']);
      releaseSlow();
      await slow.done;
      expect(order).toEqual(['verified 2', 'connection', 'verified 1', 'connection']);
    });

    it('a verify that throws or returns false rejects', async () => {
      const path = join(dir(), 'verify.sock');
      const server = make({
        path,
        peer: {
          verify: () => {
            throw new Error('nope');
          },
        },
      });
      const reasons: string[] = [];
      server.on('peerRejected', (_c, r) => reasons.push(r));
      server.on('connection', () => reasons.push('accepted?!'));
      await server.listen();
      expect((await clientProcess(path).done).stdout).toContain('CLOSED data=""');
      expect(reasons).toEqual(['verify() threw: nope']);
    });

    it('per-listen policy overrides the constructor one', async () => {
      const path = join(dir(), 'override.sock');
      const server = make({ path, peer: { uids: [12345] } });
      server.on('connection', (s) => s.end('in'));
      await server.listen({ peer: null });
      expect((await clientProcess(path).done).stdout).toContain('CLOSED data="in"');
    });
  });

  describe('fallback mode fails closed', () => {
    it('a peer policy without the addon throws ERR_NATIVE_REQUIRED', async () => {
      let caught: unknown;
      try {
        new UnixSocketTransport({ native: 'off', peer: { sameUser: true } });
      } catch (err) {
        caught = err;
      }
      expect((caught as { code: string }).code).toBe('ERR_NATIVE_REQUIRED');
      expect((caught as Error).message).toContain('native addon');
      const t = new UnixSocketTransport({ native: 'off', path: join(dir(), 'f.sock') });
      await expectCode(t.listen({ peer: { sameUser: true } }), 'ERR_NATIVE_REQUIRED');
      await expectCode(t.connect(join(dir(), 'f.sock'), { peer: { uids: [0] } }), 'ERR_NATIVE_REQUIRED');
      await t.close();
    });

    it('peer is null on fallback sockets', async () => {
      const server = new UnixSocketTransport({ native: 'off', path: join(dir(), 'null.sock') });
      const peers: unknown[] = [];
      server.on('connection', (s) => {
        peers.push(s.peer);
        s.end();
      });
      await server.listen();
      const client = new UnixSocketTransport({ native: 'off' });
      const s = await client.connect(server.path);
      expect(s.peer).toBeNull();
      await new Promise((r) => s.once('close', r).resume());
      expect(peers).toEqual([null]);
      await client.close();
      await server.close();
    });

    it('PLUGSOCK_DISABLE_ADDON=1 gives fallback mode with the reason in capabilities()', async () => {
      const { done } = runNode(
        `
        const c = plugsock.capabilities();
        console.log(JSON.stringify({ native: c.native, reason: c.reason, peer: c.features.peerCredentials }));
        try { new plugsock.UnixSocketTransport({ native: 'require' }); } catch (e) { console.log('THROWN ' + e.code); }
      `,
        { env: { ...process.env, PLUGSOCK_DISABLE_ADDON: '1' } },
      );
      const out = (await done).stdout;
      expect(JSON.parse(out.split('\n')[0])).toEqual({ native: false, reason: 'disabled by PLUGSOCK_DISABLE_ADDON=1', peer: false });
      expect(out).toContain('THROWN ERR_NATIVE_REQUIRED');
    });
  });
});
