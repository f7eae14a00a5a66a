/** Transports for tests: both modes, a factory that closes what it made, dead sockets, error codes. */
import { spawnSync } from 'node:child_process';
import { lstatSync } from 'node:fs';
import { afterEach } from 'vitest';
import { tempDirEach } from './dirs';
import { plugsock } from './package';

export const modes = ['native', 'net'] as const;
export type Mode = (typeof modes)[number];

/** Transport option `native` for a test mode. */
export function nativeOption(mode: Mode): 'require' | 'off' {
  return mode === 'native' ? 'require' : 'off';
}

type TransportClass = typeof plugsock.UnixSocketTransport;
type TransportOptions = NonNullable<ConstructorParameters<TransportClass>[0]>;

/**
 * Transports for one test file: `make()` creates one with the file's defaults, `closeAll()`
 * (in afterEach) closes every one made since, so no test leaks a socket into the next. The
 * class is the built package's unless a test of src/ passes its own.
 */
export function transportFactory(defaults: TransportOptions = {}, Transport: TransportClass = plugsock.UnixSocketTransport) {
  const open: Array<InstanceType<TransportClass>> = [];
  return {
    make(options: TransportOptions = {}) {
      const t = new Transport({ ...defaults, ...options });
      open.push(t);
      return t;
    },
    /** Closes `t` too, with the others (a transport made by `takeOver()`). */
    track<T extends InstanceType<TransportClass>>(t: T): T {
      open.push(t);
      return t;
    },
    closeAll: () => Promise.all(open.splice(0).map((t) => t.close())),
  };
}

/**
 * Per test of the file (or describe) it is called in: a fresh directory (`dir()`) and a
 * transport factory; after the test its transports are closed, then the directory is removed.
 */
export function transportsPerTest(defaults: TransportOptions = {}, options: { prefix?: string; Transport?: TransportClass } = {}) {
  const dir = tempDirEach(options.prefix);
  const factory = transportFactory(defaults, options.Transport);
  afterEach(factory.closeAll);
  return { dir, ...factory };
}

/** Awaits `promise`, which must reject with an error whose `code` is `code`; returns the error. */
export async function expectCode(promise: Promise<unknown>, code: string): Promise<Error & { code: string }> {
  try {
    await promise;
  } catch (err) {
    const e = err as Error & { code: string };
    if (e.code !== code) throw new Error(`expected ${code}, got ${e.code}: ${e.message}`);
    return e;
  }
  throw new Error(`expected rejection with ${code}, but it resolved`);
}

/**
 * Leaves a dead socket file at `path`: a child binds it and dies by SIGKILL, so nothing
 * unlinks it and nothing accepts on it (connect gives ECONNREFUSED).
 */
export function makeDeadSocket(path: string): void {
  const script = `require('net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'));`;
  const r = spawnSync(process.execPath, ['-e', script, path], { encoding: 'utf8', timeout: 10_000 });
  if (r.signal !== 'SIGKILL' || !lstatSync(path).isSocket()) throw new Error(`makeDeadSocket(${path}) failed: ${r.stderr}`);
}
