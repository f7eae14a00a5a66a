import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cannotRun, isRoot, NOBODY, root, start, tempDirEach, waitForLine } from './kit';

const cli = join(root, 'dist', 'cli.js');

function run(args: string[], options: { input?: string; uid?: number; gid?: number } = {}) {
  const { child, done, stderr } = start(process.execPath, [cli, ...args], options);
  return { child, done, err: stderr };
}

describe('plugsock CLI', () => {
  const dir = tempDirEach();

  it('demo runs end to end in two processes and cleans up', async () => {
    const { done } = run(['demo']);
    const result = await done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('socket file mode 660');
    expect(result.stdout).toContain('reply: "HELLO PLUGIN"');
    expect(result.stdout).toContain('refused: ERR_ADDRESS_IN_USE');
    expect(result.stdout).toContain('detected the stale file');
    expect(result.stdout).toContain('socket file removed: yes');
  });

  it('info --json reports capabilities', async () => {
    const result = await run(['info', '--json']).done;
    expect(result.code).toBe(0);
    const caps = JSON.parse(result.stdout);
    expect(typeof caps.native).toBe('boolean');
    expect(caps.features).toHaveProperty('peerCredentials');
  });

  it('listen and connect pipe stdin/stdout between two processes, and listen reports the peer', async () => {
    const path = join(dir(), 'cli.sock');
    const server = run(['listen', path, '--once']);
    const [, endpoint] = await waitForLine(server.child, /^(unix:\S+)$/);
    expect(endpoint).toBe(`unix:${path}`);
    const client = run(['connect', endpoint], { input: 'from client\n' });
    server.child.stdin!.end('from server\n');
    const c = await client.done;
    const s = await server.done;
    expect(c.stdout).toBe('from server\n');
    expect(s.stdout).toBe(`${endpoint}\nfrom client\n`);
    expect(s.stderr).toMatch(new RegExp(`connection from pid=${client.child.pid} uid=\\d+ gid=\\d+`));
    expect(existsSync(path)).toBe(false);
  });

  it('listen --allow-uid rejects another user and says so', async () => {
    if (!isRoot && cannotRun('needs root to run a child as another user')) return;
    const path = join(dir(), 'guarded.sock');
    const server = run(['listen', path, '--mode', '666', '--allow-uid', String(process.getuid!())]);
    await waitForLine(server.child, /^unix:/);
    const intruder = run(['connect', path], { ...NOBODY, input: 'let me in\n' });
    const c = await intruder.done;
    expect(c.stdout).toBe('');
    await new Promise((r) => setTimeout(r, 100));
    server.child.kill('SIGTERM');
    const s = await server.done;
    expect(s.stderr).toContain(`rejected pid=${intruder.child.pid} uid=${NOBODY.uid}`);
    expect(s.stdout).not.toContain('let me in');
    expect(existsSync(path)).toBe(false);
  });

  it('fails with a code and a message, exit 1', async () => {
    const result = await run(['connect', 'relative.sock']).done;
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('ERR_INVALID_PATH');
  });
});
