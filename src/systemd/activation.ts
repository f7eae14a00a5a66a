/**
 * fromSystemd(): serve a listener that systemd passed (socket activation, or the fd store on a
 * restart). The fd is picked (listen-fds.ts) and checked (inspect.ts) before anything is made;
 * the transport then adopts it as it adopts a listener handed over by another process (the
 * same path in UnixSocketTransport): its peer policy, fdPassing and sendBufferSize apply as to
 * any listener, and close() never removes the socket file, which is systemd's.
 */
import { addon } from '../addon';
import { ErrorCodes, NATIVE_OFF, TransportError, nativeRequired } from '../errors';
import { checkOptionKeys, optionKeys } from '../options';
import { isAbstractPath, normalizeEndpoint, showAddress } from '../path';
import { abstractWithoutPolicy } from '../transport/abstract';
import { TRANSPORT_KEYS, type UnixSocketTransportOptions } from '../transport/options';
import { checkActivated } from './inspect';
import { listenFds, markTaken, pickFd } from './listen-fds';
import { checkFdName } from './names';

/** Options of `UnixSocketTransport.fromSystemd()`: the transport's, less what the socket file's owner (systemd) decides. */
export interface FromSystemdOptions extends Omit<UnixSocketTransportOptions, 'path' | 'mode' | 'group'> {
  /**
   * Which socket to serve: its `FileDescriptorName=` in the .socket unit (default: the unit's
   * name, e.g. `app.socket`), or the `name` it was stored with (`handOffToSystemd({ name })`).
   * Omitted: the only fd passed (several give `ERR_INVALID_OPTION`, naming them).
   */
  name?: string;
  /**
   * What `path` and `endpoint` report. Default: the address the socket is bound to. Needed for
   * a socket that plugsock's own `listen()` made and `handOffToSystemd()` stored: that one was
   * bound through `/proc/self/fd/…` and published by a link, so its address does not say where
   * it is. Not checked, and never removed.
   */
  path?: string;
}

/** Every key of `FromSystemdOptions` (a missing one does not compile); others are errors. */
const { mode: _mode, group: _group, ...transportKeys } = TRANSPORT_KEYS;
export const FROM_SYSTEMD_OPTION_KEYS = optionKeys<FromSystemdOptions>({ ...transportKeys, name: true });

/** The part of a transport fromSystemd() uses. */
export interface ActivatedTransport {
  close(): Promise<void>;
}

/** How fromSystemd() gets a transport serving an fd: UnixSocketTransport's own adoption. */
export interface SystemdAdoption<T extends ActivatedTransport> {
  /** A fresh transport with these options (throws for bad ones; owns no fd yet). */
  make(options: UnixSocketTransportOptions): T;
  /** Serves the listening `fd` on `transport`, removing no file on close; owns `fd` from the call on (closes it on failure). */
  adopt(transport: T, fd: number): Promise<void>;
}

/**
 * Serves the listening socket systemd passed this process (`LISTEN_FDS`) as a transport made by
 * `adoption`. Rejects with ERR_SYSTEMD_SOCKET when there is none or it is not a listening Unix
 * stream socket, ERR_INVALID_OPTION when `name` is needed or invalid, ERR_NATIVE_REQUIRED
 * without the addon.
 */
export async function fromSystemd<T extends ActivatedTransport>(options: FromSystemdOptions, adoption: SystemdAdoption<T>): Promise<T> {
  checkOptionKeys(options, FROM_SYSTEMD_OPTION_KEYS, '');
  const { name, path, ...rest } = options;
  if (name !== undefined) checkFdName(name, 'name');
  const binding = options.native === 'off' ? null : addon();
  const { socketInspect, fdSetCloexec } = binding ?? {};
  if (!socketInspect || !fdSetCloexec) {
    throw nativeRequired('fromSystemd()', { unused: binding ? 'this build of it has no socketInspect: rebuild it' : NATIVE_OFF });
  }
  const picked = pickFd(listenFds(fdSetCloexec), name);
  const bound = checkActivated(socketInspect, picked);
  const where = path === undefined ? addressOf(bound, picked.fd) : normalizeEndpoint(path);
  if (isAbstractPath(where) && !options.peer) throw abstractWithoutPolicy(showAddress(where), 'listen');
  const transport = adoption.make({ ...rest, path: where });
  markTaken(picked);
  try {
    await adoption.adopt(transport, picked.fd);
  } catch (err) {
    await transport.close();
    throw err;
  }
  return transport;
}

/** The address a socket is bound to, as the transport's path; refused when it does not say where the socket is. */
function addressOf(bound: string, fd: number): string {
  const unusable = (why: string) =>
    new TransportError(
      ErrorCodes.INVALID_OPTION,
      `fromSystemd(): the socket at fd ${fd} ${why}, so it does not say where the socket is: pass { path }, the path clients connect to.`,
    );
  if (bound === '') throw unusable('is not bound to an address');
  // plugsock's claim binds through its directory fd, then publishes the file by a link.
  if (bound.startsWith('/proc/self/fd/'))
    throw unusable(`was bound as ${bound} (by plugsock's own listen(), through a directory fd, before being published by a link)`);
  try {
    return normalizeEndpoint(bound);
  } catch (err) {
    throw unusable(`is bound to ${JSON.stringify(bound)}, which is not an absolute path or an abstract name (${(err as Error).message})`);
  }
}
