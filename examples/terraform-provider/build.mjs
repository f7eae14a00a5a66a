#!/usr/bin/env node
/**
 * Builds the provider into one directory Terraform can run it from (a dev_overrides directory):
 *
 *   bin/terraform-provider-localfile   the executable: a few lines that load lib/provider.js
 *                                      with V8's code cache
 *   bin/lib/provider.js                provider.ts and plugsock in one CommonJS file, already in
 *                                      Node's module wrapper (function (exports, require, ...))
 *   bin/lib/provider.js.cache          V8's code cache for it, written at build time
 *   bin/build/Release/plugsock.node    plugsock's native addon, and
 *   bin/generated/tfplugin{5,6}.json   Terraform's protocol descriptors: plugsock looks for both
 *                                      one level above its own code, i.e. in bin/
 *
 * Why so: Terraform starts a provider 3-5 times per command. One file instead of ~200 modules
 * saves resolving and reading them, and the code cache saves compiling them: together about half
 * of what loading grpc-js and plugsock costs (`node bench/terraform.mjs` measures the start-up).
 * The cache is made by running the provider once as Terraform would (handshake, GetProviderSchema,
 * Shutdown), so it holds what start-up compiles. It is only valid for the Node that made it (V8
 * rejects it otherwise, and the provider then just compiles as usual): build with the Node
 * that will run the provider.
 *
 *   node examples/terraform-provider/build.mjs [--out <file>]
 *
 * Needs plugsock built (from this repository: `npx tsc -p tsconfig.build.json` and
 * `node scripts/tfplugin-protos.mjs`; elsewhere: `npm install plugsock @grpc/grpc-js esbuild`).
 * The tests and bench/terraform.mjs import `buildProvider` from here.
 */
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, 'provider.ts'));
/** Where the provider is built by default. */
export const DEFAULT_OUT = join(here, 'bin', 'terraform-provider-localfile');

// The executable. It keeps `require` for what the bundle loads at run time: Node's own modules
// and the addon (by absolute path). The cache is written only when the build asks for it.
const LOADER = `#!/usr/bin/env node
'use strict';
// Loads lib/provider.js with V8's code cache (made by build.mjs; see there).
const { readFileSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');
// node:module's class, without loading node:module (which brings the ESM loader with it).
const Module = module.constructor;
const { Script } = require('node:vm');
const dir = join(__dirname, 'lib');
const file = join(dir, 'provider.js');
let cachedData;
try {
  cachedData = readFileSync(file + '.cache');
} catch {}
// The file is already in Node's module wrapper: Module.wrap() would copy its ~0.3 MB once more.
const script = new Script(readFileSync(file, 'utf8'), { filename: file, cachedData });
const cacheOut = process.env.PLUGSOCK_BUILD_CODE_CACHE;
if (cacheOut) process.once('exit', () => writeFileSync(cacheOut, script.createCachedData()));
const mod = new Module(file, module);
mod.filename = file;
script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(file), mod, file, dir);
`;

// What the bundle has instead of grpc-js: an error naming the way out, should a provider use a
// part of plugsock that needs grpc-js (dialing through the broker, servePlugin).
const LEFT_OUT = `throw Object.assign(new Error('@grpc/grpc-js is not in this bundle: the provider uses a part of plugsock that needs it; remove the left-out plugin from build.mjs.'), { code: 'MODULE_NOT_FOUND' });`;

/** plugsock's package root as the provider resolves it (this repository, or node_modules/plugsock). */
function plugsockRoot() {
  return dirname(require.resolve('plugsock/package.json'));
}

/**
 * Builds the provider into `dirname(outfile)` (see the top of this file); resolves with
 * `outfile`. Files are replaced by renames, so a provider already running, or a build running
 * at the same time (the tests), never sees half of one.
 */
