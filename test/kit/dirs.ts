/** Temporary directories, and what tests look for in them. */
import { chmodSync, lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach } from 'vitest';

/** A fresh directory that other users may enter (children run as nobody in some tests). */
export function tempDir(prefix = 'plugsock-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * A fresh directory for each test of the file (or describe) it is called in, removed after the
 * test. Returns the current one. Hooks registered after this call (a transport factory's
 * `closeAll`) run before the removal: vitest runs after-hooks in reverse order.
 */
export function tempDirEach(prefix?: string): () => string {
  let dir: string | undefined;
  beforeEach(() => {
    dir = tempDir(prefix);
  });
  afterEach(() => {
    if (dir) removeDir(dir);
    dir = undefined;
  });
  return () => {
    if (dir === undefined) throw new Error('tempDirEach(): the directory exists only while a test runs');
    return dir;
  };
}

/** Directories made on demand (`make()`), all removed after the file's tests. */
export function scratchDirs(prefix?: string): { make(): string } {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs.splice(0)) removeDir(d);
  });
  return {
    make() {
      const d = tempDir(prefix);
      dirs.push(d);
      return d;
    },
  };
}

/** Socket files (and leftover staging dirs) under a directory, recursively. */
export function socketFilesUnder(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isSocket() || name.startsWith('.ps-')) found.push(p);
      if (st.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return found;
}

export interface Entry {
  path: string;
  ino: number;
  mode: number;
  uid: number;
  size: number;
  mtimeMs: number;
}

/** Names, inodes, modes, owners of everything under `dir` (symlinks not followed), sorted. */
export function snapshotTree(dir: string): Entry[] {
  const out: Entry[] = [];
  const walk = (d: string) => {
    const st = lstatSync(d);
    out.push({ path: d, ino: st.ino, mode: st.mode, uid: st.uid, size: st.isDirectory() ? 0 : st.size, mtimeMs: st.isDirectory() ? 0 : st.mtimeMs });
    if (st.isDirectory()) for (const name of readdirSync(d).sort()) walk(join(d, name));
  };
  walk(dir);
  return out;
}
