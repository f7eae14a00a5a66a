/**
 * Writes to the process's own stdout and stderr, the pipes a go-plugin host reads: the handshake
 * line and the plugin's hclog lines.
 *
 * On Linux these go straight to fd 1 and fd 2. There Node writes stdio synchronously whatever it
 * is (file, pipe, terminal), so process.stdout/stderr never hold bytes back that a direct write
 * could overtake; and making those streams costs ~1.5 ms each (a net.Socket for a pipe), paid by
 * every plugin start for two lines. A write to the fd also bypasses GRPCStdio's capture, which is
 * what these lines need: hosts parse them from the pipe. Elsewhere (macOS writes pipes
 * asynchronously), and for whatever a direct write could not take (a pipe someone made
 * non-blocking is full; the fd is closed), the stream's own, uncaptured write does it.
 */
import { writeSync } from 'node:fs';
import { writeUncaptured } from './stdio';

const FD = { stdout: 1, stderr: 2 } as const;

/** Writes `text` to the process's stdout or stderr, around any GRPCStdio capture. */
export function writeStd(which: 'stdout' | 'stderr', text: string): void {
  let rest: string | Buffer = text;
  if (process.platform === 'linux') {
    const bytes = Buffer.from(text, 'utf8');
    let done = 0;
    try {
      while (done < bytes.length) done += writeSync(FD[which], bytes, done);
      return;
    } catch {
      // EAGAIN (a non-blocking pipe is full) or EPIPE/EBADF: the stream queues or reports it.
    }
    rest = bytes.subarray(done);
  }
  writeUncaptured(process[which], rest);
}
