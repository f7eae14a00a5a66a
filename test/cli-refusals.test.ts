/**
 * When the CLI says no, or is told no (issue 18): a peer policy's refusal is exit 3 on the side
 * that learns of it, a command line that cannot work is exit 2 with a message naming the
 * option, a failure is exit 1 in the CLI's words (never an API option such as
 * connectTimeoutMs, never "got NaN").
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NOBODY, cannotRun, isRoot, tempDirEach } from './kit';
import { runCli, stderrLine } from './fixtures/cli-kit';

const LISTENING = /^plugsock: listening on (unix:\S+)/;
/** A uid nobody here runs as: a listener allowing only it refuses every client of this test. */
const STRANGER = '4242';

describe('refused by a peer policy: exit 3', () => {
  const dir = tempDirEach('plugsock-clirefuse-');

  it("the listener's policy refuses the client: the client exits 3 when it sent data or still had input; the listener keeps waiting", async () => {
    const path = join(dir(), 'guarded.sock');
    const server = runCli(['listen', path, '--allow-uid', STRANGER]);
    await stderrLine(server, LISTENING);

    const withData = await runCli(['connect', path], { input: 'let me in\n' }).done;
    expect([withData.code, withData.stdout], withData.stderr).toEqual([3, '']);
    // Which of the two the client sees depends on whether its bytes left before the refusal.
    expect(withData.stderr).toMatch(
      /^plugsock: the server closed the connection before (sending anything, without reading what was sent to it \((ECONNRESET|EPIPE)\)|either side sent anything)/,
    );

    // Nothing sent, stdin still open (a person at a terminal who has not typed yet).
    const silent = runCli(['connect', path]);
    const s = await silent.done;
    expect([s.code, s.stdout], s.stderr).toEqual([3, '']);
    expect(s.stderr).toMatch(/before either side sent anything, as a listener whose peer policy refuses us does/);

    // Nothing to send, and stdin's end may shut our side before the refusal comes: then it looks
    // like a server with nothing to say (exit 0), else it is seen (3). The README says so.
    const empty = await runCli(['connect', path], { input: '' }).done;
    expect(empty.stdout).toBe('');
    if (empty.code === 0) expect(empty.stderr).toBe('');
    else expect([empty.code, empty.stderr]).toEqual([3, expect.stringMatching(/before either side sent anything/)]);

    expect(server.stderr().match(/^plugsock: refused pid=\d+ uid=\d+ gid=\d+.*: uid \d+ is not in the allowed uids \[4242\]$/gm)).toHaveLength(3);
    expect(server.child.exitCode, 'refused connections do not count').toBeNull();
    server.child.kill('SIGTERM');
    const r = await server.done;
    expect(r.code).toBe(143);
    expect(r.stdout).toBe('');
    expect(existsSync(path)).toBe(false);
  });

  it("the client's own policy refuses the server: exit 3 with ERR_PEER_REJECTED, nothing sent", async () => {
    const path = join(dir(), 'suspect.sock');
    const server = runCli(['listen', path, '-v']);
    await stderrLine(server, LISTENING);
    const c = await runCli(['connect', path, '--allow-uid', STRANGER], { input: 'secret\n' }).done;
    expect([c.code, c.stdout]).toEqual([3, '']);
    expect(c.stderr).toMatch(
      /^plugsock: refused the server at \S+: it fails --allow-uid\/--allow-gid\/--same-user \(uid \d+ is not in the allowed uids \[4242\]\)\. Nothing was sent\. \(ERR_PEER_REJECTED\)$/m,
    );
    // The listener saw a connection end before anything was exchanged, and waits on.
    await stderrLine(server, /#1 the client closed the connection before either side sent anything.*; still listening$/);
    expect(server.stdout()).toBe('');
    server.child.kill('SIGINT');
    expect((await server.done).code).toBe(130);
  });

  it('--allow-uid rejects another user for real, and --same-user admits this one', async () => {
    if (!isRoot && cannotRun('needs root to run a child as another user')) return;
    const path = join(dir(), 'same.sock');
    const server = runCli(['listen', path, '--mode', '666', '--same-user'], { input: 'welcome\n' });
    await stderrLine(server, LISTENING);
    const intruder = runCli(['connect', path], { ...NOBODY, input: 'let me in\n' });
    const i = await intruder.done;
    expect([i.code, i.stdout]).toEqual([3, '']);
    expect(server.stderr()).toContain(`refused pid=${intruder.child.pid} uid=${NOBODY.uid}`);
    const friend = await runCli(['connect', path], { input: 'hi\n' }).done;
    expect([friend.code, friend.stdout]).toEqual([0, 'welcome\n']);
    const s = await server.done;
    expect([s.code, s.stdout]).toEqual([0, 'hi\n']);
  });
});

describe('bad command lines: exit 2, a message naming the option, nothing opened', () => {
  const dir = tempDirEach('plugsock-cliusage-');
  const cases: Array<[string[], RegExp]> = [
    [['listen', '--bogus'], /^plugsock: listen: unknown option --bogus$/m],
    [['listen', '--mod', '600'], /unknown option --mod; did you mean --mode\?/],
    [['listen', '-x'], /unknown option -x/],
    [['listen', '--mode'], /listen: --mode needs a value \(MODE\)/],
    [['listen', '--mode=9'], /--mode takes an octal mode from 0 to 777 .*, got "9"/],
    [['listen', '--same-user=yes'], /--same-user takes no value/],
    [['listen', '--keep-open', '--fork'], /--keep-open and --fork exclude each other/],
    [['listen', '--once', '-k'], /--once and --keep-open exclude each other/],
    [['listen', '--allow-uid', 'no-such-user-here'], /--allow-uid: no user named "no-such-user-here" in \/etc\/passwd/],
    [['listen', '--allow-uid=-5'], /--allow-uid takes a user id \(0 to 2147483647\) or a user name, got "-5"/],
    [['listen', '--allow-gid', '1.5'], /--allow-gid takes a group id/],
    [['listen', '--group', '99999999999'], /--group takes a group id/],
    [['listen', '--native', 'maybe'], /--native takes auto, require or off, got "maybe"/],
    [['listen', '--same-user', '--native', 'off'], /--allow-uid\/--allow-gid\/--same-user: needs plugsock's native addon: not with --native off/],
    [['listen', '--fd-passing', '--native=off'], /--fd-passing: needs plugsock's native addon: not with --native off/],
    [['listen', 'relative.sock'], /listen: .*"relative\.sock" is not absolute/],
    [['listen', '/tmp/a.sock', '/tmp/b.sock'], /unexpected argument "\/tmp\/b\.sock"/],
    [['connect'], /connect: needs an endpoint/],
    [['connect', 'relative.sock'], /connect: .*not absolute/],
    [['connect', '/x.sock', '--timeout', 'soon'], /connect: --timeout takes milliseconds, a whole number from 0 to 2147483647, got "soon"/],
    [['connect', '/x.sock', '--timeout=-1'], /--timeout takes milliseconds.*got "-1"/],
    [['connect', '/x.sock', '--timeout', '1e3'], /--timeout takes milliseconds.*got "1e3"/],
    [['connect', '/x.sock', '--timeout', '99999999999'], /--timeout takes milliseconds.*got "99999999999"/],
    [['connect', '/x.sock', '--timeout'], /--timeout needs a value \(MS\)/],
    [['connect', '/x.sock', '--keep-open'], /connect: unknown option --keep-open/],
    [['info', 'extra'], /info: unexpected argument "extra"/],
    [['frob'], /^plugsock: unknown command "frob"$/m],
    [['--verison'], /unknown option --verison; did you mean --version\?/],
  ];
  for (const [args, message] of cases) {
    it(`plugsock ${args.join(' ')}`, async () => {
      const r = await runCli(args, { cwd: dir(), timeoutMs: 10_000 }).done;
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/^plugsock: try 'plugsock (\w+ )?--help'$/m);
      expect(r.stderr).not.toMatch(/NaN|connectTimeoutMs|^\s+at /m);
      expect(r.stdout).toBe('');
      expect(existsSync(join(dir(), 'relative.sock'))).toBe(false);
    });
  }
});

describe('failures: exit 1, in the command line words', () => {
  const dir = tempDirEach('plugsock-clifail-');

  it('nobody listening: says how long it waited, what it found, and which option waits longer', async () => {
    const path = join(dir(), 'absent.sock');
    const r = await runCli(['connect', path, '--timeout', '200']).done;
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `plugsock: no server to connect to at ${path} within 200 ms: there is no socket at that path. ` +
        `Start the listener first (plugsock listen ${path}), or wait longer with --timeout MS. (ERR_CONNECT_TIMEOUT)\n`,
    );
  });

  it('cannot listen: what is in the way, with its code', async () => {
    const file = join(dir(), 'regular');
    writeFileSync(file, 'keep me');
    const r = await runCli(['listen', file]).done;
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^plugsock: cannot listen on \S+regular: .*regular file, not a socket.* \(ERR_NOT_A_SOCKET\)$/m);
    const missing = await runCli(['listen', join(dir(), 'no', 'such', 'dir.sock')]).done;
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/does not exist: create it first\. \(ERR_INVALID_PATH\)$/m);
  });

  it('a policy or --fd-passing without the addon: says which option needs it and why it did not load', async () => {
    const env = { ...process.env, PLUGSOCK_DISABLE_ADDON: '1' };
    for (const args of [
      ['listen', join(dir(), 'a.sock'), '--same-user'],
      ['connect', join(dir(), 'a.sock'), '--fd-passing'],
    ]) {
      const r = await runCli(args, { env }).done;
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(
        /: (--allow-uid\/--allow-gid\/--same-user|--fd-passing): needs plugsock's native addon, which did not load here: .*PLUGSOCK_DISABLE_ADDON/,
      );
    }
  });

  it('--native off where the directory needs the addon: said with the option, not the API', async () => {
    const path = join(dir(), 'insecure', 'x.sock');
    mkdirSync(join(dir(), 'insecure'));
    chmodSync(join(dir(), 'insecure'), 0o777);
    const r = await runCli(['listen', path, '--native', 'off']).done;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('the command was given --native off');
    expect(r.stderr).not.toContain("native: 'off'");
  });
});
