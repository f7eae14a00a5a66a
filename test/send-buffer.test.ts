/**
 * sendBufferSize: every connection a transport accepts or opens gets SO_SNDBUF, observed from
 * outside the process by the kernel's own socket table (`ss -xm`, `tb` = send buffer).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { expectCode, openFdCount, plugsock, runNode, transportFactory, waitForLine } from './kit';

const { UnixSocketTransport } = plugsock;
const transports = transportFactory({ native: 'require' });
afterEach(() => transports.closeAll());

const sysctl = (name: string) => Number(readFileSync(`/proc/sys/net/core/${name}`, 'utf8'));
/** What Linux applies for a request: doubled (its bookkeeping overhead), capped at wmem_max. */
const applied = (request: number) => 2 * Math.min(request, sysctl('wmem_max'));

/** Socket inode of an fd of this process. */
function inodeOf(fd: number): number {
  const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
  if (!m) throw new Error(`fd ${fd} is not a socket`);
  return Number(m[1]);
}

const fdOf = (socket: unknown): number => {
  const s = socket as { fd?: number; _handle?: { fd: number } };
  return typeof s.fd === 'number' ? s.fd : s._handle!.fd;
};

/** Send buffer (`tb`) of every Unix socket, by inode, as the kernel reports it. */
function sendBuffers(): Map<number, number> {
  const out = execFileSync('ss', ['-x', '-a', '-m', '-H'], { encoding: 'utf8' });
  const byInode = new Map<number, number>();
  // u_str ESTAB 0 0 <local> <inode> <peer> <peer inode> skmem:(r0,rb…,t0,tb212992,…)
  for (const m of out.matchAll(/^u_str\s+\S+\s+\d+\s+\d+\s+\S+\s+(\d+)\s+\S+\s+\d+\s+skmem:\(([^)]*)\)/gm)) {
    const tb = /(?:^|,)tb(\d+)/.exec(m[2]!);
    if (tb) byInode.set(Number(m[1]), Number(tb[1]));
  }
  return byInode;
}

describe('sendBufferSize', () => {
  it('sets SO_SNDBUF on accepted and connected sockets, across two processes, and leaves others at the default', async () => {
    const serverSize = 150_000; // below a stock wmem_max (212992), so the exact value shows
    const clientSize = 120_000;
    const server = transports.make({ sendBufferSize: serverSize });
    const accepted: number[] = [];
    server.on('connection', (socket) => {
      accepted.push(inodeOf(fdOf(socket)));
      socket.on('error', () => {});
    });
    await server.listen();

    // A client process with its own option, and one without: the default must stay untouched.
    const tuned = runNode(`
      (async () => {
        const s = await new plugsock.UnixSocketTransport({ sendBufferSize: ${clientSize} }).connect(${JSON.stringify(server.path)});
        const ino = require('fs').readlinkSync('/proc/self/fd/' + s._handle.fd).match(/\\d+/)[0];
        console.log('INODE ' + ino);
        process.stdin.on('data', () => process.exit(0));
      })();
    `);
    const plain = transports.make({ sendBufferSize: undefined });
    try {
      const [, clientInode] = await waitForLine(tuned.child, /^INODE (\d+)/);
      const plainSocket = await plain.connect(server.path);
      await expect.poll(() => accepted.length).toBe(2);

      const tb = sendBuffers();
      expect(tb.get(Number(clientInode))).toBe(applied(clientSize));
      for (const ino of accepted) expect(tb.get(ino)).toBe(applied(serverSize));
      expect(tb.get(inodeOf(fdOf(plainSocket)))).toBe(sysctl('wmem_default'));
      plainSocket.destroy();
    } finally {
      tuned.child.stdin!.write('x');
      await tuned.done;
    }
  });

  it('applies to fdPassing connections on both sides, and a request above wmem_max is capped by the kernel', async () => {
    const over = sysctl('wmem_max') + 4096;
    const server = transports.make({ sendBufferSize: over, fdPassing: true });
    const accepted = new Promise<unknown>((resolve) => server.once('connection', resolve));
    await server.listen();
    const client = await transports.make({ sendBufferSize: 100_000 }).connect(server.path, { fdPassing: true });
    const serverSide = await accepted;
    const tb = sendBuffers();
    expect(tb.get(inodeOf(fdOf(client)))).toBe(applied(100_000));
    expect(tb.get(inodeOf(fdOf(serverSide)))).toBe(2 * sysctl('wmem_max'));
  });

  it('leaks no fds over 200 tuned connections', async () => {
    const server = transports.make({ sendBufferSize: 1 << 20 });
    server.on('connection', (socket) => {
      socket.on('error', () => {});
      socket.end();
    });
    await server.listen();
    const client = transports.make({ sendBufferSize: 1 << 20 });
    const before = openFdCount();
    for (let i = 0; i < 200; i++) {
      const s = await client.connect(server.path);
      await new Promise((r) => s.once('close', r).resume());
    }
    await expect.poll(() => server.connectionCount).toBe(0);
    expect(client.connectionCount).toBe(0);
    expect(openFdCount()).toBe(before);
  });

  it('fails closed without the addon, and rejects values that are not a byte count', async () => {
    await expectCode(
      Promise.resolve().then(() => new UnixSocketTransport({ native: 'off', sendBufferSize: 1 << 20 })),
      'ERR_NATIVE_REQUIRED',
    );
    for (const bad of [0, -1, 1.5, 2 ** 31, Number.NaN, '65536']) {
      await expectCode(
        Promise.resolve().then(() => new UnixSocketTransport({ sendBufferSize: bad as number })),
        'ERR_INVALID_OPTION',
      );
    }
    expect(new UnixSocketTransport({ native: 'require' }).sendBufferSize).toBeNull();
  });
});
