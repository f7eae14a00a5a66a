/**
 * Side by side with the Python original: the same endpoint strings go through pyvider's
 * normalize_unix_path and plugsock's normalizeUnixPath, and the same listen/close/connect
 * scenarios run against pyvider's UnixSocketTransport and plugsock's. The table is printed;
 * every difference must be listed (with its reason) in docs/pyvider.md under
 * "Differences from pyvider-rpcplugin", by its key in backticks.
 */
import { spawnSync } from 'node:child_process';
import { lstatSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { plugsock, root, scratchDirs } from '../kit';
import { pyvider, itWithPeers } from './peers';

const py = pyvider();

const INPUTS = [
  '/tmp/a.sock',
  'unix:/tmp/a.sock',
  'unix://tmp/a.sock',
  'unix:///tmp/a.sock',
  '//tmp//a.sock',
  '/tmp//x/a.sock',
  'unix:////tmp/a.sock',
  'a.sock',
  'unix:a.sock',
  './a.sock',
  '',
  'unix:',
  '/tmp/dir/',
  '/',
  '/tmp/./a.sock',
  'unix:unix:/tmp/a.sock',
];
const SCENARIOS = ['fresh', 'regular-file', 'stale', 'live', 'missing-dir', 'close-replaced', 'mode', 'connect-missing'];

type Outcome = Record<string, unknown>;

function pyRun(req: object): any {
  const r = spawnSync((py as { python: string }).python, [(py as { paths: string }).paths], { input: JSON.stringify(req), encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`paths.py failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

function state(p: string): string {
  try {
    const st = lstatSync(p);
    return st.isSocket() ? 'socket' : st.isFile() ? 'file' : 'other';
  } catch {
    return 'absent';
  }
}
const listenOn = (p: string) =>
  new Promise<Server>((resolve) => {
    const s = createServer();
    s.listen(p, () => resolve(s));
  });

async function nodeScenario(name: string, d: string): Promise<Outcome> {
  let path = join(d, 'p.sock');
  const keep: Server[] = [];
  if (name === 'regular-file') writeFileSync(path, 'precious');
  if (name === 'stale') {
    const s = await listenOn(path);
    // close the listener but keep the file: a crashed server's leftover
    (s as any)._handle?.close?.(); // libuv would unlink on close(); drop the handle instead
  }
  if (name === 'live') keep.push(await listenOn(path));
  if (name === 'missing-dir') path = join(d, 'sub', 'dir', 'p.sock');
  const t = new plugsock.UnixSocketTransport({ path, connectTimeoutMs: 1000 });
  try {
    if (name === 'connect-missing') {
      const t0 = Date.now();
      try {
        const s = await t.connect(path);
        s.destroy();
        return { outcome: 'ok' };
      } catch (e) {
        return { outcome: 'error', seconds: Math.round((Date.now() - t0) / 100) / 10, error: (e as { code?: string }).code };
      }
    }
    try {
      await t.listen();
    } catch (e) {
      return { outcome: 'error', error: (e as { code?: string }).code, after: state(path) };
    }
    const res: Outcome = { outcome: 'ok', after: state(path) };
    if (name === 'mode') res.mode = `0o${(statSync(path).mode & 0o777).toString(8)}`;
    if (name === 'close-replaced') {
      unlinkSync(path);
      keep.push(await listenOn(path));
      await t.close();
      res.after_close = state(path);
    }
    return res;
  } finally {
    await t.close().catch(() => {});
    for (const k of keep) (k as any)._handle?.close?.();
  }
}

const norm = (o: Outcome) => JSON.stringify({ outcome: o.outcome, after: o.after, after_close: o.after_close, mode: o.mode });

const scratch = scratchDirs('plugsock-pv-');

describe('plugsock vs pyvider-rpcplugin: endpoint handling side by side', () => {
  if (!py.ok) {
    itWithPeers(py, 'pyvider', 'side-by-side', async () => {}, 1000);
    return;
  }
  const docs = readFileSync(join(root, 'docs', 'pyvider.md'), 'utf8');
  const section = docs.slice(docs.indexOf('## Differences from pyvider-rpcplugin'));

  it('every difference is documented in docs/pyvider.md', async () => {
    const rows: Array<{ key: string; pyvider: string; plugsock: string; same: boolean }> = [];
    const pyNorm = pyRun({ normalize: INPUTS }).normalize as Array<{ out?: string; error?: string }>;
    INPUTS.forEach((input, i) => {
      let ours: string;
      try {
        ours = plugsock.normalizeUnixPath(input);
      } catch (e) {
        ours = `error ${(e as { code?: string }).code}`;
      }
      const theirs = pyNorm[i]!.error !== undefined ? `error ${pyNorm[i]!.error}` : pyNorm[i]!.out!;
      const same = ours === theirs || (ours.startsWith('error') && theirs.startsWith('error'));
      rows.push({ key: `normalize:${JSON.stringify(input)}`, pyvider: JSON.stringify(theirs), plugsock: JSON.stringify(ours), same });
    });
    for (const s of SCENARIOS) {
      const d = scratch.make();
      const d2 = scratch.make();
      const theirs = pyRun({ scenario: s, dir: d }) as Outcome;
      const ours = await nodeScenario(s, d2);
      rows.push({ key: `scenario:${s}`, pyvider: JSON.stringify(theirs), plugsock: JSON.stringify(ours), same: norm(theirs) === norm(ours) });
    }
    console.log(
      [
        '| key | pyvider-rpcplugin | plugsock | same |',
        '|---|---|---|---|',
        ...rows.map((r) => `| ${r.key} | ${r.pyvider} | ${r.plugsock} | ${r.same ? 'yes' : 'NO'} |`),
      ].join('\n'),
    );
    const undocumented = rows.filter((r) => !r.same && !section.includes('`' + r.key + '`')).map((r) => r.key);
    expect(undocumented).toEqual([]);
    // And nothing documented that no longer differs (keeps the list honest).
    const documented = [...section.matchAll(/`((?:normalize|scenario):[^`]+)`/g)].map((m) => m[1]);
    const stale = documented.filter((k) => rows.find((r) => r.key === k)?.same !== false);
    expect(stale).toEqual([]);
  }, 60_000);
});
