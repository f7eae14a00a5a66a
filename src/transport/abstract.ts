/**
 * The transport's rule for abstract addresses (`unix:@name`, Linux): fail closed. An abstract
 * socket has no file, hence no mode, owner or directory to keep anyone out: every process of the
 * network namespace may connect to a listener, and may bind a name first and answer a client in
 * the server's stead. So listen() and connect() on one need a peer policy, which the kernel's
 * credentials then enforce, and the addon (Node's `net` pads abstract names to the whole
 * sun_path, which names another socket than everyone else's `@name`).
 */
import { ErrorCodes, NATIVE_OFF, TransportError, nativeRequired } from '../errors';
import { isAbstractPath, showAddress } from '../path';
import { type ListenOptions, type Settings, resolveOptions } from './options';

/**
 * Throws unless `path` may be used for `op` with these options: nothing for a file path. For an
 * abstract one: `ERR_NATIVE_REQUIRED` without the addon, `ERR_INVALID_OPTION` without a peer
 * policy (the constructor's, or `options.peer`), or with a `group` (there is no file to give one).
 */
export function guardAbstract(path: string, settings: Settings, options: ListenOptions, op: 'listen' | 'connect'): void {
  if (!isAbstractPath(path)) return;
  const shown = showAddress(path);
  if (!settings.binding?.socketListenAbstract) {
    const unused = settings.binding ? 'this build of it has no abstract sockets: rebuild it' : NATIVE_OFF;
    throw nativeRequired(`The abstract socket address ${shown}`, { unused, instead: 'use a file path', path: shown });
  }
  if (!resolveOptions(settings, options).peer) throw abstractWithoutPolicy(shown, op);
  if (op === 'listen' && settings.group !== null) {
    throw new TransportError(
      ErrorCodes.INVALID_OPTION,
      `group has no meaning for the abstract address ${shown}: there is no file to give a group. Use a peer policy ({ gids: [...] }) instead.`,
      {
        path: shown,
      },
    );
  }
}

/** ERR_INVALID_OPTION: `shown` (`@name`) is abstract, and no peer policy says who may be on the other end. */
export function abstractWithoutPolicy(shown: string, op: 'listen' | 'connect'): TransportError {
  const risk =
    op === 'listen'
      ? 'every process of this network namespace, of any user, could connect to it'
      : 'any process of this network namespace, of any user, could have bound the name and would answer instead of your server';
  return new TransportError(
    ErrorCodes.INVALID_OPTION,
    `${shown} is an abstract socket address: it has no file and no mode, so without a peer policy ${risk}. ` +
      `Give one (e.g. peer: { uids: [${process.getuid?.() ?? 0}] } or { sameUser: true }) to ${op === 'listen' ? 'listen on' : 'connect to'} it, or use a file path.`,
    { path: shown },
  );
}

/**
 * Throws ERR_HANDOFF when `path` is abstract: handOff() refuses it before anything is sent. The
 * hand-off names the listener by a file path, which the successor proves before it serves (and
 * before it may remove it); an abstract name has no file to prove, so the successor could only
 * refuse it, after the old side had already offered it.
 */
export function refuseAbstractHandOff(path: string): void {
  if (!isAbstractPath(path)) return;
  const shown = showAddress(path);
  throw new TransportError(
    ErrorCodes.HANDOFF,
    `handOff() cannot hand off the abstract listener ${shown}: a hand-off passes listeners with a file path only (the successor proves the file ` +
      'before it serves). Nothing was sent and this transport keeps serving. To replace the process without refusing clients, listen on a file path ' +
      'and hand that off, or let systemd hold the abstract socket (handOffToSystemd() here, UnixSocketTransport.fromSystemd() in the next process).',
    { path: shown },
  );
}
