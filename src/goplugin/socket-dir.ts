/**
 * The directory startPlugin gives a plugin as PLUGIN_UNIX_SOCKET_DIR, and the only place whose
 * sockets it ever removes.
 *
 * Invariant (as in src/claim/index.ts): startPlugin removes only a socket its own child created
 * inside the directory it gave the child, reached through a directory fd it holds and identified
 * by (dev, ino); an address the handshake names anywhere else is never touched.
 *
 * - Private (the default): a fresh 0700 `plugsock-gp-*` under os.tmpdir(). Only our uid can
 *   create entries there, so every socket in it is the child's: release() removes them all, then
 *   the directory.
 * - The caller's `socketDir`: other users may create and rename entries there. A socket is
 *   removed only if confirm() saw the child serve it (connected through the fd, SO_PEERCRED
 *   names the child, same (dev, ino) before and after), and only once nothing accepts on it.
 * - Without the addon (paths only): the private directory is still emptied by name, which is
 *   safe only because nobody else can rename entries in our 0700 directory; nothing in the
 *   caller's directory is ever removed.
 */
import { randomBytes } from 'node:crypto';
import { constants, lstatSync, mkdtempSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { addon, type Binding } from '../addon';
import { isErrno, systemToTransport } from '../errors';

const PRIVATE_PREFIX = 'plugsock-gp-';
/** dirMake fails with EEXIST on a taken name: a few fresh names, as mkdtemp does. */
const MAKE_ATTEMPTS = 8;

type Identity = { name: string; dev: bigint; ino: bigint };

/** The directory-fd operations, when the addon has them (Linux). */
function dirBinding(): Binding | null {
  const b = addon();
  return b?.dirOpen && b.dirMake && b.dirStatAt && b.claimRelease && b.dirRemoveAt ? b : null;
}

function isSocketMode(mode: number): boolean {
  return (mode & constants.S_IFMT) === constants.S_IFSOCK;
}

export class PluginSocketDir {
  /** The confirmed socket of the child in the caller's directory. */
  #confirmed: Identity | null = null;
  #released = false;

  private constructor(
    /** What goes into PLUGIN_UNIX_SOCKET_DIR; null: none is set (the plugin picks). */
    readonly path: string | null,
    private readonly isPrivate: boolean,
    private readonly binding: Binding | null,
    /** The directory's fd (native mode), or -1. */
    private readonly fd: number,
  ) {}

  /**
   * `option` is startPlugin's `socketDir`: undefined for a private directory, false for none.
   * A relative directory means the same to us as to the plugin: relative to its `cwd`.
   * Throws a TransportError when the private directory cannot be made.
   */
  static open(option: string | false | undefined, cwd: string | undefined): PluginSocketDir {
    const binding = dirBinding();
    if (option === false) return new PluginSocketDir(null, false, null, -1);
    if (option === undefined) return binding ? PluginSocketDir.#makePrivate(binding) : PluginSocketDir.#makePrivateByPath();
    const path = resolve(cwd ?? '.', option);
    let fd = -1;
    try {
      if (binding) fd = binding.dirOpen!(path);
    } catch {
      // Missing or not a directory: the plugin will say so; there is nothing to clean up.
    }
    return new PluginSocketDir(path, false, binding, fd);
  }

  static #makePrivate(b: Binding): PluginSocketDir {
    for (let i = 1; ; i++) {
      const path = join(tmpdir(), PRIVATE_PREFIX + randomBytes(6).toString('hex'));
      try {
        return new PluginSocketDir(path, true, b, b.dirMake!(path, 0o700));
      } catch (err) {
        if (!isErrno(err, 'exists') || i === MAKE_ATTEMPTS) throw systemToTransport(err, path, 'mkdir');
      }
    }
  }

  static #makePrivateByPath(): PluginSocketDir {
    const prefix = join(tmpdir(), PRIVATE_PREFIX);
    try {
      return new PluginSocketDir(mkdtempSync(prefix), true, null, -1);
    } catch (err) {
      throw systemToTransport(err, `${prefix}XXXXXX`, 'mkdtemp');
    }
  }

  /**
   * Remembers `address` as the child's socket if it is in the caller's directory and the child
   * (per `isChild`) serves it right now. Call while the child runs; never throws.
   */
  confirm(address: string, isChild: (pid: number) => boolean): void {
    const b = this.binding;
    const name = this.#nameOf(address);
    if (this.isPrivate || !b || this.fd < 0 || name === null || this.#confirmed) return;
    try {
      const before = this.#socketAt(name);
      if (!before) return;
      const conn = b.socketConnect(this.#viaFd(name));
      let pid: number;
      try {
        pid = b.peerCred(conn).pid;
      } finally {
        b.fdClose(conn);
      }
      // The same file before and after the connect: the one the child serves is the one we hold.
      const after = this.#socketAt(name);
      if (after && after.dev === before.dev && after.ino === before.ino && isChild(pid)) this.#confirmed = before;
    } catch {
      // Not connectable through the fd (gone, dead, too long a name): not confirmed.
    }
  }

  /**
   * Removes what the child left (see the module comment), then closes the fd. Call once the
   * child has exited; idempotent and never throws.
   */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    if (this.isPrivate) {
      if (this.binding) this.#emptyPrivateNative(this.binding);
      else emptyPrivateByPath(this.path!);
    } else if (this.#confirmed && this.binding) {
      this.#releaseConfirmed(this.binding, this.#confirmed);
    }
    if (this.fd >= 0) this.binding!.fdClose(this.fd);
  }

  /** The entry name of `address` if its directory is exactly this one. */
  #nameOf(address: string): string | null {
    const name = basename(address);
    if (this.path === null || dirname(address) !== this.path || name === '.' || name === '..' || name === '') return null;
    return name;
  }

  #socketAt(name: string): Identity | null {
    const st = this.binding!.dirStatAt!(this.fd, name);
    return st && isSocketMode(st.mode) ? { name, dev: st.dev, ino: st.ino } : null;
  }

  /** A path that reaches `name` in the directory the fd holds, whatever happened to its path. */
  #viaFd(name: string): string {
    return `/proc/self/fd/${this.fd}/${name}`;
  }

  #emptyPrivateNative(b: Binding): void {
    try {
      for (const name of readdirSync(`/proc/self/fd/${this.fd}`)) {
        const id = this.#socketAt(name);
        if (id) b.claimRelease!(this.fd, name, id.dev, id.ino);
      }
      const parent = b.dirOpen!(dirname(this.path!));
      try {
        b.dirRemoveAt!(parent, basename(this.path!), this.fd);
      } finally {
        b.fdClose(parent);
      }
    } catch {
      // Something else is in it (not a socket: not ours to judge), or it is gone.
    }
  }

  /** A descendant of the child may still serve the socket: remove it only once it is dead. */
  #releaseConfirmed(b: Binding, id: Identity): void {
    try {
      b.fdClose(b.socketConnect(this.#viaFd(id.name)));
      return; // live
    } catch (err) {
      if (!isErrno(err, 'refused')) return;
    }
    try {
      b.claimRelease!(this.fd, id.name, id.dev, id.ino);
    } catch {
      // The directory is no longer ours to change.
    }
  }
}

function emptyPrivateByPath(dir: string): void {
  try {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (lstatSync(p).isSocket()) unlinkSync(p);
    }
    rmdirSync(dir);
  } catch {
    // Something else is in it, or it is gone.
  }
}
