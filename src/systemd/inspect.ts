/**
 * What an fd from systemd must be before a transport serves it: an AF_UNIX stream socket that
 * listens (SO_DOMAIN, SO_TYPE, SO_ACCEPTCONN, asked by the addon). Anything else is refused, and
 * the message names the .socket unit setting that would have made it so.
 */
import { fstatSync } from 'node:fs';
import type { SocketInspection } from '../addon';
import { ErrorCodes, TransportError, errnoKind, fileKindOf } from '../errors';
import type { PassedFd } from './listen-fds';

const FILE_WORDS: Record<string, string> = {
  file: 'a regular file',
  directory: 'a directory',
  symlink: 'a symbolic link',
  fifo: 'a FIFO (ListenFIFO=)',
  device: 'a device (ListenSpecial=)',
  other: 'not a socket',
};

/** Returns the socket's bound address ('' unnamed, a path, or a NUL and an abstract name); throws ERR_SYSTEMD_SOCKET for anything but a listening Unix stream socket. */
export function checkActivated(inspect: (fd: number) => SocketInspection | null, passed: PassedFd): string {
  const what = `fd ${passed.fd} (${JSON.stringify(passed.name)})`;
  let seen: SocketInspection | null;
  try {
    seen = inspect(passed.fd);
  } catch (err) {
    const why = errnoKind(err) === 'bad-fd' ? 'is not open in this process' : `cannot be inspected (${(err as Error).message})`;
    throw refused(`${what} ${why}`, err);
  }
  if (seen === null) {
    let kind = 'other';
    try {
      kind = fileKindOf(fstatSync(passed.fd));
    } catch {
      // socketInspect had it open a moment ago; say "not a socket".
    }
    throw refused(`${what} is ${FILE_WORDS[kind]}, not a socket`);
  }
  if (seen.domain !== 'unix') {
    throw refused(
      `${what} is ${seen.domain === 'other' ? 'a socket of another family' : `an ${seen.domain === 'inet' ? 'IPv4' : 'IPv6'} (${seen.type}) socket`}, not a Unix-domain one: plugsock serves AF_UNIX stream listeners (ListenStream=/path or ListenStream=@name)`,
    );
  }
  if (seen.type !== 'stream') {
    const setting = seen.type === 'dgram' ? ' (ListenDatagram=)' : seen.type === 'seqpacket' ? ' (ListenSequentialPacket=)' : '';
    throw refused(`${what} is a Unix ${seen.type} socket${setting}, not a stream socket: use ListenStream=`);
  }
  if (!seen.listening) {
    throw refused(
      `${what} is a Unix stream socket that does not listen (a connection: the .socket unit has Accept=yes?); plugsock serves the listener itself, with Accept=no`,
    );
  }
  return seen.path ?? '';
}

function refused(why: string, cause?: unknown): TransportError {
  return new TransportError(ErrorCodes.SYSTEMD_SOCKET, `fromSystemd(): ${why}. It was left open, untouched.`, cause === undefined ? {} : { cause });
}
