// Abstract socket addresses (Linux): unix:@name, native mode only, and only with a peer policy.
import { readdirSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Binding } from '../src/addon';
import { loadAddon } from '../src/addon';
import { normalizeEndpoint, normalizeUnixPath, toEndpoint } from '../src/path';
import { cannotRun, expectCode, fdCountSettles, hasPython, isRoot, NOBODY, openFdCount, run, runNode, tempDirEach, transportFactory, waitForLine } from './kit';

const uid = process.getuid!();
let counter = 0;
/** A name no other test (or run) uses. */
const fresh = () => `plugsock-abstract-${process.pid}-${Date.now()}-${counter++}`;

/** The kernel's table of Unix sockets: the lines bound to `@name` exactly (another length is another name). */
function boundAs(name: string): string[] {
  return readFileSync('/proc/net/unix', 'latin1')
    .split('\n')
    .filter((line) => line.trim().split(/\s+/)[7] === `@${name}`);
}

describe('normalizeEndpoint', () => {
  it.each([
    ['unix:@app', '\0app'],
    ['@app', '\0app'],
    ['\0app', '\0app'],
    ['unix:\0app', '\0app'],
    ['unix:@with space/ü', '\0with space/ü'],
    ['unix:/tmp/a.sock', '/tmp/a.sock'],
  ])('%j -> %j', (input, output) => {
    expect(normalizeEndpoint(input)).toBe(output);
  });

  it.each([
    ['unix:@', /the name after @ is empty/],
    ['\0', /the name after @ is empty/],
    ['unix:@a\0b', /contains a NUL byte/],
    [`@${'é'.repeat(54)}`, /the name is 108 bytes, over the 107/],
  ])('rejects %j with ERR_INVALID_PATH', (input, message) => {
    expect(() => normalizeEndpoint(input)).toThrow(message);
    try {
      normalizeEndpoint(input);
    } catch (err) {
      expect((err as { code: string }).code).toBe('ERR_INVALID_PATH');
    }
  });

  it('shows an abstract address as unix:@name, and normalizeUnixPath (file paths only) points to the transport', () => {
    expect(toEndpoint('\0app')).toBe('unix:@app');
    expect(normalizeEndpoint(`@${'x'.repeat(107)}`)).toHaveLength(108);
    expect(() => normalizeUnixPath('unix:@app')).toThrow(/is an abstract socket address, not a file path: a UnixSocketTransport takes it/);
    expect(() => normalizeUnixPath('\0app')).toThrow(/is an abstract socket address/);
  });
});

