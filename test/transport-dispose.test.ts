/**
 * Issue 17, explicit resource management: `await using t = new UnixSocketTransport()` closes it
 * at the end of the scope (its socket file gone, its connections ended), `using`/`await using`
 * on an FdStream destroys it; and the published declarations make `await using` compile
 * (test/types/dispose.ts, TypeScript 5.2+ with lib esnext.disposable).
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cannotRun, type Mode, modes, nativeOption, plugsock, root, transportsPerTest } from './kit';

const { UnixSocketTransport } = plugsock;

describe.each(modes)('await using a transport (%s)', (mode: Mode) => {
  const native = nativeOption(mode);
  const { dir, make } = transportsPerTest({ native });

  it('closes it at the end of the scope: file removed, connections ended, close emitted', async () => {
    const path = join(dir(), 'scoped.sock');
    const client = make();
    let socket: Awaited<ReturnType<typeof client.connect>>;
    let closed = false;
    {
      await using server = new UnixSocketTransport({ path, native });
      server.on('close', () => (closed = true));
      const accepted = once(server, 'connection');
      await server.listen();
      socket = await client.connect(path);
      await accepted;
      expect(existsSync(path)).toBe(true);
      expect(closed).toBe(false);
    }
    // The scope awaited close(): all of it is done here, not later.
    expect(closed).toBe(true);
    expect(existsSync(path)).toBe(false);
    if (!socket.readableEnded) await once(socket, 'close');
    expect(socket.destroyed).toBe(true);
  });

  it('is close() itself: the same promise, idempotent', async () => {
    const t = make({ path: join(dir(), 'same.sock') });
    await t.listen();
    const disposing = t[Symbol.asyncDispose]();
    expect(disposing).toBe(t.close());
    await disposing;
    expect(existsSync(t.path)).toBe(false);
    await t[Symbol.asyncDispose](); // again: already closed, resolves
  });

  it("uses the symbol Node itself uses (Node 20/22: its polyfill, the registry symbol; Node 24: the language's own)", () => {
    if (Number(process.versions.node.split('.')[0]) < 24) expect(Symbol.asyncDispose).toBe(Symbol.for('nodejs.asyncDispose'));
    else expect(Symbol.asyncDispose).not.toBe(Symbol.for('nodejs.asyncDispose'));
    expect(typeof UnixSocketTransport.prototype[Symbol.asyncDispose]).toBe('function');
  });
});

describe('using / await using an FdStream', () => {
  const { dir, make } = transportsPerTest({ native: 'require' });

  /** A connected pair of FdStreams: ours (client) and the server's. */
  async function pair() {
    const server = make({ path: join(dir(), 'fd.sock'), fdPassing: true });
    const accepted = once(server, 'connection') as Promise<[InstanceType<typeof plugsock.FdStream>]>;
    await server.listen();
    const stream = await make().connect(server.path, { fdPassing: true });
    const [peer] = await accepted;
    return { stream, peer };
  }

  it('using: destroyed synchronously at the end of the block; the peer sees the hang-up', async () => {
    const { stream, peer } = await pair();
    const fd = stream.fd;
    expect(fd).toBeGreaterThan(2);
    {
      using owned = stream;
      owned.write('bye');
    }
    expect(stream.destroyed).toBe(true);
    expect(stream.fd).toBe(-1);
    const chunks: Buffer[] = [];
    peer.on('data', (d: Buffer) => chunks.push(d));
    await once(peer, 'end');
    expect(Buffer.concat(chunks).toString()).toBe('bye');
  });

  it('await using: resolves once the stream has closed, without an error event', async () => {
    const { stream, peer } = await pair();
    const errors: Error[] = [];
    stream.on('error', (e: Error) => errors.push(e));
    let closed = false;
    stream.on('close', () => (closed = true));
    {
      await using owned = stream;
      void owned;
    }
    expect(closed).toBe(true);
    expect(errors).toEqual([]);
    peer.resume();
    await once(peer, 'close');
  });
});

describe('TypeScript: await using compiles against the published declarations', () => {
  it('test/types/dispose.ts (lib esnext.disposable, strict, skipLibCheck false)', () => {
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    if (!existsSync(tsc) && cannotRun('typescript is not installed')) return;
    if (!existsSync(join(root, 'dist', 'index.d.ts')) && cannotRun('dist/ not built: run npm run build:ts')) return;
    const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'test', 'types', 'tsconfig.disposable.json')], { encoding: 'utf8', cwd: root });
    expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
  }, 90_000);
});
