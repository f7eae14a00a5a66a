import { existsSync, lstatSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { expectCode, plugsock, root, runNode, start, tempDirEach, until, waitForLine } from './kit';

const example = join(root, 'examples', 'handoff.mjs');

const startServer = (path: string, control: string) => start(process.execPath, [example, path, control], { stdio: ['ignore', 'pipe', 'pipe'] });

describe('listener hand-off between processes', () => {
  const dir = tempDirEach();

  it('a new process takes the listener over while clients loop, and no client is refused or reset', async () => {
    const path = join(dir(), 'app.sock');
    const control = join(dir(), 'app.control');
    const a = startServer(path, control);
    const [, aPid] = await waitForLine(a.child, /^LISTENING unix:\S+ pid (\d+)/);
    const ino = lstatSync(path).ino;

    // Clients in a loop in their own process: connect, ask, read the answer, close.
    const loop = runNode(`
      const net = require('net');
      const seen = {}; const errors = []; let n = 0; let stop = false;
      process.stdin.on('data', () => { stop = true; }).resume();
      (async function run() {
        while (!stop) {
          await new Promise((resolve) => {
            const s = net.connect(${JSON.stringify(path)});
            let got = '';
            s.on('connect', () => s.write('who\\n'));
            s.on('data', (d) => { got += d; if (got.endsWith('\\n')) s.end(); });
            s.on('error', (e) => { errors.push(e.code); resolve(); });
            s.on('close', () => {
              const who = got.trim();
              if (who && !seen[who]) console.log('SEEN ' + who); // the first answer from each process
              if (who) { seen[who] = (seen[who] || 0) + 1; n++; } else if (!errors.length) errors.push('EMPTY');
              resolve();
            });
          });
        }
        console.log('RESULT ' + JSON.stringify({ n, seen, errors }));
      })();
    `);
    // Served by the first process before the second starts (however long the loop's process
    // takes to start on a loaded machine).
    await until(() => loop.stdout().includes(`SEEN ${aPid}\n`));

    const b = startServer(path, control);
    const [, bPid] = await waitForLine(b.child, /^TOOK OVER unix:\S+ pid (\d+)/);
    expect((await a.done).code).toBe(0);
    // The loop goes on against the new process alone until it has been served by it.
    await until(() => loop.stdout().includes(`SEEN ${bPid}\n`));
    loop.child.stdin!.end('stop\n');
    const [, json] = await waitForLine(loop.child, /^RESULT (.*)$/);
    await loop.done;
    const result = JSON.parse(json) as { n: number; seen: Record<string, number>; errors: string[] };

    expect(result.errors).toEqual([]);
    expect(result.seen[aPid]).toBeGreaterThan(0);
    expect(result.seen[bPid]).toBeGreaterThan(0);
    expect(Object.keys(result.seen).sort()).toEqual([aPid, bPid].sort());
    // Same socket file throughout, now owned by the new process, which removes it on close.
    expect(lstatSync(path).ino).toBe(ino);
    // The new process offers the next hand-off on the same control path, and cleans both up.
    expect(lstatSync(control).isSocket()).toBe(true);
    b.child.kill('SIGTERM');
    expect((await b.done).code).toBe(0);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(control)).toBe(false);
  });

  it('takeOver() times out cleanly when nobody offers, and handOff() needs a listening transport', async () => {
    const { UnixSocketTransport } = plugsock;
    await expectCode(UnixSocketTransport.takeOver(join(dir(), 'nobody.control'), { connectTimeoutMs: 100 }), 'ERR_CONNECT_TIMEOUT');
    const idle = new UnixSocketTransport({ path: join(dir(), 'idle.sock') });
    await expectCode(idle.handOff(join(dir(), 'c')), 'ERR_INVALID_STATE');
    await idle.close();
    const fallback = new UnixSocketTransport({ path: join(dir(), 'f.sock'), native: 'off' });
    await fallback.listen();
    await expectCode(fallback.handOff(join(dir(), 'c2')), 'ERR_NATIVE_REQUIRED');
    await fallback.close();
  });
});
