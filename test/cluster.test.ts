/**
 * A native-mode listener takes its socket from the claim as an fd. net's listen({ fd }) routes
 * through node:cluster: it loaded that module in every process (~1 ms of each plugin start), and
 * in a cluster worker it asked the primary to listen on the worker's fd number (bind EINVAL, or
 * worse, another socket of the primary's). plugsock hands the fd to net's listening step itself
 * (src/sockets/listen-fd.ts), in the transport and in fdToServer().
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root, run, runNode, socketFilesUnder, tempDirEach } from './kit';

const FIXTURE = join(__dirname, 'fixtures', 'cluster-listen.js');

describe.runIf(process.platform === 'linux')('listen() on the claimed fd', () => {
  const dir = tempDirEach('plugsock-test-cluster-');

  it('in a cluster worker, serves on the worker’s own socket', async () => {
    const result = await run(process.execPath, [FIXTURE, root, dir()], { timeoutMs: 20_000 });
    expect(result.stderr).toBe('');
    const out = JSON.parse(result.stdout) as { workerPid?: number; served?: number; error?: string };
    expect(out.error).toBeUndefined();
    // The connection reached the worker itself (it wrote its pid), not a socket of the primary's.
    expect(out.served).toBe(out.workerPid);
    expect(result.code).toBe(0);
    expect(socketFilesUnder(dir())).toEqual([]);
  });

  it("Node's net.server.listen trace sees one start and one end for the listener", async () => {
    const child = runNode(
      `
      const dc = require('node:diagnostics_channel');
      const seen = [];
      const trace = dc.tracingChannel('net.server.listen');
      trace.subscribe({
        start() {}, end() {}, asyncStart: (m) => seen.push(['asyncStart', m.server.constructor.name]),
        asyncEnd: (m) => seen.push(['asyncEnd', m.server.constructor.name, m.server.listening]), error: (m) => seen.push(['error', m.error.message]),
      });
      const { UnixSocketTransport } = plugsock;
      (async () => {
        const server = new UnixSocketTransport({ path: process.argv[1], native: 'require' });
        await server.listen();
        await server.close();
        console.log(JSON.stringify(seen));
      })();
      `,
      { args: [join(dir(), 't.sock')], timeoutMs: 20_000 },
    );
    const result = await child.done;
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual([
      ['asyncStart', 'Server'],
      ['asyncEnd', 'Server', true],
    ]);
  });

  it('fdToServer() in a cluster worker serves on the worker’s own socket', async () => {
    const result = await run(process.execPath, [FIXTURE, root, dir(), 'fdToServer'], { timeoutMs: 20_000 });
    expect(result.stderr).toBe('');
    const out = JSON.parse(result.stdout) as { workerPid?: number; served?: number; error?: string };
    expect(out.error).toBeUndefined();
    expect(out.served).toBe(out.workerPid);
    expect(result.code).toBe(0);
  });

  it('does not load node:cluster (listen, connect, close)', async () => {
    const child = runNode(
      `
      const { UnixSocketTransport } = plugsock;
      (async () => {
        const server = new UnixSocketTransport({ path: process.argv[1], native: 'require' });
        const client = new UnixSocketTransport({ native: 'require' });
        const socket = await client.connect(await server.listen());
        socket.destroy();
        await client.close();
        await server.close();
        console.log(JSON.stringify(process.moduleLoadList.filter((m) => m.includes('cluster'))));
      })();
      `,
      { args: [join(dir(), 's.sock')], timeoutMs: 20_000 },
    );
    const result = await child.done;
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual([]);
  });
});
