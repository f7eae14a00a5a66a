/**
 * The claim by path, for when the addon is not loaded (or has no claim on this platform).
 * Node's fs can only name files, so every step below could be redirected by whoever may rename
 * entries in the socket's directory or any directory above it. The claim therefore refuses
 * such directories up front (ERR_INSECURE_DIRECTORY): then nobody but this user and root can
 * change the names it uses, and the same steps as the native claim are safe by name.
 */
import { type BigIntStats, chmodSync, lstatSync, mkdirSync, rmdirSync, unlinkSync, type Stats } from 'node:fs';
import { chmod, chown, link, lstat, mkdtemp, readdir, realpath, rename, rmdir, stat, unlink } from 'node:fs/promises';
import * as net from 'node:net';
import { dirname, join } from 'node:path';
import { dropEarlyConnections, holdEarlyConnections } from './early-connections';
import { ErrorCodes, TransportError, errnoKind, fileKindOf, isErrno, nativeRequired, notASocketError, systemToTransport } from '../errors';
import { fitsSunPath, pathTooLongError, refuseNetTruncation } from '../path';
import { refusalError } from './refusals';
import { type Claim, type ClaimRequest, generatedDirMode } from './types';

/** Bounded so a path flapping between two other processes cannot keep listen() busy forever. */
const PUBLISH_ATTEMPTS = 16;
/** mkdtemp('.ps-<pid>-') names: the creator's pid and six random characters. */
const STAGE_NAME = /^\.ps-(\d+)-[A-Za-z0-9]{6}$/;

type ProbeResult = 'live' | 'busy' | 'refused' | 'missing' | 'denied' | 'wrongtype';

/**
 * The claim by path. `unused`: why the addon's claim is not used although the addon loaded
 * (nativeRequired's `unused`), for the errors that say what the addon would have done.
 */
export async function claimByPath(request: ClaimRequest, unused: string): Promise<Claim> {
  const { path, mode, generatedDir } = request;
  refuseNetTruncation(path, unused);
  const parent = dirname(path);
  if (generatedDir) {
    await assertNobodyElseRenames(dirname(generatedDir), path, unused);
    try {
      mkdirSync(generatedDir, { mode: 0o700 });
      chmodSync(generatedDir, generatedDirMode(mode));
    } catch (err) {
      throw systemToTransport(err, generatedDir, 'mkdir');
    }
  } else {
    await assertNobodyElseRenames(parent, path, unused);
  }
  try {
    const { server, published } = await publishStaged(request, parent, unused);
    return new PathClaim(server, path, published, generatedDir);
  } catch (err) {
    if (generatedDir) removeEmptyDir(generatedDir);
    throw err;
  }
}

export function adoptByPath(path: string, server: net.Server, dev: bigint, ino: bigint): Claim {
  return new PathClaim(server, path, { dev, ino }, null);
}

interface Identity {
  dev: bigint;
  ino: bigint;
}

class PathClaim implements Claim {
  #done = false;

  constructor(
    readonly server: net.Server,
    private readonly path: string,
    private readonly published: Identity,
    private readonly generatedDir: string | null,
  ) {}

  get dev(): bigint {
    return this.published.dev;
  }

  get ino(): bigint {
    return this.published.ino;
  }

  release(): void {
    if (this.#done) return;
    this.#done = true;
    try {
      const st = lstatSync(this.path, { bigint: true });
      if (st.isSocket() && st.dev === this.published.dev && st.ino === this.published.ino) unlinkSync(this.path);
    } catch {
      // Already gone, or no longer ours to touch.
    }
    if (this.generatedDir) removeEmptyDir(this.generatedDir);
  }

  forget(): void {
    this.#done = true;
  }
}

function removeEmptyDir(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // Missing, or something else put files there: not ours to empty.
  }
}

/**
 * Refuses `dir` unless nobody but this user and root can rename entries in it or in any
 * directory above it: each one, as named and as resolved, must be owned by this user or root
 * and be writable by nobody else, or carry the sticky bit (which forbids renaming others' entries).
 */
