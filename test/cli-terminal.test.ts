/**
 * plugsock listen / connect in a real terminal (tmux: send-keys types, capture-pane reads the
 * screen), as a person uses them (issue 18): typed lines arrive, Ctrl-D ends the sending side
 * only (the peer's later output still arrives), Ctrl-C exits 130 and removes the socket file,
 * and a 20 MB file moves intact between commands typed in terminals. Needs tmux (CI installs
 * it; under CI=true its absence fails the tests).
 */
import { randomFillSync } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDirEach } from './kit';
import { Tmux, cli, runCli, sha256, stderrLine, tmuxMissing, until } from './fixtures/cli-kit';

/** A word for sh, single-quoted. */
const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const plugsock = (args: string) => `${q(process.execPath)} ${q(cli)} ${args}`;

describe('plugsock in a terminal (tmux)', () => {
  const dir = tempDirEach('plugsock-clitty-');
  let tmux: Tmux | null = null;
  afterEach(() => {
    tmux?.kill();
    tmux = null;
  });
  /** A tmux server for this test, or null to skip (outside CI) when tmux is missing. */
  const terminal = (): Tmux | null => (tmuxMissing() ? null : (tmux = new Tmux(dir())));
  const exitStatus = (t: Tmux, name: string) => (existsSync(t.statusFile(name)) ? readFileSync(t.statusFile(name), 'utf8').trim() : null);
  const exited = (t: Tmux, name: string, timeoutMs = 10_000) =>
    until(
      `${name} to exit`,
      () => exitStatus(t, name) !== null,
      timeoutMs,
      () => t.screen(name),
    ).then(() => exitStatus(t, name));

  it("typed lines arrive; Ctrl-D ends only the sending side, the peer's later output still shows; exit 0", async () => {
    const t = terminal();
    if (!t) return;
    const path = join(dir(), 'tty.sock');
    const server = runCli(['listen', '-v', path]);
    await stderrLine(server, /listening on/);
    t.run('c', plugsock(`connect ${q(path)}`));
    await stderrLine(server, /^plugsock: #1 connection from/);

    t.keys('c', '-l', 'hello from the terminal');
    t.keys('c', 'Enter');
    await until('the typed line at the listener', () => server.stdout() === 'hello from the terminal\n', 10_000, server.stdout);
    server.child.stdin!.write('first answer\n');
    await until('the answer on the screen', () => t.screen('c').includes('first answer'));

    t.keys('c', 'C-d');
    await stderrLine(server, /#1 the client finished sending \(24 bytes received\)/);
    await new Promise((r) => setTimeout(r, 200));
    expect(exitStatus(t, 'c'), 'after Ctrl-D the client still reads').toBeNull();
    server.child.stdin!.end('after your Ctrl-D\n');
    expect(await exited(t, 'c')).toBe('0');
    expect(t.screen('c')).toMatch(/hello from the terminal\nfirst answer\nafter your Ctrl-D\n/);
    const s = await server.done;
    expect([s.code, s.stdout]).toEqual([0, 'hello from the terminal\n']);
  });

  it('Ctrl-C exits 130: listen (socket file removed), connect in a session, connect waiting for a server', async () => {
    const t = terminal();
    if (!t) return;
    const path = join(dir(), 'int.sock');
    t.run('l', plugsock(`listen ${q(path)}`));
    await until(
      'the socket file',
      () => existsSync(path),
      10_000,
      () => t.screen('l'),
    );
    t.keys('l', 'C-c');
    expect(await exited(t, 'l')).toBe('130');
    expect(existsSync(path)).toBe(false);

    const server = runCli(['listen', path]);
    await stderrLine(server, /listening on/);
    t.run('c', plugsock(`connect ${q(path)}`));
    t.keys('c', '-l', 'typed before Ctrl-C');
    t.keys('c', 'Enter');
    await until('the line at the listener', () => server.stdout() === 'typed before Ctrl-C\n', 10_000, server.stdout);
    t.keys('c', 'C-c');
    expect(await exited(t, 'c')).toBe('130');
    // The listener sees the whole connection closed, after an exchange: done, exit 0.
    const s = await server.done;
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).toMatch(/#1 the client closed the connection while stdin was open$/m);

    const nobody = join(dir(), 'nobody.sock');
    t.run('w', plugsock(`connect -v ${q(nobody)} --timeout 60000`));
    // Ctrl-C once the command handles it (-v says so): a slow start would otherwise die of the
    // signal, and take the terminal's shell, which writes the status, with it.
    await until(
      'connect -v to say it is connecting',
      () => t.screen('w').includes('connecting to'),
      10_000,
      () => t.screen('w'),
    );
    t.keys('w', 'C-c');
    expect(await exited(t, 'w')).toBe('130');
  });

  it('a 20 MB file both ways between commands typed in terminals, Ctrl-D ending the terminal side; sha256 equal', async () => {
    const t = terminal();
    if (!t) return;
    const input = join(dir(), 'in.bin');
    const output = join(dir(), 'out.bin');
    const size = 20 * 1024 * 1024;
    writeFileSync(input, randomFillSync(Buffer.allocUnsafe(size)));
    const expected = await sha256(input);
    const path = join(dir(), 'big.sock');
    const arrived = () => existsSync(output) && statSync(output).size === size;

    // The client sends the file; the listener's stdin is its terminal, ended by Ctrl-D.
    t.run('l1', `${plugsock(`listen ${q(path)}`)} > ${q(output)}`);
    t.run('c1', `${plugsock(`connect ${q(path)}`)} < ${q(input)}`);
    await until('the whole file at the listener', arrived, 30_000, () => t.screen('l1') + t.screen('c1'));
    expect(exitStatus(t, 'c1'), "the client waits for the listener's side").toBeNull();
    t.keys('l1', 'C-d');
    expect([await exited(t, 'l1'), await exited(t, 'c1')]).toEqual(['0', '0']);
    expect(await sha256(output)).toBe(expected);

    // The listener sends it; the client's stdin is its terminal, which says what Ctrl-D does.
    t.run('l2', `${plugsock(`listen ${q(path)}`)} < ${q(input)}`);
    t.run('c2', `${plugsock(`connect ${q(path)}`)} > ${q(output)}`);
    await until(
      'the hint on the screen',
      () => t.screen('c2').includes('plugsock: the server finished sending; Ctrl-D ends yours'),
      30_000,
      () => t.screen('c2'),
    );
    expect(arrived()).toBe(true);
    t.keys('c2', 'C-d');
    expect([await exited(t, 'c2'), await exited(t, 'l2')]).toEqual(['0', '0']);
    expect(await sha256(output)).toBe(expected);
    expect(existsSync(path)).toBe(false);
  }, 90_000);
});
