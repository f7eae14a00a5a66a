/**
 * Builds (cached in test/interop/.build/) and locates the interop peers for the go-plugin and
 * pyvider tests and the bench: go-plugin 1.0.1 (Debian, build.sh), go-plugin v1.8 (module mode,
 * build-modern.sh), pyvider-rpcplugin (PyPI venv, build-pyvider.sh).
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { it } from 'vitest';
import { type ChildResult, goplugin, root, run as runToEnd } from '../kit';

export const interopDir = resolve(__dirname);
export { root };
export const NODE_PLUGIN = join(root, 'examples', 'kv-plugin.mjs');
export const COOKIE = { magicCookieKey: 'PLUGSOCK_INTEROP_COOKIE', magicCookieValue: 'kv-3b1f9e' };

export type Built<T> = ({ ok: true; ms: number } & T) | { ok: false; reason: string };

function runBuild<T>(script: string, parse: (lines: string[]) => T, timeoutMs = 600_000): Built<T> {
  const t0 = Date.now();
  const r = spawnSync('bash', [join(interopDir, script)], { encoding: 'utf8', timeout: timeoutMs });
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').slice(-3).join(' | ');
    return { ok: false, reason: `${script}: ${why}` };
  }
  return { ok: true, ms: Date.now() - t0, ...parse(r.stdout.trim().split('\n')) };
}

const cache = new Map<string, unknown>();
function once<T>(key: string, f: () => T): T {
  if (!cache.has(key)) cache.set(key, f());
  return cache.get(key) as T;
}

/** go-plugin 1.0.1 peers (Debian, GOPATH mode). */
export const goV101 = () => once('v101', () => runBuild('build.sh', ([plugin, host]) => ({ plugin: plugin!, host: host! })));
/** go-plugin v1.8 peers (module mode). */
export const goV18 = () =>
  once('v18', () => runBuild('build-modern.sh', ([plugin, host, moduleDir]) => ({ plugin: plugin!, host: host!, moduleDir: moduleDir! })));
/** pyvider-rpcplugin venv. */
export const pyvider = () =>
  once('pyvider', () =>
    runBuild('build-pyvider.sh', ([python, pbDir]) => ({
      python: python!,
      pbDir: pbDir!,
      plugin: join(interopDir, 'pyvider', 'plugin.py'),
      host: join(interopDir, 'pyvider', 'host.py'),
      paths: join(interopDir, 'pyvider', 'paths.py'),
    })),
  );

export type RunResult = ChildResult;

/** Runs a program to completion (killed after `timeoutMs`), collecting its output. */
export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env, timeoutMs = 60_000): Promise<RunResult> {
  return runToEnd(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'], timeoutMs });
}

/**
 * A test that needs interop peers: runs when they were built; locally (not CI) skips with the
 * reason; in CI (CI=true), where nothing may skip, fails with the reason.
 */
export function itWithPeers(built: { ok: boolean; reason?: string }, what: string, name: string, fn: () => Promise<void>, timeout: number): void {
  const inCI = process.env.CI === 'true';
  if (built.ok) it(name, fn, timeout);
  else if (!inCI) it.skip(`${name} [skipped outside CI: ${what} unavailable: ${built.reason}]`, fn);
  else
    it(name, () => {
      throw new Error(`CI=true but ${what} could not be built: ${built.reason}`);
    });
}

const requireHere = createRequire(__filename);

/** What the interop tests drive: the built go-plugin module, grpc-js, and the KV example's package. */
export function loadGoPluginKit() {
  const gp = goplugin;
  const grpc: typeof import('@grpc/grpc-js') = requireHere('@grpc/grpc-js');
  const protoLoader: typeof import('@grpc/proto-loader') = requireHere('@grpc/proto-loader');
  const kvPkg = grpc.loadPackageDefinition(protoLoader.loadSync(join(root, 'examples', 'kv.proto'), { defaults: true })) as any;
  return { gp, grpc, protoLoader, kvPkg };
}
