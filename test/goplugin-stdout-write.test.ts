/**
 * The handshake line goes to fd 1 directly on Linux (src/goplugin/stdout-write.ts); what fd 1
 * cannot take at once goes through process.stdout, after what that holds. Real processes; the
 * child's stdout is a FIFO that the parent starts reading only after the child has filled it.
 */
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import * as net from 'node:net';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { distPath, tempDirEach } from './kit';

const CHILD = `
const { writeSync } = require('node:fs');
const { writeStdout } = require(process.argv[1]);
process.stdout.write('head\\n'); // makes the stream, which sets O_NONBLOCK on the FIFO
let filled = 0;
try {
  for (;;) filled += writeSync(1, Buffer.alloc(4096, 0x61));
} catch (err) {
  if (err.code !== 'EAGAIN') throw err;
}
writeStdout('1|6|unix|/tmp/x.sock|grpc|' + 'c'.repeat(3000) + '\\n');
writeStdout('second\\n');
process.stderr.write('FILLED ' + filled + ' QUEUED ' + process.stdout.writableLength + '\\n');
`;

describe.runIf(process.platform === 'linux')('writeStdout', () => {
  const dir = tempDirEach('plugsock-test-stdout-');

  it('into a full non-blocking pipe: the line waits in process.stdout and arrives whole, after every byte before it', async () => {
    const fifo = join(dir(), 'out');
    execFileSync('mkfifo', [fifo]);
    // Nobody reads the FIFO until the child says it is full.
    const readEnd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writeEnd = openSync(fifo, constants.O_WRONLY);
    const child = spawn(process.execPath, ['-e', CHILD, distPath('goplugin', 'stdout-write.js')], { stdio: ['ignore', writeEnd, 'pipe'] });
    closeSync(writeEnd);
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    let stderr = '';
    const report = await new Promise<RegExpMatchArray>((resolve, reject) => {
      child.stderr!.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        const m = /FILLED (\d+) QUEUED (\d+)\n/.exec(stderr);
        if (m) resolve(m);
      });
      child.on('close', () => reject(new Error(`child ended before its report: ${stderr}`)));
    });
    const [, filled, queued] = report;
    // Both lines waited in the stream: fd 1 took none of them.
    expect(Number(queued)).toBe('1|6|unix|/tmp/x.sock|grpc|\n'.length + 3000 + 'second\n'.length);
    const reader = new net.Socket({ fd: readEnd, readable: true, writable: false });
    let stdout = '';
    reader.setEncoding('latin1').on('data', (d: string) => (stdout += d));
    await new Promise((resolve) => reader.on('end', resolve));
    const code = await new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.on('close', resolve)));
    clearTimeout(timer);
    reader.destroy();
    expect(code).toBe(0);
    expect(stdout).toBe(`head\n${'a'.repeat(Number(filled))}1|6|unix|/tmp/x.sock|grpc|${'c'.repeat(3000)}\nsecond\n`);
  });
});