export async function buildProvider(outfile = DEFAULT_OUT, { codeCache = true } = {}) {
  const dir = dirname(outfile);
  const root = plugsockRoot();
  const tag = `${process.pid}.${Date.now()}.tmp`;
  const put = (path, data, mode = 0o644) => {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(`${path}.${tag}`, data, { mode });
    chmodSync(`${path}.${tag}`, mode);
    renameSync(`${path}.${tag}`, path);
  };
  const result = await build({
    entryPoints: [join(here, 'provider.ts')],
    write: false,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    // Smaller source is less to read and hash; names are kept for stack traces.
    minifyWhitespace: true,
    minifySyntax: true,
    // plugsock by its package name, as Node resolves it (from inside this repository: itself).
    // grpc-js is left out: serveProvider answers on plugsock's own server and never loads it,
    // and its 0.4 MB of source in the bundle cost ~2.5 ms of each start to read and map.
    plugins: [
      {
        name: 'plugsock',
        setup(b) {
          b.onResolve({ filter: /^plugsock(\/|$)/ }, (a) => ({ path: require.resolve(a.path) }));
          b.onResolve({ filter: /^@grpc\/grpc-js$/ }, () => ({ path: '@grpc/grpc-js', namespace: 'left-out' }));
          b.onLoad({ filter: /.*/, namespace: 'left-out' }, () => ({ contents: LEFT_OUT, loader: 'js' }));
        },
      },
    ],
    logLevel: 'warning',
  });
  const bundle = join(dir, 'lib', 'provider.js');
  put(bundle, Module.wrap(result.outputFiles[0].text));
  // The addon node-gyp-build would load for plugsock here (a prebuild or build/Release).
  const addon = createRequire(join(root, 'package.json'))('node-gyp-build').resolve(root);
  put(join(dir, 'build', 'Release', 'plugsock.node'), readFileSync(addon), 0o755);
  for (const v of [5, 6]) put(join(dir, 'generated', `tfplugin${v}.json`), readFileSync(join(root, 'generated', `tfplugin${v}.json`)));
  put(outfile, LOADER, 0o755);
  rmSync(`${bundle}.cache`, { force: true });
  if (codeCache) await writeCodeCache(outfile, `${bundle}.cache`, root, tag);
  return outfile;
}

/** Runs the provider once as Terraform starts it, with its loader told to write the code cache. */
async function writeCodeCache(outfile, cacheFile, root, tag) {
  const load = createRequire(join(root, 'package.json'));
  const { startPlugin } = load('plugsock/goplugin');
  const { terraformProtocol, TERRAFORM_MAGIC_COOKIE_KEY, TERRAFORM_MAGIC_COOKIE_VALUE } = load('plugsock/terraform');
  const grpc = load('@grpc/grpc-js');
  const tmp = `${cacheFile}.${tag}`;
  const plugin = await startPlugin({
    command: outfile,
    magicCookieKey: TERRAFORM_MAGIC_COOKIE_KEY,
    magicCookieValue: TERRAFORM_MAGIC_COOKIE_VALUE,
    versions: [6, 5],
    autoMTLS: true,
    // As Terraform: the GRPCStdio stream open too, so its code is in the cache.
    onStdio: () => {},
    env: { ...process.env, PLUGSOCK_BUILD_CODE_CACHE: tmp },
  });
  try {
    const protocol = terraformProtocol(plugin.appVersion === 5 ? 5 : 6);
    const client = plugin.client(grpc.makeGenericClientConstructor(protocol.provider));
    const method = protocol.version === 5 ? 'GetSchema' : 'GetProviderSchema';
    await new Promise((done, fail) => client[method]({}, (err) => (err ? fail(err) : done())));
  } finally {
    await plugin.kill();
  }
  renameSync(tmp, cacheFile);
}

async function main() {
  const outArg = process.argv.indexOf('--out');
  const outfile = await buildProvider(outArg > 0 ? resolve(process.argv[outArg + 1]) : DEFAULT_OUT);
  console.log(`built ${outfile}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
