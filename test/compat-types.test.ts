// The published TypeScript declarations (dist/*.d.ts, reached through package.json "exports" by
// self-reference) compile in a consumer with `strict` and stricter options, with the repo's
// TypeScript. test/compat-pack.test.ts compiles the same consumer against the installed tarball.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cannotRun, root } from './kit';

const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');

describe('TypeScript declarations in a strict consumer', () => {
  for (const config of ['tsconfig.json', 'tsconfig.bundler.json', 'provider.tsconfig.json']) {
    it(`test/types/${config} compiles`, () => {
      if (!existsSync(tsc) && cannotRun('typescript is not installed')) return;
      if (!existsSync(join(root, 'dist', 'index.d.ts')) && cannotRun('dist/ not built: run npm run build:ts')) return;
      const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'test', 'types', config)], { encoding: 'utf8', cwd: root });
      expect(r.status, `${r.stdout}${r.stderr}`).toBe(0);
    }, 90_000);
  }
});
