/**
 * Issue 13, "Peer checks": isAlive() of a zombie peer, and connections that refuse passed fds
 * (SO_PASSRIGHTS off) unless they are fdPassing. Real processes: a Python peer that forks, and
 * one that sends SCM_RIGHTS where it should not be able to.
 */
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cannotRun, hasPython as pythonRuns, plugsock, run, start, transportsPerTest, waitForLine } from './kit';

const hasPython = pythonRuns();
const [major, minor] = release().split('.').map(Number);
/** SO_PASSRIGHTS came with Linux 6.16. */
const kernelHasPassRights = process.platform === 'linux' && (major > 6 || (major === 6 && minor >= 16));

/** Runs a Python script; resolves its stdout once it exits (bounded). */
async function python(script: string, args: string[] = []): Promise<string> {
  const r = await run('python3', ['-c', script, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`python exited ${r.code ?? r.signal}: ${r.stderr}`);
  return r.stdout;
}

/** A Python client that connects, waits for one byte, tries to pass its stdin fd, reports. */
const SEND_FD = `
import socket, sys, array
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.recv(1)
try:
    s.sendmsg([b'x'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [0]))]); print('SENT')
except OSError as e:
    print('REFUSED', e.errno)
`;

describe.runIf(process.platform === 'linux')('peer checks that fail closed', () => {
  const { dir, make } = transportsPerTest({ native: 'require' });

  it('isAlive() is false for a peer that exited but was not reaped (a zombie)', async ({ skip }) => {
    if (!hasPython && cannotRun('python3 is needed for the forking peer')) return skip();
    const path = join(dir(), 'z.sock');
    const server = make({ path });
    const accepted = new Promise<any>((resolve) => server.once('connection', resolve));
    await server.listen();
    // P forks C; C connects, forks G (which keeps the connection open) and exits. P never waits
    // for C, so C stays a zombie while the connection it made lives on in G.
    const parent = python(
      `
import os, socket, sys, time
c = os.fork()
if c == 0:
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
    if os.fork() == 0:
        time.sleep(3); os._exit(0)
    os._exit(0)
time.sleep(3)
`,
      [path],
    );
    const socket = await accepted;
    expect(socket.peer.pidfd).not.toBeNull();
    const pid = socket.peer.pid as number;
    // Wait (bounded) until the child has exited: /proc/<pid>/stat state Z.
    const deadline = Date.now() + 5000;
    let state = '';
    while (Date.now() < deadline) {
      try {
        state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0];
      } catch {
        state = 'gone';
      }
      if (state === 'Z') break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(state, 'the child never became a zombie').toBe('Z');
    expect(socket.peer.isAlive()).toBe(false);
    socket.destroy();
    await parent;
  });

  it('capabilities() says whether connections refuse passed fds, as the kernel allows', () => {
    expect(plugsock.capabilities().features.refusesPassedFds).toBe(kernelHasPassRights);
  });

  it('an accepted connection that is not fdPassing refuses a passed fd (EPERM at the sender); an fdPassing one takes it', async ({ skip }) => {
    if (!hasPython && cannotRun('python3 is needed for the sending peer')) return skip();
    if (!kernelHasPassRights && cannotRun(`kernel ${release()} has no SO_PASSRIGHTS (6.16+)`)) return skip();
    const plain = make({ path: join(dir(), 'plain.sock') });
    plain.on('connection', (s) => s.write('g'));
    await plain.listen();
    expect((await python(SEND_FD, [join(dir(), 'plain.sock')])).trim()).toBe('REFUSED 1');

    const passing = make({ path: join(dir(), 'fds.sock'), fdPassing: true });
    const got = new Promise<number[]>((resolve) =>
      passing.on('connection', (s: any) => {
        s.on('fds', (fds: number[]) => {
          plugsock.closeFds(fds);
          resolve(fds);
        });
        s.on('data', () => {});
        s.write('g');
      }),
    );
    await passing.listen();
    expect((await python(SEND_FD, [join(dir(), 'fds.sock')])).trim()).toBe('SENT');
    expect((await got).length).toBe(1);
  });

  // A listener plugsock made is set once (accepted connections inherit SO_PASSRIGHTS, 6.16+); a
  // listener handed over keeps the first process's setting, so the successor's connections must
  // each set their own, whichever way the two differ.
  for (const [before, after] of [
    [false, true],
    [true, false],
  ] as const) {
    it(`after a hand-off from ${before ? 'an fdPassing' : 'a plain'} listener to ${after ? 'an fdPassing' : 'a plain'} successor, connections ${after ? 'take' : 'refuse'} passed fds`, async ({
      skip,
    }) => {
      if (!hasPython && cannotRun('python3 is needed for the sending peer')) return skip();
      if (!kernelHasPassRights && cannotRun(`kernel ${release()} has no SO_PASSRIGHTS (6.16+)`)) return skip();
      const path = join(dir(), 'h.sock');
      const control = join(dir(), 'h.ctl');
      const first = make({ path, fdPassing: before });
      await first.listen();
      const handing = first.handOff(control);
      const successor = await plugsock.UnixSocketTransport.takeOver(control, { native: 'require', fdPassing: after });
      await handing;
      try {
        const fds: number[] = [];
        successor.on('connection', (s: any) => {
          s.on('fds', (got: number[]) => {
            fds.push(...got);
            plugsock.closeFds(got);
          });
          s.on('data', () => {});
          s.write('g');
        });
        const said = (await python(SEND_FD, [path])).trim();
        expect(said).toBe(after ? 'SENT' : 'REFUSED 1');
        if (after) {
          const deadline = Date.now() + 2000;
          while (fds.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
          expect(fds.length).toBe(1);
        }
      } finally {
        await successor.close();
      }
    });
  }

  it('a connection this transport opens (not fdPassing) refuses a passed fd from the server', async ({ skip }) => {
    if (!hasPython && cannotRun('python3 is needed for the sending server')) return skip();
    if (!kernelHasPassRights && cannotRun(`kernel ${release()} has no SO_PASSRIGHTS (6.16+)`)) return skip();
    const path = join(dir(), 'srv.sock');
    const { child: server, stdout } = start(
      'python3',
      [
        '-c',
        `
import socket, sys, array
l = socket.socket(socket.AF_UNIX); l.bind(sys.argv[1]); l.listen(1); print('READY', flush=True)
c, _ = l.accept(); c.recv(1)
try:
    c.sendmsg([b'x'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [0]))]); print('SENT', flush=True)
except OSError as e:
    print('REFUSED', e.errno, flush=True)
`,
        path,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await waitForLine(server, /READY/);
    const socket = await make().connect(path);
    socket.write('g');
    await new Promise((r) => server.on('close', r));
    socket.destroy();
    expect(stdout().trim().split('\n').pop()).toBe('REFUSED 1');
  });
});
