/**
 * Issue 15: a connection without a peer policy reads its peer's pid, uid and gid on first access
 * (no system call for a connection nobody asks about), and only while its fd is still its own.
 * Real processes on both ends: the peer is a child process, so its pid is not ours.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { plugsock, runNode, transportsPerTest, waitForLine } from './kit';

const { UnixSocketTransport } = plugsock;

/** A child that connects to `path`, prints its pid, and holds the connection until killed. */
function holdingClient(path: string) {
  return runNode(`
    const s = require('net').connect(${JSON.stringify(path)});
    s.on('connect', () => console.log('PID ' + process.pid));
    s.on('error', () => {});
    setTimeout(() => {}, 10_000);
  `);
}

describe.runIf(process.platform === 'linux')('peer credentials read on first access', () => {
  const { dir, make } = transportsPerTest({ native: 'require' });

  it('a server without a policy reads them when asked, while the connection is open', async () => {
    const server = make({ path: join(dir(), 'lazy.sock') });
    const accepted = new Promise<any>((resolve) => server.once('connection', resolve));
    await server.listen();
    const child = holdingClient(join(dir(), 'lazy.sock'));
    try {
      const pid = Number((await waitForLine(child.child, /^PID (\d+)/))[1]);
      const socket = await accepted;
      // Read late, long after accept: still the child's.
      await new Promise((r) => setTimeout(r, 50));
      expect(socket.peer.pid).toBe(pid);
      expect(socket.peer.uid).toBe(process.getuid!());
      expect(socket.peer.isAlive()).toBe(true);
      socket.destroy();
      // Once read, they stay readable.
      expect(socket.peer.pid).toBe(pid);
    } finally {
      child.child.kill('SIGKILL');
    }
  });

  it('a first read after destroy() throws rather than read a reused fd, and groups/pidfd are null', async () => {
    const server = make({ path: join(dir(), 'closed.sock') });
    const sockets: any[] = [];
    server.on('connection', (s) => sockets.push(s));
    await server.listen();
    const first = holdingClient(join(dir(), 'closed.sock'));
    const second = holdingClient(join(dir(), 'closed.sock'));
    try {
      // Both listened for at once: a line printed before its waiter is attached is not seen.
      const lines = await Promise.all([waitForLine(first.child, /^PID (\d+)/), waitForLine(second.child, /^PID (\d+)/)]);
      const pids = lines.map((line) => Number(line[1]));
      while (sockets.length < 2) await new Promise((r) => setTimeout(r, 5));
      const [a, b] = sockets;
      const fdOfA = a._handle.fd;
      a.destroy();
      // The fd number of `a` may now be anyone's: dup something onto the lowest free number,
      // which is that one, so a read through it would find another socket.
      const { addon } = await import('../src/addon');
      const dup = addon()!.fdDup(b._handle.fd);
      try {
        expect(dup).toBe(fdOfA);
        expect(() => a.peer.pid).toThrow(/closed before its peer's credentials were read/);
        expect(a.peer.groups).toBeNull();
        expect(a.peer.pidfd).toBeNull();
      } finally {
        addon()!.fdClose(dup);
      }
      // Whichever child `b` is, it reads as itself.
      expect(pids).toContain(b.peer.pid);
    } finally {
      first.child.kill('SIGKILL');
      second.child.kill('SIGKILL');
    }
  });

  it("a client without a policy reads the server's when asked; with a policy they are read at once and outlive the connection", async () => {
    const path = join(dir(), 'client.sock');
    const server = make({ path });
    await server.listen();
    const plain = await new UnixSocketTransport({ native: 'require' }).connect(path);
    expect(plain.peer!.pid).toBe(process.pid);
    plain.destroy();

    const unread = await make().connect(path);
    unread.destroy();
    expect(() => unread.peer!.uid).toThrow(/read socket.peer while the connection is open/);

    const checked = await make({ peer: { sameUser: true } }).connect(path);
    checked.destroy();
    expect(checked.peer!.pid).toBe(process.pid);
  });
});
