/**
 * Socket path rules: endpoint normalisation, generated paths, the sun_path length limit, and
 * abstract addresses (Linux): kept as a NUL and the name (`'\0name'`), the kernel's own form,
 * which no file system call accepts, so an abstract address can never be taken for a file.
 */
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, TransportError, nativeRequired } from './errors';

/**
 * The longest socket path (in bytes) that fits `sun_path` with its terminating NUL:
 * `sizeof(sun_path) - 1`, which is 108 - 1 on Linux and 104 - 1 on macOS (and the BSDs).
 */
export const SUN_PATH_MAX: number = process.platform === 'linux' ? 107 : 103;

/**
 * Turns an endpoint string into an absolute socket path.
 *
 * Accepts a plain absolute path or one prefixed with `unix:`, `unix:/` or `unix://`.
 * `unix://tmp/a.sock` means `/tmp/a.sock` (the Python original's reading; gRPC would call
 * `tmp` an authority). Repeated slashes collapse to one. Relative paths, empty strings, NUL
 * bytes and paths that end in `/` throw `TransportError` with code `ERR_INVALID_PATH`.
 *
 * | input                | result         |
 * |----------------------|----------------|
 * | `/tmp/a.sock`        | `/tmp/a.sock`  |
 * | `unix:/tmp/a.sock`   | `/tmp/a.sock`  |
 * | `unix://tmp/a.sock`  | `/tmp/a.sock`  |
 * | `unix:///tmp/a.sock` | `/tmp/a.sock`  |
 * | `//tmp//a.sock`      | `/tmp/a.sock`  |
 */
export function normalizeUnixPath(endpoint: string): string {
  if (typeof endpoint !== 'string') {
    throw new TransportError(ErrorCodes.INVALID_PATH, `A socket endpoint must be a string, got ${endpoint === null ? 'null' : typeof endpoint}.`);
  }
  let rest = endpoint.startsWith('unix:') ? endpoint.slice('unix:'.length) : endpoint;
  if (rest.startsWith('@') || endpoint.includes('\0')) {
    throw new TransportError(
      ErrorCodes.INVALID_PATH,
      rest.startsWith('@') || rest.startsWith('\0')
        ? `${JSON.stringify(endpoint)} is an abstract socket address, not a file path: a UnixSocketTransport takes it (Linux, with a peer policy), this function only file paths.`
        : `Socket path ${JSON.stringify(endpoint)} contains a NUL byte; an abstract socket address is written unix:@name.`,
    );
  }
  if (rest === '') {
    throw new TransportError(
      ErrorCodes.INVALID_PATH,
      `Empty socket path${endpoint ? ` in ${JSON.stringify(endpoint)}` : ''}: give an absolute path such as unix:/tmp/app.sock.`,
    );
  }
  if (!rest.startsWith('/')) {
    throw new TransportError(
      ErrorCodes.INVALID_PATH,
      `Socket path ${JSON.stringify(endpoint)} is not absolute: give an absolute path such as unix:/tmp/app.sock ` +
        `(relative paths depend on the working directory of each process).`,
    );
  }
  if (rest.includes('//')) rest = rest.replace(/\/{2,}/g, '/');
  if (rest === '/' || rest.endsWith('/')) {
    throw new TransportError(
      ErrorCodes.INVALID_PATH,
      `Socket path ${JSON.stringify(endpoint)} names a directory: add a file name, e.g. ${rest.replace(/\/?$/, '/app.sock')}.`,
    );
  }
  return rest;
}

/** The longest abstract name, in bytes: sun_path less its leading NUL (Linux). */
export const ABSTRACT_NAME_MAX = 107;

/**
 * Turns an endpoint string into a socket address: an absolute path (as `normalizeUnixPath`), or
 * an abstract address (Linux), returned in the kernel's form, a NUL and the name: `'\0name'`.
 *
 * | input                          | result        |
 * |--------------------------------|---------------|
 * | `unix:/tmp/a.sock`, …          | `/tmp/a.sock` |
 * | `unix:@name`, `@name`          | `'\0name'`    |
 * | `'\0name'`, `'unix:\0name'`    | `'\0name'`    |
 *
 * The name is 1 to 107 bytes (UTF-8) without NUL bytes, taken exactly (no trailing NUL: the
 * kernel counts the address length, and `unix:@a` and a name padded with NULs are two sockets).
 * Anything else throws `ERR_INVALID_PATH`; so does an abstract address outside Linux.
 */
export function normalizeEndpoint(endpoint: string): string {
  const rest = typeof endpoint === 'string' && endpoint.startsWith('unix:') ? endpoint.slice('unix:'.length) : endpoint;
  if (typeof rest !== 'string' || !(rest.startsWith('@') || rest.startsWith('\0'))) return normalizeUnixPath(endpoint);
  const name = rest.slice(1);
  const problem =
    process.platform !== 'linux'
      ? `abstract socket addresses exist on Linux only, not on ${process.platform}`
      : name === ''
        ? 'the name after @ is empty'
        : name.includes('\0')
          ? 'the name contains a NUL byte'
          : pathBytes(name) > ABSTRACT_NAME_MAX
            ? `the name is ${pathBytes(name)} bytes, over the ${ABSTRACT_NAME_MAX} an abstract address holds`
            : null;
  if (problem !== null) throw new TransportError(ErrorCodes.INVALID_PATH, `Abstract socket address ${JSON.stringify(endpoint)}: ${problem}.`);
  return `\0${name}`;
}

