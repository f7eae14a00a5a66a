/**
 * What the CLI tells a person on stderr about a connection: who the peer is, the data as a hex
 * dump (`-v`), and the file descriptors that arrived (`--fd-passing`).
 */
import { readlinkSync } from 'node:fs';
import { closeFds, fdKind, type FdKind } from '../fd-helpers';
import type { PeerCredentials } from '../peer';
import { status } from './exit';

/** `pid=… uid=… gid=… groups=… cmd="…"`, or why it is unknown. */
export function describePeer(peer: PeerCredentials | null): string {
  if (!peer) return 'peer unknown (fallback mode: no native addon)';
  const cmd = peer.commandLine();
  const groups = peer.groups?.length ? ` groups=${peer.groups.join(',')}` : '';
  return `pid=${peer.pid} uid=${peer.uid} gid=${peer.gid}${groups}${cmd ? ` cmd=${JSON.stringify(cmd)}` : ''}`;
}

/**
 * `data` as `hexdump -C` lines, each after `prefix` (`#1 >` or `>`): the offset (counted per
 * direction from the connection's first byte), 16 bytes in hex, the printable ones as text.
 */
export function hexDump(prefix: string, data: Buffer, offset: number): void {
  const lines: string[] = [];
  for (let at = 0; at < data.length; at += 16) {
    const row = data.subarray(at, at + 16);
    let hex = '';
    let text = '';
    for (let i = 0; i < 16; i++) {
      if (i === 8) hex += ' ';
      if (i < row.length) {
        const b = row[i]!;
        hex += `${b.toString(16).padStart(2, '0')} `;
        text += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
      } else {
        hex += '   ';
      }
    }
    lines.push(`plugsock: ${prefix} ${(offset + at).toString(16).padStart(8, '0')}  ${hex} |${text}|\n`);
  }
  process.stderr.write(lines.join(''));
}

const KIND_NAMES: Record<FdKind, string> = {
  file: 'regular file',
  fifo: 'pipe',
  socket: 'socket',
  directory: 'directory',
  character: 'character device',
  block: 'block device',
  other: 'other',
};

/**
 * `received fd 7: regular file /etc/hostname` for each fd (after `prefix`, `#1 ` or nothing),
 * which is then closed (the CLI keeps none).
 */
export function reportFds(prefix: string, fds: readonly number[]): void {
  for (const fd of fds) {
    let kind: string;
    try {
      kind = KIND_NAMES[fdKind(fd)];
    } catch (err) {
      kind = `unknown (${(err as NodeJS.ErrnoException).code})`;
    }
    let target = '';
    try {
      // Linux names what the fd refers to (a path, socket:[inode], pipe:[inode], /memfd:…).
      target = ` ${readlinkSync(`/proc/self/fd/${fd}`)}`;
    } catch {
      // No /proc (macOS): the kind alone.
    }
    status(`${prefix}received fd ${fd}: ${kind}${target}`);
  }
  closeFds(fds);
}