describe.skipIf(process.platform !== 'linux')('abstract sockets', () => {
  const { make, closeAll } = transportFactory();
  const dir = tempDirEach();

  it("the addon binds and connects the exact name: other programs reach it (Node 20's net, which pads it, does not)", async () => {
    const binding = loadAddon().binding as Binding;
    const name = fresh();
    const fd = binding.socketListenAbstract!(`\0${name}`, 8);
    try {
      expect(boundAs(name)).toHaveLength(1);
      expect(binding.socketInspect!(fd)).toEqual({ domain: 'unix', type: 'stream', listening: true, path: `\0${name}` });
      expect(() => binding.socketListenAbstract!(`\0${name}`, 8)).toThrow(/^bind EADDRINUSE @plugsock-abstract/);
      binding.fdClose(binding.socketConnect(`\0${name}`));
      // Node 20's net connects `\0name` padded with NULs to all of sun_path: another name. From
      // Node 22 (libuv's uv_pipe_connect2) it uses the exact length, as the addon does.
      const viaNet = await new Promise<string>((resolve) => {
        const s = net.connect(`\0${name}`);
        s.on('connect', () => {
          s.destroy();
          resolve('connected');
        });
        s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code!));
      });
      expect(viaNet).toBe(Number(process.versions.node.split('.')[0]) >= 22 ? 'connected' : 'ECONNREFUSED');
    } finally {
      binding.fdClose(fd);
    }
    expect(() => binding.socketConnect(`\0${name}`)).toThrow(/^connect ECONNREFUSED @plugsock-abstract/);
    expect(() => binding.socketConnect(`\0`)).toThrow(/an abstract address, must be a null byte and then 1 to 107 bytes/);
    expect(() => binding.socketListenAbstract!('/tmp/x.sock', 8)).toThrow(/must be an abstract address/);

    if (hasPython() || !cannotRun('python3 is needed to bind an abstract name outside Node')) {
      // A listener of another program (Python binds the exact name, as systemd and Go do).
      const py = run('python3', [
        '-c',
        `import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.bind(b'\\0${name}')\ns.listen()\nprint('ready',flush=True)\nc,_=s.accept()\nc.sendall(b'from python')\nc.close()`,
      ]);
      const client = make({ peer: { uids: [uid] } });
      let socket: net.Socket | undefined;
      for (let i = 0; i < 100 && !socket; i++) socket = await client.connect(`unix:@${name}`, { timeoutMs: 2000 }).catch(() => undefined);
      let got = '';
      for await (const chunk of socket!) got += chunk;
      expect(got).toBe('from python');
      expect((await py).code).toBe(0);
    }
    await closeAll();
  });

  it('listens and connects with a peer policy: no file, the @ and \\0 forms name one socket, and close() frees the name', async () => {
    const name = fresh();
    const server = make({ path: `\0${name}`, peer: { uids: [uid] } });
    server.on('connection', (s) => s.end('hi'));
    expect(await server.listen()).toBe(`unix:@${name}`);
    expect(server.path).toBe(`\0${name}`);
    expect(server.endpoint).toBe(`unix:@${name}`);
    // Bound exactly as @name, with no file: the inode column is the socket's, the path column the name.
    expect(boundAs(name)).toHaveLength(1);
    for (const endpoint of [`unix:@${name}`, `@${name}`, `\0${name}`]) {
      const socket = await make({ peer: { sameUser: true } }).connect(endpoint);
      expect(socket.peer!.pid).toBe(process.pid);
      let got = '';
      for await (const chunk of socket) got += chunk;
      expect(got).toBe('hi');
    }
    const fds = await make({ peer: { uids: [uid] } }).connect(`unix:@${name}`, { fdPassing: true });
    expect(fds.peer!.uid).toBe(uid);
    fds.destroy();
    await server.close();
    expect(boundAs(name)).toEqual([]);
    const again = make({ path: `unix:@${name}`, peer: { uids: [uid] } });
    await again.listen();
    await expectCode(make({ path: `unix:@${name}`, peer: { uids: [uid] } }).listen(), 'ERR_ADDRESS_IN_USE');
    await closeAll();
  });

  it('creates no file anywhere: not in the working directory, not in the temp dir', async () => {
    const name = fresh();
    const cwd = dir();
    const child = runNode(
      `
      const t = new plugsock.UnixSocketTransport({ path: 'unix:@${name}', peer: { sameUser: true } });
      t.listen().then((e) => console.log('LISTENING ' + e + ' ' + JSON.stringify(require('fs').readdirSync('.'))), (e) => console.log('ERROR ' + e.message));
      process.stdin.on('end', () => t.close().then(() => console.log('CLOSED'))).resume();
    `,
      { cwd, env: { ...process.env, TMPDIR: cwd } },
    );
    const [, endpoint, listing] = await waitForLine(child.child, /^LISTENING (\S+) (.*)$/);
    expect(endpoint).toBe(`unix:@${name}`);
    expect(JSON.parse(listing)).toEqual([]);
    expect(readdirSync(cwd)).toEqual([]);
    child.child.stdin!.end();
    await waitForLine(child.child, /^CLOSED$/);
    expect((await child.done).code).toBe(0);
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('fails closed: no policy is ERR_INVALID_OPTION (listen and connect), no addon ERR_NATIVE_REQUIRED, a group ERR_INVALID_OPTION', async () => {
    const name = fresh();
    const open = await expectCode(make({ path: `unix:@${name}` }).listen(), 'ERR_INVALID_OPTION');
    expect(open.message).toMatch(/has no file and no mode, so without a peer policy every process of this network namespace, of any user, could connect to it/);
    expect(boundAs(name)).toEqual([]);
    // A listen() policy counts; `peer: null` removes the constructor's.
    await expectCode(make({ path: `unix:@${name}`, peer: { uids: [uid] } }).listen({ peer: null }), 'ERR_INVALID_OPTION');
    const server = make({ path: `unix:@${name}` });
    await server.listen({ peer: { uids: [uid] } });
    const client = await expectCode(make().connect(`unix:@${name}`), 'ERR_INVALID_OPTION');
    expect(client.message).toMatch(/could have bound the name and would answer instead of your server/);
    await make({ peer: { uids: [uid] } })
      .connect(`unix:@${name}`)
      .then((s) => s.destroy());
    await make()
      .connect(`unix:@${name}`, { peer: { uids: [uid] } })
      .then((s) => s.destroy());
    await expectCode(make({ path: `unix:@${fresh()}`, peer: { uids: [uid] }, group: 0 }).listen(), 'ERR_INVALID_OPTION');
    const off = await expectCode(make({ path: `unix:@${fresh()}`, native: 'off' }).listen(), 'ERR_NATIVE_REQUIRED');
    expect(off.message).toMatch(/The abstract socket address @plugsock-abstract-\S+ needs plugsock's native addon/);
    await expectCode(make({ native: 'off' }).connect(`unix:@${name}`), 'ERR_NATIVE_REQUIRED');
    await closeAll();
  });

  it('handOff() refuses an abstract listener up front (ERR_HANDOFF): no control socket, nothing sent, and it keeps serving', async () => {
    const name = fresh();
    const server = make({ path: `unix:@${name}`, peer: { uids: [uid] } });
    let served = 0;
    server.on('connection', (s) => {
      served++;
      s.end('still here');
    });
    await server.listen();
    const read = async () => {
      const socket = await make({ peer: { uids: [uid] } }).connect(`unix:@${name}`);
      let got = '';
      for await (const chunk of socket) got += chunk;
      return got;
    };
    expect(await read()).toBe('still here');
    const fds = openFdCount();
    const control = join(dir(), 'control.sock');
    // The signal only bounds the test: before the fix, handOff() offered the listener and waited
    // for a taker, which could only refuse it (the wire takes file paths).
    const err = await expectCode(server.handOff(control, { signal: AbortSignal.timeout(3000) }), 'ERR_HANDOFF');
    expect(err.message).toMatch(new RegExp(`cannot hand off the abstract listener @${name}: .*file path only`));
    expect(err.message).toMatch(/Nothing was sent and this transport keeps serving\. .*listen on a file path .*handOffToSystemd\(\)/);
    // Nothing was made: no control socket, no fd.
    expect(readdirSync(dir())).toEqual([]);
    expect(await fdCountSettles(fds)).toBe(fds);
    // The listener is unchanged: still bound as @name and listening (__SO_ACCEPTCON), still
    // accepting, and it may still close.
    expect(boundAs(name).filter((line) => line.trim().split(/\s+/)[3] === '00010000')).toHaveLength(1);
    expect(await read()).toBe('still here');
    expect(served).toBe(2);
    await server.close();
    expect(boundAs(name)).toEqual([]);
    await closeAll();
  });

  it.skipIf(!isRoot && cannotRun('root is needed to connect as a second user (nobody)'))(
    'the policy keeps out another user, who could otherwise connect (an abstract name has no mode)',
    async () => {
      const name = fresh();
      const server = make({ path: `unix:@${name}`, peer: { uids: [uid] } });
      const rejected = new Promise<number>((resolve) => server.on('peerRejected', (cred) => resolve(cred.uid)));
      server.on('connection', (s) => s.end('welcome'));
      await server.listen();
      const client = (asNobody: boolean) =>
        runNode(`
          ${asNobody ? `process.setgroups([]); process.setgid(${NOBODY.gid}); process.setuid(${NOBODY.uid});` : ''}
          new plugsock.UnixSocketTransport({ peer: { uids: [${uid}] } }).connect('unix:@${name}').then((s) => {
            let got = '';
            s.on('data', (d) => (got += d));
            s.on('error', (e) => console.log('ERROR ' + e.code));
            s.on('close', () => console.log('GOT ' + JSON.stringify(got)));
          }, (e) => console.log('GOT ' + e.code));
        `);
      const nobody = client(true);
      expect((await waitForLine(nobody.child, /^GOT (.*)$/))[1]).toBe('""');
      expect(await rejected).toBe(NOBODY.uid);
      const same = client(false);
      expect((await waitForLine(same.child, /^GOT (.*)$/))[1]).toBe('"welcome"');
      await Promise.all([nobody.done, same.done]);
      await closeAll();
    },
  );
});
