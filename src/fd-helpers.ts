/**
 * Turning a received fd into something Node can use. Each helper takes ownership of the fd:
 * the returned object closes it (on destroy/close), and on failure the helper closes it, so a
 * received fd is never leaked on any path.
 */
import { createReadStream, createWriteStream, fstatSync, promises as fsp } from 'node:fs';
import type { ReadStream, WriteStream } from 'node:fs';
import * as net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { addon } from './addon';
import { ErrorCodes, TransportError, nativeRequired } from './errors';
import { closeAll } from './fd-stream';
import { listenOnFd } from './sockets/listen-fd';

/** What `fdKind()` finds an fd to be (from fstat's file type; `'file'` is a regular file or memfd). */
export type FdKind = 'file' | 'fifo' | 'socket' | 'directory' | 'character' | 'block' | 'other';

/** What kind of object `fd` refers to (fstat). */
export function fdKind(fd: number): FdKind {
  const st = fstatSync(fd);
  if (st.isFile()) return 'file';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isDirectory()) return 'directory';
  if (st.isCharacterDevice()) return 'character';
  if (st.isBlockDevice()) return 'block';
  return 'other';
}

/**
 * Closes every fd, ignoring ones already closed. Prefer this to fs.closeSync for received fds:
 * in a worker thread Node warns about each fd that fs closes without having opened it.
 */
export function closeFds(fds: Iterable<number>): void {
  // An array (what 'fds' gives) is closed as it is: a copy per received message shows in fds/s.
  closeAll(Array.isArray(fds) ? fds : [...fds]);
}

function adopt<T>(fd: number, make: () => T): T {
  try {
    return make();
  } catch (err) {
    closeFds([fd]);
    throw err;
  }
}

/**
 * A connected socket (Unix or TCP) or a pipe end as a net.Socket, read and written through
 * libuv without blocking. Do not use it for a connection that will itself carry fds: libuv
 * reads with read(), which drops them; wrap such a socket in an FdStream instead.
 */
export function fdToSocket(fd: number, options: Omit<net.SocketConstructorOpts, 'fd'> = {}): net.Socket {
  return adopt(fd, () => {
    const kind = fdKind(fd);
    if (kind !== 'socket' && kind !== 'fifo') {
      throw new TransportError(ErrorCodes.INVALID_OPTION, `fdToSocket(${fd}): the fd is a ${kind}, not a socket or pipe.`);
    }
    return new net.Socket({ readable: true, writable: true, ...options, fd });
  });
}

/**
 * A listening socket (e.g. one handed over by a previous server process) as a net.Server that
 * accepts on it. Resolves once it is listening; the server owns the fd from then on.
 */
export function fdToServer(fd: number, options: net.ServerOpts = {}, connectionListener?: (socket: net.Socket) => void): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    let server: net.Server;
    try {
      if (fdKind(fd) !== 'socket') {
        throw new TransportError(ErrorCodes.INVALID_OPTION, `fdToServer(${fd}): the fd is not a socket.`);
      }
      server = net.createServer(options, connectionListener);
    } catch (err) {
      closeFds([fd]);
      reject(err);
      return;
    }
    const onError = (err: Error) => {
      server.close();
      closeFds([fd]);
      reject(err);
    };
    server.once('error', onError);
    server.once('listening', () => {
      server.off('error', onError);
      resolve(server);
    });
    // Also in a cluster worker: net's listen({ fd }) would hand the fd's number to the primary.
    listenOnFd(server, fd);
  });
}

/**
 * A regular file or memfd as an fs.ReadStream (threadpool reads at the fd's own offset, unless
 * `start` is given); a pipe or socket as a net.Socket (libuv, non-blocking).
 */
export function fdToReadStream(fd: number, options: { start?: number; end?: number; highWaterMark?: number } = {}): Readable {
  return adopt<Readable>(fd, () => {
    const kind = fdKind(fd);
    if (kind === 'fifo' || kind === 'socket') {
      const s = new net.Socket({ fd, readable: true, writable: false });
      return s;
    }
    return createReadStream('', { ...options, fd, autoClose: true }) as ReadStream;
  });
}

/** A regular file or memfd as an fs.WriteStream; a pipe or socket as a net.Socket. */
export function fdToWriteStream(fd: number, options: { start?: number } = {}): Writable {
  return adopt<Writable>(fd, () => {
    const kind = fdKind(fd);
    if (kind === 'fifo' || kind === 'socket') {
      return new net.Socket({ fd, readable: false, writable: true });
    }
    return createWriteStream('', { ...options, fd, autoClose: true }) as WriteStream;
  });
}

/**
 * A received fd as an fs FileHandle. Node has no public way to wrap an existing fd in a
 * FileHandle, so on Linux this opens `/proc/self/fd/<fd>` (the same file, memfds and pipes
 * included) and closes `fd`. Unlike the original fd, the new one has its own offset (starting
 * at 0) and the access mode given in `flags`; sockets cannot be reopened this way (ENXIO).
 */
export async function fdToFileHandle(fd: number, flags: string | number = 'r+'): Promise<fsp.FileHandle> {
  try {
    if (process.platform !== 'linux') {
      throw new TransportError(ErrorCodes.INVALID_OPTION, 'fdToFileHandle() needs /proc/self/fd (Linux).');
    }
    return await fsp.open(`/proc/self/fd/${fd}`, flags);
  } finally {
    closeFds([fd]);
  }
}

/** memfd_create(2) (Linux): an anonymous in-memory file, CLOEXEC, owned by the caller. */
export function memfdCreate(name: string): number {
  const binding = addon();
  if (!binding) throw nativeRequired('memfdCreate()');
  return binding.memfdCreate(name);
}
