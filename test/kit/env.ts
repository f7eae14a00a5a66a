/** What the machine offers, and the rule for tests that cannot run here. */
import { spawnSync } from 'node:child_process';

/** The uid/gid of `nobody` for two-user tests; tests needing it run as root. */
export const NOBODY = { uid: 65534, gid: 65534 };
export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
export const inCI = process.env.CI === 'true';

/**
 * A test that cannot run locally may skip with a reason; in CI it must fail instead.
 * Returns true when the caller should skip.
 */
export function cannotRun(reason: string): boolean {
  if (inCI) throw new Error(`required test cannot run in CI: ${reason}`);
  console.warn(`skipping: ${reason}`);
  return true;
}

let python: boolean | undefined;
/** Whether python3 runs here (peers written in Python). Asked once. */
export function hasPython(): boolean {
  python ??= spawnSync('python3', ['-c', 'pass']).status === 0;
  return python;
}
