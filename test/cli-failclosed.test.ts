/**
 * CLI fails closed (issue 13): `plugsock connect` survives the server going away (ECONNRESET,
 * EPIPE: one line, exit 1; a clean EOF: exit 0), and `--mode` takes only valid octal.
 */
import { existsSync, lstatSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { root, start, tempDirEach } from './kit';

const cli = join(root, 'dist', 'cli.js');

function run(args: string[]) {
  // Bounded: a CLI that hangs is killed and reported as such.
  const { child, done, stdout } = start(process.execPath, [cli, ...args], { timeoutMs: 15_000 });
  return { child, done, out: stdout };
}

/** Lines the CLI printed about the failure: exactly one, and no stack trace or unhandled 'error'. */
function expectOneLine(stderr: string, code: string) {
  const lines = stderr.split('\n').filter((l) => l && !l.startsWith('plugsock: connected to'));
  expect(lines, stderr).toHaveLength(1);
  expect(lines[0]).toMatch(new RegExp(`^plugsock: .*${code}`));
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

  it('ECONNRESET (the server closes with our data unread): one line, exit 1; a clean EOF: exit 0', async () => {
    let clean = false;
    const path = await serve(
      (c) => {
        if (clean) c.end('bye\n');
        else setTimeout(() => c.destroy(), 300);
      },
      { pauseOnConnect: true },
    );
    const client = run(['connect', path]);
    client.child.stdin!.write('hello\n'); // stdin stays open: only the reset ends the session
    const r = await client.done;
    expect(r.signal).toBeNull();
    expect(r.code, r.stderr).toBe(1);
    expectOneLine(r.stderr, 'ECONNRESET');

    // The same server ending the connection cleanly, while stdin keeps coming: no error.
    clean = true;
    const again = run(['connect', path]);
    let i = 0;
    const timer = setInterval(() => {
      if (i++ > 300 || again.child.exitCode !== null || again.child.stdin!.destroyed) return clearInterval(timer);
      again.child.stdin!.write('x'.repeat(1000));
    }, 1);
    const r2 = await again.done;
    clearInterval(timer);
    expect(r2.signal).toBeNull();
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stdout).toBe('bye\n');
    expect(r2.stderr.split('\n').filter((l) => l && !l.startsWith('plugsock: connected to'))).toEqual([]);
  });

  it('EPIPE (the server closes while we write): one line, exit 1', async () => {
    const path = await serve((c) => c.once('data', () => c.destroy()));
    const client = run(['connect', path]);
    const chunk = Buffer.alloc(64 * 1024, 0x78);
    let n = 0;
    const pump = () => {
      if (n++ < 200 && client.child.exitCode === null && !client.child.stdin!.destroyed) client.child.stdin!.write(chunk, pump);
    };
    pump();
    const r = await client.done;
    expect(r.signal).toBeNull();
    expect(r.code, r.stderr).toBe(1);
    expectOneLine(r.stderr, 'EPIPE|ECONNRESET');
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
      for (let i = 0; i < 500 && !server.out().startsWith('unix:') && server.child.exitCode === null && Date.now() < deadline; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      try {
        expect(server.out(), `--mode ${given}`).toMatch(/^unix:/);
        expect(lstatSync(path).mode & 0o7777, `--mode ${given}`).toBe(mode);
      } finally {
        server.child.kill('SIGTERM');
      }
      await server.done;
    }
  });

  for (const bad of ['78', '8', '9', '0o78', '0x1b6', '-660', '+660', '660 ', ' 660', '', '1777', '07777', '0o', '6.6', '0b110']) {
    it(`--mode ${JSON.stringify(bad)} is refused: an error, exit 1, no socket`, async () => {
      const path = join(dir(), 'bad.sock');
      const server = run(['listen', path, `--mode=${bad}`]);
      // A CLI that accepted it would listen; give it a bounded time to show that, then end it.
      const t = setTimeout(() => server.child.kill('SIGTERM'), 3000);
      const r = await server.done;
      clearTimeout(t);
      expect(r.code, r.stderr + r.stdout).toBe(1);
      expect(r.stderr).toMatch(/ERR_INVALID_OPTION: --mode/);
      expect(r.stdout).toBe('');
      expect(existsSync(path)).toBe(false);
    });
  }
});