/** Whether a normalised address is an abstract one (`'\0name'`, from `normalizeEndpoint`). */
export function isAbstractPath(path: string): boolean {
  return path.charCodeAt(0) === 0;
}

/** How an address is shown: a path as it is, an abstract address as `@name` (as ss(8) shows it). */
export function showAddress(path: string): string {
  return isAbstractPath(path) ? `@${path.slice(1)}` : path;
}

/** Formats an address as the endpoint string plugsock reports: `unix:/abs/path`, or `unix:@name`. */
export function toEndpoint(path: string): string {
  return `unix:${showAddress(path)}`;
}

/** Bytes the path takes in `sun_path` (without the NUL). */
export function pathBytes(path: string): number {
  return Buffer.byteLength(path);
}

/**
 * Whether Node's `net` can take `path` as it is: a file path that fits sun_path. Never an
 * abstract address: `net` binds and connects those padded with NULs to the whole sun_path,
 * which names another socket than everyone else's `@name` (the addon connects them instead).
 */
export function fitsSunPath(path: string): boolean {
  return pathBytes(path) <= SUN_PATH_MAX && !isAbstractPath(path);
}

/**
 * `path` does not fit sun_path and plain `net` would have to bind or connect it (`why` says
 * more, e.g. the bytes staging adds). On Linux the addon reaches such paths, so the message
 * says why it is not in use here (`unused`: see nativeRequired); elsewhere it cannot help.
 */
export function pathTooLongError(path: string, why: string, unused?: string): TransportError {
  const what = `A socket path of ${pathBytes(path)} bytes${why ? ` ${why}` : ''}, over the ${SUN_PATH_MAX} that sun_path holds here (plain net would silently truncate it),`;
  if (process.platform !== 'linux') {
    return new TransportError(ErrorCodes.PATH_TOO_LONG, `${what} cannot be used. Use a shorter path.`, { path });
  }
  return nativeRequired(what, { code: ErrorCodes.PATH_TOO_LONG, path, unused, instead: 'use a shorter path' });
}

/**
 * Plain `net` would silently truncate a path longer than sun_path: refuse it first. `unused`:
 * why the addon is not used although it loaded (see nativeRequired).
 */
export function refuseNetTruncation(path: string, unused?: string): void {
  if (isAbstractPath(path)) throw nativeRequired(`The abstract socket address ${showAddress(path)}`, { unused });
  if (!fitsSunPath(path)) throw pathTooLongError(path, '', unused);
}

/** A fresh random name; 12 bytes of entropy make it unguessable. */
export function randomName(prefix: string): string {
  // Loaded on first use: node:crypto costs ~2 ms at start-up, and only generated paths need it.
  const { randomBytes } = require('node:crypto') as typeof import('node:crypto');
  return prefix + randomBytes(12).toString('base64url');
}

/**
 * The path used when none is given: a socket in a new private directory under the system
 * temp dir. The directory is created by `listen()` (not here), so constructing a transport
 * has no side effect on the filesystem. On Linux its name records who made it,
 * `plugsock-<pid>-<start>-<random>` (`<start>`: the process's start time, /proc/<pid>/stat
 * field 22, 0 when unknown), so that a later listen() can tell a directory whose creator was
 * killed (and could not remove it) from a live one: src/claim/generated-sweep.ts.
 */
export function generatedPath(): { dir: string; path: string } {
  const dir = join(tmpdir(), randomName(process.platform === 'linux' ? `plugsock-${process.pid}-${processStartTime(process.pid) ?? 0}-` : 'plugsock-'));
  return { dir, path: join(dir, 'plugsock.sock') };
}

/** What a generated directory's name records: its creator's pid and start time (0: unknown). */
export interface GeneratedName {
  pid: number;
  start: number;
}

/** `randomName`'s 12 random bytes, base64url. */
const GENERATED_NAME = /^plugsock-([1-9][0-9]{0,9})-([0-9]{1,20})-[A-Za-z0-9_-]{16}$/;

/** The creator recorded in a generated directory's name (Linux form), or null for any other name. */
export function parseGeneratedName(name: string): GeneratedName | null {
  const m = GENERATED_NAME.exec(name);
  if (m === null) return null;
  const pid = Number(m[1]);
  const start = Number(m[2]);
  return pid <= 0x7fffffff && Number.isSafeInteger(start) ? { pid, start } : null;
}

let ownStart: number | null | undefined;

/**
 * When process `pid` started, in clock ticks after boot (/proc/<pid>/stat field 22): with the
 * pid, what tells a process from a later one that got the same pid. Null when unknown (no
 * /proc, no such process, not Linux). This process's own is read once.
 */
export function processStartTime(pid: number): number | null {
  if (pid === process.pid && ownStart !== undefined) return ownStart;
  let start: number | null = null;
  if (process.platform === 'linux') {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      // Field 2 (comm) is in parentheses and may hold spaces and ')': count from the last ')'.
      // After it: field 3 (state) ... field 22 (starttime), the 20th.
      const field = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
      if (field !== undefined && /^[0-9]{1,20}$/.test(field) && Number.isSafeInteger(Number(field))) start = Number(field);
    } catch {
      start = null;
    }
  }
  if (pid === process.pid) ownStart = start;
  return start;
}
