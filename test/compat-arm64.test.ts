// The committed linux-arm64 prebuild (cross-compiled by scripts/prebuild-arm64.sh) cannot run on
// this x64 machine; check what can be checked: an aarch64 ELF shared object, exporting the N-API
// module entry point, built from the current native/ sources, and never picked on x64.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cannotRun, root } from './kit';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { sourceHash } = require(join(root, 'scripts', 'source-hash.js')) as { sourceHash: () => string };
const PREBUILD = join(root, 'prebuilds', 'linux-arm64', 'plugsock.glibc.node');

function readelf(args: string[]): string | null {
  const r = spawnSync('readelf', [...args, PREBUILD], { encoding: 'utf8' });
  if (r.error) return null;
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

describe('linux-arm64 prebuild', () => {
  it('is committed', () => {
    expect(existsSync(PREBUILD), `${PREBUILD} missing: run scripts/prebuild-arm64.sh`).toBe(true);
  });

  it('is a 64-bit aarch64 ELF shared object', () => {
    const header = readelf(['-h']);
    if (header === null && cannotRun('readelf not installed (apt-get install binutils)')) return;
    expect(header).toMatch(/Class:\s+ELF64/);
    expect(header).toMatch(/Machine:\s+AArch64/);
    expect(header).toMatch(/Type:\s+DYN/);
  });

  it('exports napi_register_module_v1 and needs nothing newer than glibc 2.28', () => {
    const syms = readelf(['--dyn-syms', '-W']);
    if (syms === null && cannotRun('readelf not installed (apt-get install binutils)')) return;
    const line = syms!.split('\n').find((l) => /\snapi_register_module_v1(@|$|\s)/.test(l));
    expect(line, 'napi_register_module_v1 not in the dynamic symbol table').toBeDefined();
    // Defined (a section index, not UND), global, a function.
    expect(line).toMatch(/FUNC\s+GLOBAL\s+DEFAULT\s+\d+\s/);
    // Node-API only: no V8/node internals that would tie it to one Node version.
    expect(syms).not.toMatch(/_ZN(2v8|4node)/);
    const versions = [...syms!.matchAll(/@GLIBC_(\d+)\.(\d+)/g)].map((m) => Number(m[1]) * 1000 + Number(m[2]));
    expect(Math.max(...versions)).toBeLessThanOrEqual(2028);
  });

  it('was built from the current native/ sources (their hash is compiled in)', () => {
    const hash = sourceHash();
    const binary = readFileSync(PREBUILD);
    expect(binary.includes(Buffer.from(hash)), `stale arm64 prebuild (sources hash ${hash}): run scripts/prebuild-arm64.sh`).toBe(true);
  });

  it('is not what node-gyp-build picks on this machine', () => {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const resolved: string = require('node-gyp-build').resolve(root);
    expect(resolved).not.toContain('linux-arm64');
  });
});