async function assertNobodyElseRenames(dir: string, path: string, unused: string): Promise<void> {
  let real: string;
  try {
    real = await realpath(dir);
  } catch (err) {
    if (isErrno(err, 'missing', 'not-dir')) {
      throw new TransportError(ErrorCodes.INVALID_PATH, `The directory ${dir} for socket ${path} does not exist: create it first.`, { path, cause: err });
    }
    throw systemToTransport(err, path, 'realpath');
  }
  const me = typeof process.geteuid === 'function' ? process.geteuid() : -1;
  for (const d of new Set([...ancestors(dir), ...ancestors(real)])) {
    let st: Stats;
    try {
      st = await stat(d);
    } catch (err) {
      throw systemToTransport(err, path, 'stat');
    }
    if (!st.isDirectory()) {
      throw new TransportError(ErrorCodes.INVALID_PATH, `${d} is not a directory, so ${path} cannot be created there.`, { path });
    }
    const sticky = (st.mode & 0o1000) !== 0;
    const why =
      st.uid !== 0 && st.uid !== me
        ? `is owned by another user (uid ${st.uid})`
        : (st.mode & 0o022) !== 0 && !sticky
          ? `is writable by ${st.mode & 0o002 ? 'everyone' : `group ${st.gid}`} without the sticky bit`
          : null;
    if (why) {
      throw nativeRequired(`The directory ${d} ${why}, so another user could rename entries on the way to ${path}: listening there safely`, {
        code: ErrorCodes.INSECURE_DIRECTORY,
        path,
        unused,
        instead: 'use a directory that only you and root can change (or one with the sticky bit, like /tmp)',
      });
    }
  }
}

/** `/a/b/c` -> `/`, `/a`, `/a/b`, `/a/b/c`. */
function ancestors(dir: string): string[] {
  const out = ['/'];
  let acc = '';
  for (const part of dir.split('/')) {
    if (!part) continue;
    acc += `/${part}`;
    out.push(acc);
  }
  return out;
}

async function publishStaged(request: ClaimRequest, parent: string, unused: string): Promise<{ server: net.Server; published: Identity }> {
  const { path } = request;
  await sweepStaging(parent);
  const stageDir = await makeStageDir(parent, path);
  const stagePath = join(stageDir, 's');
  let server: net.Server | null = null;
  try {
    if (!fitsSunPath(stagePath)) {
      const extra = Buffer.byteLength(stagePath) - Buffer.byteLength(path);
      throw pathTooLongError(stagePath, `once staged (plugsock binds in a private directory next to the target first: ${extra} bytes more)`, unused);
    }
    try {
      server = await listenAt(stagePath, request);
      // bind() subtracted the umask; the group goes on before anyone can reach the file.
      await chmod(stagePath, request.mode);
      if (request.gid !== null) await chown(stagePath, -1, request.gid);
    } catch (err) {
      throw systemToTransport(err, path, 'bind');
    }
    const published = await publish(stageDir, stagePath, path);
    return { server, published };
  } catch (err) {
    if (server) dropEarlyConnections(server);
    server?.close();
    throw err;
  } finally {
    await unlink(stagePath).catch(() => {});
    await rmdir(stageDir).catch(() => {});
  }
}

function listenAt(path: string, request: ClaimRequest): Promise<net.Server> {
  const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: request.allowHalfOpen });
  // Clients may connect from the link on, turns of the event loop before the transport listens.
  holdEarlyConnections(server);
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path, backlog: request.backlog }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** Links the staged socket to `path`, clearing a dead socket that is in the way. */
async function publish(stageDir: string, stagePath: string, path: string): Promise<Identity> {
  // The identity is taken from the staged name, which only we can touch.
  const staged = await lstat(stagePath, { bigint: true });
  for (let attempt = 0; attempt < PUBLISH_ATTEMPTS; attempt++) {
    try {
      await link(stagePath, path);
      return { dev: staged.dev, ino: staged.ino };
    } catch (err) {
      if (!isErrno(err, 'exists')) throw systemToTransport(err, path, 'link');
    }
    let existing: BigIntStats;
    try {
      existing = await lstat(path, { bigint: true });
    } catch (err) {
      if (isErrno(err, 'missing')) continue; // removed meanwhile: try again
      throw systemToTransport(err, path, 'lstat');
    }
    if (!existing.isSocket()) throw notASocketError(path, fileKindOf(existing));
    const found = await probe(path);
    switch (found) {
      case 'live':
      case 'busy':
      case 'wrongtype':
      case 'denied':
        throw refusalError(found, path);
      case 'missing':
        continue;
      case 'refused':
        await removeDeadSocket(stageDir, path, existing);
        continue;
    }
  }
  throw refusalError('racing', path);
}

