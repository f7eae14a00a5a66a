/**
 * The fd store (FileDescriptorStoreMax= in the service unit): a service gives systemd a dup of
 * its listening socket (`FDSTORE=1`, `FDNAME=name`, the fd by SCM_RIGHTS over NOTIFY_SOCKET),
 * and systemd passes it to the next instance of the service (LISTEN_FDS, named), which serves
 * it with fromSystemd({ name }). The socket, its file and its backlog live on in between, so a
 * restart refuses no client: connections made meanwhile wait in the backlog.
 */
import type * as net from 'node:net';
import { ErrorCodes, TransportError } from '../errors';
import { checkOptionKeys, optionKeys } from '../options';
import { checkFdName } from './names';
import { notifyAddress, sendToSystemd } from './notify';

/** Options of `handOffToSystemd()`. */
export interface HandOffToSystemdOptions {
  /**
   * The name the fd is stored under (`FDNAME=`), which the next instance passes to
   * `fromSystemd({ name })`: 1 to 255 printable ASCII characters, no ':'. Default `'stored'`,
   * systemd's own default.
   */
  name?: string;
}

/** Every key of `HandOffToSystemdOptions` (a missing one does not compile); others are errors. */
export const HAND_OFF_TO_SYSTEMD_OPTION_KEYS = optionKeys<HandOffToSystemdOptions>({ name: true });

/** What the transport lends the fd store: its listening fd, and how to keep its file on close(). */
export interface StorableListener {
  /** The listening fd (still the transport's: systemd receives a dup of it). */
  readonly fd: number;
  /** From now on close() leaves the socket file, which the stored socket keeps using. */
  keepFile(): void;
}

/**
 * Sends the listener to systemd's fd store. `listener` is asked first (it throws when the
 * transport is not listening). Resolves true once sent, false without NOTIFY_SOCKET (nothing
 * sent, nothing changed). Once sent, close() no longer removes the socket file. This process
 * keeps serving until it closes the transport: the next instance may accept beside it.
 */
export async function storeListener(options: HandOffToSystemdOptions, listener: () => StorableListener | Promise<StorableListener>): Promise<boolean> {
  checkOptionKeys(options, HAND_OFF_TO_SYSTEMD_OPTION_KEYS, '');
  const name = options.name ?? 'stored';
  checkFdName(name, 'name');
  const { fd, keepFile } = await listener();
  const target = notifyAddress();
  if (target === null) return false;
  await sendToSystemd(target, `FDSTORE=1\nFDNAME=${name}`, [fd]);
  keepFile();
  return true;
}

/** The fd of a listening net.Server (libuv's pipe handle), for StorableListener. */
export function serverFd(server: net.Server): number {
  const fd = (server as unknown as { _handle?: { fd?: number } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new TransportError(ErrorCodes.INVALID_STATE, 'The listener has no fd (it is closed).');
  return fd;
}
