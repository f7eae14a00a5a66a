/**
 * The `backlog` option reaches the kernel in both modes, as the kernel's socket table (`ss -xl`,
 * Send-Q of a listener = its backlog) shows from outside the process. Node ignores `backlog` in
 * `listen({ fd })` options and listened again with 511: a burst beyond 511 pending connections
 * then got EAGAIN from a native-mode server whatever its backlog said.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cannotRun, runNode, tempDirEach, waitForLine } from './kit';

const hasSs = (() => {
  try {
    execFileSync('ss', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Send-Q of the listening Unix sockets whose bound name contains `needle`. */
function listenQueues(needle: string): number[] {
  return execFileSync('ss', ['-xlH'], { encoding: 'utf8' })
    .split('\n')
    .filter((line) => line.includes(needle))
    .map((line) => Number(line.trim().split(/\s+/)[3]));
}

describe.runIf(process.platform === 'linux')('backlog', () => {
  const dir = tempDirEach('plugsock-test-backlog-');

  for (const native of ['require', 'off'] as const) {
    it(`native: '${native}' listens with the backlog given, and 511 by default`, async ({ skip }) => {
      if (!hasSs && cannotRun('ss (iproute2) is needed to read the kernel socket table')) return skip();
      const child = runNode(`
        const { UnixSocketTransport } = plugsock;
        (async () => {
          await new UnixSocketTransport({ path: ${JSON.stringify(join(dir(), 'a.sock'))}, backlog: 700, native: '${native}' }).listen();
          await new UnixSocketTransport({ path: ${JSON.stringify(join(dir(), 'b.sock'))}, native: '${native}' }).listen();
          console.log('READY ' + process.pid);
          setTimeout(() => {}, 10000);
        })();
      `);
      try {
        const pid = (await waitForLine(child.child, /^READY (\d+)/))[1];
        // Both modes bind under a temporary name (.ps-<pid>-…), the name ss shows.
        const queues = listenQueues(`.ps-${pid}-`);
        expect(queues.sort((x, y) => x - y)).toEqual([511, 700]);
      } finally {
        child.child.kill('SIGKILL');
      }
    });
  }
});
