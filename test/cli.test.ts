/**
 * plugsock's CLI as nc -U / socat users drive it (issue 18): status on stderr and data on
 * stdout, half-close, --keep-open / --fork, -v, --fd-passing, --mode / --group, signals, help
 * and version. Refusals and bad command lines: test/cli-refusals.test.ts; 20 MB transfers:
 * test/cli-transfer.test.ts; a real terminal: test/cli-terminal.test.ts.
 */
import { existsSync, lstatSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runNode, tempDirEach } from './kit';
import { killAfterTest, runCli, stderrLine, until } from './fixtures/cli-kit';

const LISTENING = /^plugsock: listening on (unix:\S+)/;

describe('plugsock CLI', () => {
  const dir = tempDirEach('plugsock-cli-');

  it('demo runs end to end in two processes and cleans up', async () => {
    const result = await runCli(['demo']).done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('socket file mode 660');
    expect(result.stdout).toContain('reply: "HELLO PLUGIN"');
    expect(result.stdout).toContain('refused: ERR_ADDRESS_IN_USE');
    expect(result.stdout).toContain('detected the stale file');
    expect(result.stdout).toContain('socket file removed: yes');
  });

  it('info --json reports capabilities', async () => {
    const result = await runCli(['info', '--json']).done;
    expect(result.code).toBe(0);
    const caps = JSON.parse(result.stdout);
    expect(typeof caps.native).toBe('boolean');
    expect(caps.features).toHaveProperty('peerCredentials');
  });

  it('--version prints the version; --help, help <command> and <command> --help print usage on stdout, exit 0', async () => {
    const { version } = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8'));
    const v = await runCli(['--version']).done;
    expect([v.code, v.stdout, v.stderr]).toEqual([0, `plugsock ${version}\n`, '']);
    const top = await runCli(['--help']).done;
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/^Usage: plugsock <command>/);
    for (const command of ['listen', 'connect', 'info', 'demo']) {
      for (const args of [
        [command, '--help'],
        [command, '-h'],
        ['help', command],
        [command, '--bogus', '--help'],
      ]) {
        const r = await runCli(args).done;
        expect(r.code, args.join(' ')).toBe(0);
        expect(r.stdout, args.join(' ')).toMatch(new RegExp(`^Usage: plugsock ${command}`));
        expect(r.stderr).toBe('');
      }
    }
    const listenHelp = (await runCli(['listen', '--help']).done).stdout;
    for (const option of ['--mode', '--group', '--allow-uid', '--allow-gid', '--same-user', '--keep-open', '--fork', '--fd-passing', '--verbose']) {
      expect(listenHelp).toContain(option);
    }
    const none = await runCli([]).done;
    expect(none.code).toBe(2);
    expect(none.stdout).toBe('');
    expect(none.stderr).toMatch(/^Usage: plugsock <command>/);
  });

  it('listen and connect pipe both ways: status lines on stderr, stdout carries only the data', async () => {
    const path = join(dir(), 'cli.sock');
    const server = runCli(['listen', path]);
    const [, endpoint] = await stderrLine(server, LISTENING);
    expect(endpoint).toBe(`unix:${path}`);
    const client = runCli(['connect', endpoint!], { input: 'from client\n' });
    server.child.stdin!.end('from server\n');
    const [c, s] = await Promise.all([client.done, server.done]);
    expect([c.code, c.stdout, c.stderr]).toEqual([0, 'from server\n', '']);
    expect([s.code, s.stdout]).toEqual([0, 'from client\n']);
    expect(s.stderr).toMatch(new RegExp(`^plugsock: #1 connection from pid=${client.child.pid} uid=\\d+ gid=\\d+`, 'm'));
    expect(existsSync(path)).toBe(false);
  });

  it("half-close: the client's stdin ends, the server's output still arrives; each exits when both directions are done", async () => {
    const path = join(dir(), 'half.sock');
    const server = runCli(['listen', '-v', path]);
    await stderrLine(server, LISTENING);
    const client = runCli(['connect', path], { input: 'request\n' });
    // The client's EOF reaches the server; its stdin (still open) goes on to the client.
    await stderrLine(server, /#1 the client finished sending \(8 bytes received\)/);
    expect(client.child.exitCode).toBeNull();
    server.child.stdin!.write('reply, after the EOF\n');
    await until('the reply at the client', () => client.stdout() === 'reply, after the EOF\n');
    expect(client.child.exitCode, 'the client waits for the end of the server side').toBeNull();
    server.child.stdin!.end('and the rest\n');
    const [c, s] = await Promise.all([client.done, server.done]);
    expect([c.code, c.stdout]).toEqual([0, 'reply, after the EOF\nand the rest\n']);
    expect([s.code, s.stdout]).toEqual([0, 'request\n']);
  });

  it('connect: a server that closes the whole connection after its reply ends the session (exit 0, said on stderr)', async () => {
    const path = join(dir(), 'close.sock');
    const server = killAfterTest(
      runNode(
        `const net = require('net');
       const srv = net.createServer((c) => { c.end('bye\\n'); c.on('data', () => {}); setTimeout(() => c.destroy(), 100); });
       srv.listen(process.argv[1], () => console.log('ready'));
       process.stdin.on('end', () => srv.close()).resume();`,
        { args: [path] },
      ),
    );
    await until('the server', () => server.stdout().includes('ready'));
    const client = runCli(['connect', path]); // stdin stays open: only the server can end this
    client.child.stdin!.write('hello\n');
    const c = await client.done;
    server.child.stdin!.end();
    await server.done;
    expect([c.code, c.stdout]).toEqual([0, 'bye\n']);
    expect(c.stderr).toBe('plugsock: the server closed the connection while stdin was open\n');
  });

  it('connect: the same server while stdin still streams: the input was cut short, exit 1', async () => {
    const path = join(dir(), 'cut.sock');
    const server = killAfterTest(
      runNode(
        `const net = require('net');
         const srv = net.createServer((c) => { c.once('data', () => { c.end('bye\\n'); setTimeout(() => c.destroy(), 100); }); });
         srv.listen(process.argv[1], () => console.log('ready'));
         process.stdin.on('end', () => srv.close()).resume();`,
        { args: [path] },
      ),
    );
    await until('the server', () => server.stdout().includes('ready'));
    const client = runCli(['connect', path]);
    const timer = setInterval(() => client.child.stdin!.write('more input\n'), 20);
    const c = await client.done;
    clearInterval(timer);
    server.child.stdin!.end();
    await server.done;
    expect([c.code, c.stdout]).toEqual([1, 'bye\n']);
    expect(c.stderr).toMatch(
      /^plugsock: (the server closed the connection before the end of stdin: at least \d+ bytes of it were not sent|connection lost .*\(EPIPE\))\n$/,
    );
  });

  it('--keep-open serves connections one at a time, in order; the next waits unread', async () => {
    const path = join(dir(), 'keep.sock');
    const server = runCli(['listen', '--keep-open', path]);
    await stderrLine(server, /one at a time/);
    const first = runCli(['connect', path], { input: 'one\n' });
    await stderrLine(server, /^plugsock: #1 connection from/);
    const second = runCli(['connect', path], { input: 'two\n' });
    await stderrLine(server, /^plugsock: #2 connection from/);
    server.child.stdin!.write('for the first\n');
    await until('the first reply', () => first.stdout() === 'for the first\n');
    expect(server.stdout(), 'the second connection is not read while the first is served').toBe('one\n');
    server.child.stdin!.end();
    const [a, b] = await Promise.all([first.done, second.done]);
    expect([a.code, a.stdout]).toEqual([0, 'for the first\n']);
    expect([b.code, b.stdout], 'stdin had ended: the second got the EOF at once').toEqual([0, '']);
    await until('both served', () => server.stdout() === 'one\ntwo\n', 10_000, server.stdout);
    expect(server.child.exitCode, 'still listening').toBeNull();
    server.child.kill('SIGTERM');
    expect((await server.done).code).toBe(143);
    expect(existsSync(path)).toBe(false);
  });

  it('--fork serves connections concurrently, stdin going to each', async () => {
    const path = join(dir(), 'fork.sock');
    const server = runCli(['listen', '--fork', path]);
    await stderrLine(server, /concurrently/);
    const a = runCli(['connect', path]);
    const b = runCli(['connect', path]);
    await stderrLine(server, /^plugsock: #2 connection from/);
    a.child.stdin!.end('from a\n');
    b.child.stdin!.end('from b\n');
    server.child.stdin!.end('to all\n');
    const [ra, rb] = await Promise.all([a.done, b.done]);
    expect([ra.code, ra.stdout, rb.code, rb.stdout]).toEqual([0, 'to all\n', 0, 'to all\n']);
    await until('both lines', () => server.stdout().length === 14);
    expect(server.stdout().split('\n').sort()).toEqual(['', 'from a', 'from b']);
    server.child.kill('SIGINT');
    expect((await server.done).code).toBe(130);
  });

  it("a plain listen refuses a second connection while it serves one; another listener's liveness probe does not end it", async () => {
    const path = join(dir(), 'once.sock');
    const server = runCli(['listen', path]);
    await stderrLine(server, LISTENING);
    const rival = await runCli(['listen', path]).done;
    expect(rival.code).toBe(1);
    expect(rival.stderr).toMatch(/ERR_ADDRESS_IN_USE/);
    await stderrLine(server, /#1 the client closed the connection before either side sent anything .*; still listening$/);
    const first = runCli(['connect', path]);
    first.child.stdin!.write('first\n');
    await stderrLine(server, /^plugsock: #2 connection from/);
    const second = await runCli(['connect', path], { input: 'second\n' }).done;
    expect(second.code, second.stderr).toBe(3);
    expect(server.stderr()).toMatch(/#3 refused: already serving one connection/);
    first.child.stdin!.end();
    server.child.stdin!.end('ok\n');
    const [f, s] = await Promise.all([first.done, server.done]);
    expect([f.code, f.stdout, s.code, s.stdout]).toEqual([0, 'ok\n', 0, 'first\n']);
  });

  it('-v: peer credentials, byte counts and a hex dump on stderr; stdout is the data alone', async () => {
    const path = join(dir(), 'verbose.sock');
    const server = runCli(['listen', '-v', path], { input: 'yo\n' });
    await stderrLine(server, LISTENING);
    const client = runCli(['connect', '--verbose', path], { input: 'hello, plugsock\n' });
    const [c, s] = await Promise.all([client.done, server.done]);
    expect([c.code, c.stdout, s.code, s.stdout]).toEqual([0, 'yo\n', 0, 'hello, plugsock\n']);
    expect(c.stderr).toMatch(new RegExp(`^plugsock: connected to unix:${path}: server pid=${server.child.pid} uid=\\d+ gid=\\d+`, 'm'));
    expect(c.stderr).toContain('plugsock: > 00000000  68 65 6c 6c 6f 2c 20 70  6c 75 67 73 6f 63 6b 0a  |hello, plugsock.|');
    expect(c.stderr).toContain('plugsock: < 00000000  79 6f 0a');
    expect(c.stderr).toContain('plugsock: closed: 3 bytes received, 16 bytes sent');
    expect(s.stderr).toContain('plugsock: #1 < 00000000  68 65 6c 6c 6f 2c 20 70  6c 75 67 73 6f 63 6b 0a  |hello, plugsock.|');
    expect(s.stderr).toContain('plugsock: #1 closed: 16 bytes received, 3 bytes sent');
  });

  it('--fd-passing: each received fd is described on stderr (kind, path) and closed; the bytes go to stdout', async () => {
    const path = join(dir(), 'fds.sock');
    const file = join(dir(), 'passed.txt');
    writeFileSync(file, 'contents');
    const sub = join(dir(), 'subdir');
    mkdirSync(sub);
    const server = runCli(['listen', '--fd-passing', path], { input: '' });
    await stderrLine(server, LISTENING);
    const sender = killAfterTest(
      runNode(
        `(async () => {
         const fs = require('fs');
         const t = new plugsock.UnixSocketTransport({ allowHalfOpen: true });
         const s = await t.connect(process.argv[1], { fdPassing: true });
         const fds = [fs.openSync(process.argv[2], 'r'), fs.openSync(process.argv[3], 'r')];
         await s.sendFds(fds, Buffer.from('with fds\\n'));
         fds.forEach((fd) => fs.closeSync(fd));
         s.end('plain\\n');
         s.resume();
         s.on('close', () => t.close());
       })();`,
        { args: [path, file, sub] },
      ),
    );
    const [s, c] = await Promise.all([server.done, sender.done]);
    expect(c.code, c.stderr).toBe(0);
    expect([s.code, s.stdout]).toEqual([0, 'with fds\nplain\n']);
    expect(s.stderr).toMatch(new RegExp(`^plugsock: #1 received fd \\d+: regular file ${file}$`, 'm'));
    expect(s.stderr).toMatch(new RegExp(`^plugsock: #1 received fd \\d+: directory ${sub}$`, 'm'));
  });

  it('connect --fd-passing shows what the server passes', async () => {
    const path = join(dir(), 'fds2.sock');
    const server = killAfterTest(
      runNode(
        `const fs = require('fs');
       const t = new plugsock.UnixSocketTransport({ path: process.argv[1], fdPassing: true, allowHalfOpen: true });
       t.on('connection', async (s) => {
         const fd = fs.openSync('/dev/null', 'r');
         await s.sendFds([fd], Buffer.from('here\\n'));
         fs.closeSync(fd);
         s.end();
         s.resume();
         s.on('close', () => t.close());
       });
       t.listen().then(() => console.log('ready'));`,
        { args: [path] },
      ),
    );
    await until('the server', () => server.stdout().includes('ready'));
    const c = await runCli(['connect', '--fd-passing', path], { input: '' }).done;
    expect([c.code, c.stdout]).toEqual([0, 'here\n']);
    expect(c.stderr).toMatch(/^plugsock: received fd \d+: character device \/dev\/null$/m);
    await server.done;
  });

  it('--mode and --group (number or name) make the socket file', async () => {
    const path = join(dir(), 'perm.sock');
    const gid = process.getgid!();
    const name = readFileSync('/etc/group', 'utf8')
      .split('\n')
      .map((l) => l.split(':'))
      .find((f) => f[2] === String(gid))?.[0];
    for (const group of [String(gid), ...(name ? [name] : [])]) {
      const server = runCli(['listen', path, '--mode', '0o604', '--group', group]);
      await stderrLine(server, /listening on .*\(mode 604,/);
      const st = lstatSync(path);
      expect([st.mode & 0o777, st.gid]).toEqual([0o604, gid]);
      server.child.kill('SIGTERM');
      expect((await server.done).code).toBe(143);
    }
  });

  it('signals: SIGINT exits 130, SIGTERM 143, SIGHUP 129, the socket file removed; also while connect waits', async () => {
    for (const [signal, code] of [
      ['SIGINT', 130],
      ['SIGTERM', 143],
      ['SIGHUP', 129],
    ] as const) {
      const path = join(dir(), `${signal}.sock`);
      const server = runCli(['listen', path]);
      await stderrLine(server, LISTENING);
      server.child.kill(signal);
      const s = await server.done;
      expect([s.signal, s.code], signal).toEqual([null, code]);
      expect(existsSync(path), signal).toBe(false);
    }
    // -v: its status line comes once Ctrl-C is the command's (a fixed delay was shorter than its
    // start on a loaded machine, and SIGINT then ended Node the default way).
    const waiting = runCli(['connect', join(dir(), 'nobody.sock'), '--timeout', '60000', '-v']);
    await stderrLine(waiting, /^plugsock: connecting to .* \(waiting up to 60000 ms for a server\)$/);
    waiting.child.kill('SIGINT');
    const w = await waiting.done;
    expect([w.signal, w.code, w.stderr.split('\n').slice(1)]).toEqual([null, 130, ['']]);
  });

  it('stdout gone (EPIPE): one line, exit 1; the connection is closed at once, and the listener, whose data went unread, exits 1', async () => {
    const path = join(dir(), 'epipe.sock');
    const server = runCli(['listen', path], { stdio: ['pipe', openSync('/dev/null', 'w'), 'pipe'] });
    await stderrLine(server, LISTENING);
    const client = runCli(['connect', path]);
    client.child.stdout!.destroy(); // the reader of the client's stdout goes away
    server.child.stdin!.write('x'.repeat(1 << 20));
    const c = await client.done;
    expect(c.code).toBe(1);
    expect(c.stderr).toMatch(/^plugsock: cannot write to stdout: EPIPE$/m);
    server.child.stdin!.end();
    const s = await server.done;
    expect(s.code, s.stderr).toBe(1);
  });
});
