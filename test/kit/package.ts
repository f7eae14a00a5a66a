/**
 * The package under test: its root, and the built package (dist/) as users get it. Tests of pure
 * TypeScript import src/ directly instead and need no build.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

export const root = resolve(__dirname, '..', '..');
const require = createRequire(__filename);

/** A path under dist/, e.g. `distPath('goplugin', 'index.js')`. */
export function distPath(...parts: string[]): string {
  return join(root, 'dist', ...parts);
}

/**
 * A module of the built package. Without a build, importing the kit still works (so unit tests
 * need none); only using a built module fails, saying what to run.
 */
export function fromDist<T>(...parts: string[]): T {
  const file = distPath(...parts);
  if (existsSync(file)) return require(file) as T;
  const missing = () => {
    throw new Error(`${file} is not built: run \`npm run build:ts\` (this test drives the built package, dist/)`);
  };
  return new Proxy({}, { get: missing, has: missing, ownKeys: missing }) as T;
}

/** The built package, as `require('plugsock')` gives it. */
export const plugsock = fromDist<typeof import('../../src/index')>('index.js');
/** The built go-plugin module, as `require('plugsock/goplugin')` gives it. */
export const goplugin = fromDist<typeof import('../../src/goplugin/index')>('goplugin', 'index.js');
