/**
 * Issue 17, ref()/unref(): an unref()'d listening transport does not keep its process alive
 * (the process exits by itself, and the exit hook still removes the socket file); a referenced
 * one does (the default, and after ref()). Real child processes that listen and are left alone.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Mode, exited, modes, nativeOption, plugsock, runNode, tempDirEach, transportsPerTest, waitForLine } from './kit';

/** A child that listens on `path`, applies `calls` (e.g. ['unref'], before or after listen()), and then does nothing. */
function listener(path: string, native: string, calls: { before?: readonly string[]; after?: readonly string[] }) {
  return runNode(
    `
    const [path, native, before, after] = process.argv.slice(1);
    const t = new plugsock.UnixSocketTransport({ path, native });
    for (const m of JSON.parse(before)) if (t[m]() !== t) throw new Error(m + '() did not return the transport');
    t.on('connection', (s) => s.end('served'));
    t.listen().then((endpoint) => {
      for (const m of JSON.parse(after)) if (t[m]() !== t) throw new Error(m + '() did not return the transport');
      console.log('LISTENING ' + endpoint);
    });
    process.on('exit', (code) => console.log('EXIT ' + code));
  `,
    { args: [path, native, JSON.stringify(calls.before ?? []), JSON.stringify(calls.after ?? [])], timeoutMs: 20_000 },
  );
}

/** Connects to `path` and resolves what the server says. */
async function ask(path: string, native: 'require' | 'off'): Promise<string> {
  const client = new plugsock.UnixSocketTransport({ native });
  try {
    const socket = await client.connect(path, { timeoutMs: 2000 });
    let got = '';
    for await (const chunk of socket) got += chunk;
    return got;
  } finally {
    await client.close();
  }
}

describe.each(modes)('ref() / unref() (%s)', (mode: Mode) => {
  const native = nativeOption(mode);
  const dir = tempDirEach();

  it('an unref()ed listener lets its process exit by itself, and the socket file is still removed', async () => {
    const path = join(dir(), 'unref.sock');
    const { child, done } = listener(path, native, { after: ['unref'] });
    await waitForLine(child, /^LISTENING /);
    const r = await done;
    expect(r.signal, 'killed at the time-out: the listener kept the process alive').toBeNull();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('EXIT 0');
    expect(existsSync(path)).toBe(false);
  });

  it('unref() before listen() holds for the listener listen() makes', async () => {
    const path = join(dir(), 'early.sock');
    const r = await listener(path, native, { before: ['unref'] }).done;
    expect(r.signal).toBeNull();
    expect(r.stdout).toMatch(/LISTENING unix:.*\nEXIT 0/);
    expect(existsSync(path)).toBe(false);
  });

  for (const [label, calls] of [
    ['by default', {}],
    ['after unref() then ref()', { after: ['unref', 'ref'] }],
  ] as const) {
    it(`a referenced listener keeps its process alive and serving (${label})`, async () => {
      const path = join(dir(), 'ref.sock');
      const { child, done } = listener(path, native, calls);
      await waitForLine(child, /^LISTENING /);
      await new Promise((r) => setTimeout(r, 1000));
      expect(child.exitCode).toBeNull();
      expect(await ask(path, native)).toBe('served');
      child.kill('SIGKILL');
      await exited(child);
      await done;
    });
  }
});

describe('ref() / unref() in this process', () => {
  const { dir, make } = transportsPerTest({ native: 'require' });

  it('are chainable and may be called in any state, closed included', async () => {
    const t = make({ path: join(dir(), 'c.sock') });
    expect(t.unref()).toBe(t);
    expect(t.ref()).toBe(t);
    await t.listen();
    expect(t.unref().ref().unref()).toBe(t);
    await t.close();
    expect(t.ref()).toBe(t);
    expect(t.unref()).toBe(t);
  });
});
