/**
 * Open file descriptors, counted from /proc (Linux). Plain-node children count their own with
 * `openFdCount()` from runNode's prelude, or test/fixtures/fd-common.js's `countFds()`.
 */
import { readdirSync } from 'node:fs';

/** How many fds a process has open (this one by default). */
export function openFdCount(pid: number | 'self' = 'self'): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/**
 * Waits (bounded) until this process's fd count is back to `before` (pipes and sockets close a
 * moment after a child exits or a peer hangs up); returns the count then.
 */
export async function fdCountSettles(before: number, timeoutMs = 2000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (openFdCount() !== before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return openFdCount();
}