/** Connects and hangs up at once to learn whether a server is behind a socket file. */
function probe(path: string): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ path });
    socket.once('connect', () => {
      socket.destroy();
      resolve('live');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      socket.destroy();
      switch (errnoKind(err)) {
        case 'refused':
          return resolve('refused');
        case 'busy':
          return resolve('busy');
        case 'missing':
        case 'not-dir':
          return resolve('missing');
        case 'denied':
          return resolve('denied');
        case 'wrong-type':
          return resolve('wrongtype');
        default:
          return reject(systemToTransport(err, path, 'connect'));
      }
    });
  });
}

async function makeStageDir(parent: string, path: string): Promise<string> {
  try {
    // mkdtemp creates it 0700: nobody but us can reach a socket inside before it is published.
    // The pid in the name lets a later listen() tell a crashed creator's leftovers from a
    // staging directory that is in use right now.
    return await mkdtemp(join(parent, `.ps-${process.pid}-`));
  } catch (err) {
    throw systemToTransport(err, path, 'mkdir');
  }
}

/**
 * Removes the dead socket `probed` from `path`, and nothing else. The file is first moved into
 * our private staging directory with rename(2), which is atomic, and only deleted there if it is
 * still the inode that was probed. If another process published a live socket meanwhile, that
 * one is what got moved, and it is linked straight back.
 */
async function removeDeadSocket(stageDir: string, path: string, probed: Identity): Promise<void> {
  const grave = join(stageDir, 'dead');
  try {
    await rename(path, grave);
  } catch (err) {
    if (isErrno(err, 'missing')) return;
    throw systemToTransport(err, path, 'rename');
  }
  const moved = await lstat(grave, { bigint: true });
  if (moved.dev === probed.dev && moved.ino === probed.ino) {
    await unlink(grave);
    return;
  }
  try {
    await link(grave, path);
  } catch (err) {
    // A third process took the path in the instant the file was away. Deleting the moved file
    // would orphan a live server, so it stays where it is and the caller is told.
    throw new TransportError(
      ErrorCodes.ADDRESS_IN_USE,
      `Several processes are racing for ${path}; a socket that was displaced in the race was kept at ${grave}. Choose a path of your own.`,
      { path, cause: err },
    );
  }
  await unlink(grave);
}

/**
 * Clears staging directories that a process killed inside listen() left next to the target.
 * Only directories that look exactly like ours (name, owner, mode) are touched, only when their
 * creator is gone (a live one may be between bind and listen, where its socket refuses like a
 * dead one), and only when they hold nothing but dead sockets.
 */
async function sweepStaging(parent: string): Promise<void> {
  let names: string[];
  try {
    names = (await readdir(parent)).filter((n) => STAGE_NAME.test(n) && !n.startsWith(`.ps-${process.pid}-`));
  } catch {
    return;
  }
  const uid = typeof process.geteuid === 'function' ? process.geteuid() : -1;
  for (const name of names) {
    const dir = join(parent, name);
    try {
      const st = await lstat(dir);
      if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o777) !== 0o700) continue;
      const entries = await readdir(dir);
      if (entries.some((e) => e !== 's' && e !== 'dead')) continue;
      if (processExists(Number(STAGE_NAME.exec(name)![1]))) continue;
      let allDead = true;
      for (const entry of entries) {
        const inner = join(dir, entry);
        if (!(await lstat(inner)).isSocket() || (await probe(inner)) !== 'refused') allDead = false;
      }
      if (!allDead) continue;
      for (const entry of entries) await unlink(join(dir, entry));
      await rmdir(dir);
    } catch {
      // Raced with its owner or another sweeper: leave it.
    }
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return !isErrno(err, 'no-process');
  }
}
