// docs/api/ is the API reference TypeDoc generates from the declarations of the three entry points
// (plugsock, plugsock/goplugin, plugsock/terraform; typedoc.json, `npm run docs:api`). It is
// committed so GitHub shows it; this test generates it afresh and fails when the committed one is
// stale, or when TypeDoc warns (typedoc.json: an undocumented export, a broken link, a type that is
// referenced but not exported is an error).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDir, root, run, tempDir } from './kit';

/** Every file under `dir`, relative to it, with its text. */
function filesUnder(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string): void => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p, 'utf8'));
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

const work = tempDir('plugsock-docs-api-');
afterAll(() => removeDir(work));

describe('docs/api (TypeDoc)', () => {
  it('generates without a warning, and docs/api/ is what it generates (else: npm run docs:api)', async () => {
    const out = join(work, 'api');
    const typedoc = join(root, 'node_modules', 'typedoc', 'bin', 'typedoc');
    const r = await run(process.execPath, [typedoc, '--out', out], { cwd: root, timeoutMs: 90_000, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
    const said = (r.stdout + r.stderr).replace(/\x1b\[[0-9;]*m/g, '');
    expect(said.split('\n').filter((l) => /\[(warning|error)\]/.test(l))).toEqual([]);
    expect(r.code, said).toBe(0);
    const fresh = filesUnder(out);
    const committed = filesUnder(join(root, 'docs', 'api'));
    expect([...fresh.keys()].sort()).toEqual(['README.md', 'plugsock.md', 'plugsock/goplugin.md', 'plugsock/terraform.md']);
    expect([...committed.keys()].sort(), 'files in docs/api/').toEqual([...fresh.keys()].sort());
    const stale = [...fresh].filter(([name, text]) => committed.get(name) !== text).map(([name]) => `docs/api/${name}`);
    expect(stale, 'stale: run npm run docs:api').toEqual([]);
  }, 120_000);
});
