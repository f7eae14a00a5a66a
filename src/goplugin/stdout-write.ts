/**
 * The handshake line, written to the process's own stdout: the pipe a go-plugin host reads it
 * from, before anything else.
 *
 * On Linux it goes straight to fd 1. By go-plugin's protocol nothing precedes it on stdout, so
 * no bytes of process.stdout's can be waiting to go first, and it needs neither that stream
 * (made on first use) nor its write path. Elsewhere (macOS writes pipes asynchronously, so the
 * stream could hold bytes), and for whatever the direct write could not take (EAGAIN from a
 * pipe someone made non-blocking and filled; a closed fd), the stream's own, uncaptured
 * write() does it, after what it holds.
 */
import { writeSync } from 'node:fs';
import { writeUncaptured } from './stdio';

/** Writes `text` to the process's stdout, around any GRPCStdio capture. */
export function writeStdout(text: string): void {
  let rest: string | Buffer = text;
  if (process.platform === 'linux') {
    const bytes = Buffer.from(text, 'utf8');
    let done = 0;
    try {
      for (let n = 1; done < bytes.length && n > 0; done += n) n = writeSync(1, bytes, done);
    } catch {
      // EAGAIN, EPIPE, EBADF: the stream queues, or reports, the rest.
    }
    if (done === bytes.length) return;
    rest = bytes.subarray(done);
  }
  writeUncaptured(process.stdout, rest);
}
