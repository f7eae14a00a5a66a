/**
 * CLI fails closed (issue 13, and issue 18's half-close): `plugsock connect` survives the
 * server going away (ECONNRESET, EPIPE: one line, exit 1; before the server said anything:
 * exit 3, a refusal's mark), keeps sending after a half-close, and `--mode` takes only valid
 * octal (exit 2, nothing made).
 */
import { existsSync, lstatSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { start, tempDirEach } from './kit';
import { cli } from './fixtures/cli-kit';

function run(args: string[]) {
  // Bounded: a CLI that hangs is killed and reported as such.
  const { child, done, stderr } = start(process.execPath, [cli, ...args], { timeoutMs: 15_000 });
  return { child, done, err: stderr };
}

/** Lines the CLI printed about the failure: exactly one, and no stack trace or unhandled 'error'. */
function expectOneLine(stderr: string, what: string) {
  const lines = stderr.split('\n').filter((l) => l);
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^plugsock: .*${what}`));
  expect(stderr).not.toMatch(/Unhandled|^\s+at /m);
}

describe('plugsock connect when the server goes away', () => {
  const dir = tempDirEach('plugsock-clifc-');
  let server: Server | null = null;
  const conns = new Set<Socket>();
  afterEach(async () => {
    for (const c of conns) c.destroy();
    conns.clear();
    if (server) await new Promise((r) => server!.close(r));
    server = null;
  });

  async function serve(onConnection: (c: Socket) => void, options: { pauseOnConnect?: boolean } = {}): Promise<string> {
    const path = join(dir(), 'srv.sock');
    server = createServer(options, (c) => {
      conns.add(c);
      c.on('error', () => {});
      onConnection(c);
    });
    await new Promise<void>((r) => server!.listen(path, r));
    return path;
  }

  it('ECONNRESET (the server closes with our data unread, after its own): one line, exit 1; before sending anything: exit 3', async () => {
    let greet = true;
    const path = await serve(
      (c) => {
        if (greet) c.write('hi\n');
        setTimeout(() => c.destroy(), 300);
      },
      { pauseOnConnect: true },
    );
    const client = run(['connect', path]);
    client.child.stdin!.write('hello\n'); // stdin stays open: only the reset ends the session
    const r = await client.done;
    expect(r.signal).toBeNull();
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toBe('hi\n');
    expectOneLine(r.stderr, 'connection lost after 3 bytes received, 6 sent: the server closed it before reading all that was sent \\(ECONNRESET\\)');

    // The same without a word from the server: what a refusal by its peer policy looks like.
    greet = false;
    const silent = run(['connect', path]);
    silent.child.stdin!.write('hello\n');
    const r2 = await silent.done;
    expect([r2.signal, r2.code, r2.stdout]).toEqual([null, 3, '']);
    expectOneLine(r2.stderr, 'before sending anything, without reading what was sent to it \\(ECONNRESET\\)');
  });

  it('a server that half-closes with its reply and reads on gets all of stdin; the client exits 0 once stdin ends', async () => {
    let got = 0;
    const path = await serve((c) => {
      c.end('bye\n');
      c.on('data', (d) => (got += d.length));
    });
    const client = run(['connect', path]);
    const chunk = 'x'.repeat(1000);
    for (let i = 0; i < 300; i++) client.child.stdin!.write(chunk);
    client.child.stdin!.end();
    const r = await client.done;
    expect([r.signal, r.code, r.stdout, r.stderr]).toEqual([null, 0, 'bye\n', '']);
    expect(got, 'every byte of stdin reached the server after its EOF').toBe(300_000);
  });

  it('EPIPE (the server closes while we write): one line, exit 1', async () => {
    const path = await serve((c) => {
      c.write('ready\n');
      c.once('data', () => c.destroy());
    });
    const client = run(['connect', path]);
    // Write only once 'ready' reached the client's stdout: a close with our bytes unread makes the
    // kernel report ECONNRESET, which can overtake 'ready' still queued (0 bytes received would be
    // a refusal, exit 3: test/cli-refusals.test.ts).
    await new Promise<void>((resolve) => {
      let seen = '';
      client.child.stdout!.on('data', (d) => {
        seen += d;
        if (seen.includes('ready')) resolve();
      });
    });
    const chunk = Buffer.alloc(64 * 1024, 0x78);
    let n = 0;
    const pump = () => {
      if (n++ < 200 && client.child.exitCode === null && !client.child.stdin!.destroyed) client.child.stdin!.write(chunk, pump);
    };
    pump();
    const r = await client.done;
    expect(r.signal).toBeNull();
    expect(r.code, r.stderr).toBe(1);
    // Written into the close (EPIPE), or found closed between two writes with more to send.
    expectOneLine(r.stderr, '(connection lost after 6 bytes received.*\\((EPIPE|ECONNRESET)\\)|the server closed the connection before the end of stdin)');
  });
});

describe('plugsock listen --mode', () => {
  const dir = tempDirEach('plugsock-climode-');

  it('octal with or without 0o is the mode: 604, 0640, 0o600, 0O640, 0o0', async () => {
    for (const [given, mode] of [
      ['604', 0o604],
      ['0640', 0o640],
      ['0o600', 0o600],
      ['0O640', 0o640],
      ['0o0', 0],
    ] as const) {
      const path = join(dir(), `ok-${given}.sock`);
      const server = run(['listen', path, '--mode', given]);
      const deadline = Date.now() + 10_000;
      for (let i = 0; i < 500 && !server.err().includes('listening on unix:') && server.child.exitCode === null && Date.now() < deadline; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      try {
        expect(server.err(), `--mode ${given}`).toMatch(/^plugsock: listening on unix:/);
        expect(lstatSync(path).mode & 0o7777, `--mode ${given}`).toBe(mode);
      } finally {
        server.child.kill('SIGTERM');
      }
      await server.done;
    }
  });

  for (const bad of ['78', '8', '9', '0o78', '0x1b6', '-660', '+660', '660 ', ' 660', '', '1777', '07777', '0o', '6.6', '0b110']) {
    it(`--mode ${JSON.stringify(bad)} is refused: a usage error, exit 2, no socket`, async () => {
      const path = join(dir(), 'bad.sock');
      const server = run(['listen', path, `--mode=${bad}`]);
      // A CLI that accepted it would listen; give it a bounded time to show that, then end it.
      const t = setTimeout(() => server.child.kill('SIGTERM'), 3000);
      const r = await server.done;
      clearTimeout(t);
      expect(r.code, r.stderr + r.stdout).toBe(2);
      expect(r.stderr).toMatch(/^plugsock: listen: --mode takes an octal mode from 0 to 777 such as 660, 0660 or 0o660, got /);
      expect(r.stdout).toBe('');
      expect(existsSync(path)).toBe(false);
    });
  }
});
