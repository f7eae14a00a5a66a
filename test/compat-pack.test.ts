// The packed package, as users get it: `npm pack` once, then `npm install <tarball>` into fresh
// projects, in parallel:
//   A  --ignore-scripts                                  -> native (prebuild loaded at run time)
//   B  install scripts run, no C++ compiler/make on PATH  -> native, nothing compiled
//   C  prebuilds/ removed from the package, no compiler   -> install succeeds, fallback mode
//   D  prebuilds/ removed, compiler present               -> builds from source (what a platform
//                                                           without a prebuild, e.g. macOS, does)
// then `import` vs `require` and the TypeScript declarations (strict consumer) in project A.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ChildResult, cannotRun, removeDir, root, run as runToEnd, type StartOptions, tempDir } from './kit';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const { sourceHash } = require(join(root, 'scripts', 'source-hash.js')) as { sourceHash: () => string };

type Run = ChildResult & { ms: number };

async function run(cmd: string, args: string[], options: StartOptions = {}): Promise<Run> {
  const started = Date.now();
  const r = await runToEnd(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  return { ...r, ms: Date.now() - started };
}

function describeRun(what: string, r: Run): string {
  return `${what}: exit ${r.code ?? r.signal}\n--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`;
}

/** The npm that runs this machine's `npm`, started with the node running the tests. */
function npmCli(): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, 'npm');
    if (existsSync(p)) {
      const real = realpathSync(p);
      if (real.endsWith('.js')) return real;
      const cli = join(real, '..', '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
      if (existsSync(cli)) return cli;
    }
  }
  return null;
}

const COMPILER = /^(cc|c\+\+|cpp|gcc|g\+\+|clang|clang\+\+|make|gmake|ld|as)(-[\d.]+)?$|-(gcc|g\+\+|c\+\+|cpp|cc|ld|as)(-[\d.]+)?$|^clang/;

/** A bin dir that links every command on PATH except compilers, linkers and make; node first. */
function pathWithoutCompiler(dir: string): string {
  mkdirSync(dir);
  symlinkSync(process.execPath, join(dir, 'node'));
  const seen = new Set(['node']);
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      continue;
    }
    for (const name of names) {
      if (seen.has(name) || COMPILER.test(name)) continue;
      seen.add(name);
      symlinkSync(join(d, name), join(dir, name));
    }
  }
  return dir;
}

/** Every file of the tarball, relative to the package root. */
interface Packed {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string; size: number }[];
}

let work: string;
let tarball: string;
let packed: Packed;
let noCompilerPath: string;
let npm: string;
const installs: Record<'A' | 'B' | 'C' | 'D', Promise<Run>> = {} as never;
const projects: Record<'A' | 'B' | 'C' | 'D', string> = {} as never;
let skip = false;
const started = Date.now();

function newProject(name: string): string {
  const dir = join(work, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name.toLowerCase()}`, version: '1.0.0', private: true }));
  return dir;
}

function npmInstall(project: string, pkg: string, extra: string[], env: NodeJS.ProcessEnv): Promise<Run> {
  return run(process.execPath, [npm, 'install', '--no-audit', '--no-fund', '--prefer-offline', '--foreground-scripts', '--loglevel=info', ...extra, pkg], {
    cwd: project,
    env,
  });
}

beforeAll(async () => {
  const cli = npmCli();
  if (!cli) {
    skip = cannotRun('npm not found on PATH');
    return;
  }
  npm = cli;
  if (!existsSync(join(root, 'dist', 'index.js')) || !existsSync(join(root, 'prebuilds', 'linux-x64'))) {
    skip = cannotRun('dist/ or prebuilds/linux-x64 missing: run npm run build:ts first');
    return;
  }
  work = tempDir('plugsock-test-pack-');
  // --ignore-scripts: no `prepare` (tsc) during pack; dist/ is built before the tests run.
  const pack = await run(process.execPath, [npm, 'pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: root });
  if (pack.code !== 0) throw new Error(describeRun('npm pack', pack));
  packed = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[')))[0];
  tarball = join(work, packed.filename);
  console.log(
    `npm pack: ${packed.filename} ${packed.size} bytes (${(packed.size / 1024).toFixed(1)} KiB), unpacked ${packed.unpackedSize} bytes, ${packed.files.length} files`,
  );

  // The same package without prebuilds: what a platform with no prebuild gets.
  const unpacked = join(work, 'unpacked');
  mkdirSync(unpacked);
  const untar = await run('tar', ['-xzf', tarball, '-C', unpacked]);
  if (untar.code !== 0) throw new Error(describeRun('tar -x', untar));
  removeDir(join(unpacked, 'package', 'prebuilds'));
  const noPrebuilds = join(work, 'plugsock-noprebuilds.tgz');
  const retar = await run('tar', ['-czf', noPrebuilds, '-C', unpacked, 'package']);
  if (retar.code !== 0) throw new Error(describeRun('tar -c', retar));

  noCompilerPath = pathWithoutCompiler(join(work, 'bin-nocc'));
  // npm_config_nodedir: node-gyp (project D, and C's attempt) never downloads headers.
  const nodedir = existsSync('/usr/include/node/node_api.h') ? '/usr' : join(process.execPath, '..', '..');
  const base = { ...process.env, npm_config_nodedir: nodedir };
  const noCc = { ...base, PATH: noCompilerPath };
  for (const p of ['A', 'B', 'C', 'D'] as const) projects[p] = newProject(p);
  installs.A = npmInstall(projects.A, tarball, ['--ignore-scripts'], base);
  installs.B = npmInstall(projects.B, tarball, [], noCc);
  installs.C = npmInstall(projects.C, noPrebuilds, [], noCc);
  installs.D = npmInstall(projects.D, noPrebuilds, [], base);
  // Settle all before any test looks at them, so a failure in one does not leave others running.
  await Promise.allSettled(Object.values(installs));
}, 180_000);

afterAll(() => {
  if (work) removeDir(work);
  console.log(`compat-pack total ${((Date.now() - started) / 1000).toFixed(1)} s`);
});

async function installed(p: 'A' | 'B' | 'C' | 'D'): Promise<string> {
  const r = await installs[p];
  console.log(`install ${p}: ${(r.ms / 1000).toFixed(1)} s`);
  if (r.code !== 0) throw new Error(describeRun(`npm install (project ${p})`, r));
  return projects[p];
}

async function check(p: 'A' | 'B' | 'C' | 'D', script: string, env: NodeJS.ProcessEnv = process.env) {
  const project = await installed(p);
  const dest = join(project, script);
  cpSync(join(__dirname, 'fixtures', script), dest);
  const r = await run(process.execPath, [dest], { cwd: project, env });
  if (r.code !== 0) throw new Error(describeRun(`${script} in project ${p}`, r));
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

/** Allowed in the tarball; anything else fails. `src/` is optional (source maps, see below). */
const ALLOWED = [
  /^package\.json$/,
  /^README\.md$/,
  /^CHANGELOG\.md$/,
  /^LICENSE$/,
  /^binding\.gyp$/,
  /^dist\//,
  /^esm\//,
  /^prebuilds\/[a-z0-9]+-[a-z0-9]+\/[^/]+\.node$/,
  /^native\/[^/]+\.(cc|h)$/,
  /^scripts\/source-hash\.js$/,
  /^scripts\/tfplugin-protos\.mjs$/,
  /^(goplugin|terraform)\/package\.json$/,
  /^generated\/tfplugin[56]\.json$/,
  /^src\/.+\.ts$/,
];
const REQUIRED = [
  'package.json',
  'README.md',
  'CHANGELOG.md',
  'LICENSE',
  'binding.gyp',
  'dist/index.js',
  'dist/index.d.ts',
  'esm/index.mjs',
  'prebuilds/linux-x64/plugsock.glibc.node',
  'prebuilds/linux-arm64/plugsock.glibc.node',
  // binding.gyp runs `node scripts/source-hash.js`: a build from source needs it.
  'scripts/source-hash.js',
  // plugsock/terraform reads Terraform's protocol descriptors from generated/ (made at pack time).
  'generated/tfplugin5.json',
  'generated/tfplugin6.json',
  'dist/terraform/index.js',
  'esm/index.d.mts',
  'goplugin/package.json',
  'terraform/package.json',
];

describe('npm pack', () => {
  it('contains what a user needs and nothing else; prints its size', () => {
    if (skip) return;
    const files = packed.files.map((f) => f.path).sort();
    const unexpected = files.filter((f) => !ALLOWED.some((re) => re.test(f)));
    expect(unexpected).toEqual([]);
    const missing = REQUIRED.filter((f) => !files.includes(f));
    expect(missing).toEqual([]);
    // Every addon source binding.gyp compiles.
    const gyp = readFileSync(join(root, 'binding.gyp'), 'utf8');
    const sources = [...gyp.matchAll(/"(native\/[^"]+)"/g)].map((m) => m[1]);
    expect(sources.length).toBeGreaterThan(0);
    expect(sources.filter((s) => !files.includes(s))).toEqual([]);
    // A dist/ file for every dist/*.js the package.json entry points name.
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    // The targets of the exports map (its values; keys such as "./goplugin" are subpaths).
    const targets: string[] = [];
    const collect = (v: unknown): void => {
      if (typeof v === 'string') targets.push(v);
      else if (v && typeof v === 'object') Object.values(v).forEach(collect);
    };
    collect(pkg.exports);
    const entries = [pkg.main, pkg.types, ...Object.values(pkg.bin ?? {}), ...targets].map((e: string) => e.replace(/^\.\//, ''));
    expect(entries.filter((e) => !files.includes(e))).toEqual([]);
    console.log(`tarball ${packed.size} bytes; top level: ${[...new Set(files.map((f) => f.split('/')[0]))].join(', ')}`);
  });

  it('types resolve right under every TypeScript resolution (arethetypeswrong) and the package lints clean (publint)', async () => {
    if (skip) return;
    const bin = (name: string) => join(root, 'node_modules', '.bin', name);
    // node10 (moduleResolution "node") finds the subpaths through goplugin/ and terraform/ package.json stubs.
    const attw = await runToEnd(bin('attw'), [tarball, '--format', 'json'], { timeoutMs: 120_000 });
    const report = JSON.parse(attw.stdout.slice(attw.stdout.indexOf('{')));
    const problems = Object.values(report.analysis?.problems ?? {}).flat();
    expect(problems, attw.stdout.slice(0, 2000)).toEqual([]);
    expect(Object.keys(report.analysis.entrypoints).sort()).toEqual(['.', './goplugin', './package.json', './terraform']);
    const publint = await runToEnd(bin('publint'), ['run', tarball, '--strict'], { timeoutMs: 120_000 });
    expect(publint.code, publint.stdout + publint.stderr).toBe(0);
    expect(publint.stdout).toContain('All good!');
  });

  it('ships the sources its source maps point at (or no maps)', () => {
    if (skip) return;
    const files = new Set(packed.files.map((f) => f.path));
    const broken: string[] = [];
    for (const f of files) {
      if (!f.endsWith('.map')) continue;
      const map = JSON.parse(readFileSync(join(root, f), 'utf8')) as { sources: string[]; sourcesContent?: string[] };
      map.sources.forEach((s, i) => {
        if (map.sourcesContent?.[i]) return;
        const target = join(f, '..', s);
        if (!files.has(target)) broken.push(`${f} -> ${target}`);
      });
    }
    expect(broken.slice(0, 5), `${broken.length} source-map sources not in the tarball`).toEqual([]);
  });
});

describe('npm install <tarball>', () => {
  it('A: with --ignore-scripts, native mode works (the prebuild loads at run time)', async () => {
    if (skip) return;
    const r = await check('A', 'pack-check.cjs');
    expect(r).toMatchObject({ native: true, reason: null, maker: 'native', hasPeer: true, echoed: 'ping', socketGone: true, hasBuildDir: false });
    expect(r.loadedFrom).toBe('prebuilds/linux-x64/plugsock.glibc.node');
    expect(r.sourceHash).toBe(sourceHash());
  });

  it('B: with no C++ compiler or make on PATH, install scripts run and native mode works', async () => {
    if (skip) return;
    const probe = await run('sh', ['-c', 'for c in g++ gcc cc c++ make clang; do command -v $c && exit 1; done; exit 0'], {
      env: { ...process.env, PATH: noCompilerPath },
    });
    expect(probe.code, `a compiler is still on the stripped PATH: ${probe.stdout}`).toBe(0);
    const install = await installs.B;
    expect(install.code, describeRun('install B', install)).toBe(0);
    // The install script did run (npm 11 did not block it) and found the prebuild.
    expect(install.stdout + install.stderr).toContain('node-gyp-build');
    const r = await check('B', 'pack-check.cjs', { ...process.env, PATH: noCompilerPath });
    expect(r).toMatchObject({ native: true, reason: null, maker: 'native', echoed: 'ping', hasBuildDir: false });
    expect(r.loadedFrom).toBe('prebuilds/linux-x64/plugsock.glibc.node');
  });

  it('musl: the prebuilds are tagged glibc, so where node-gyp-build sees musl (LIBC=musl, as it detects Alpine) none loads: fallback, one-line reason', async () => {
    if (skip) return;
    // An untagged prebuild was loaded on musl, where it cannot work (it imports glibc's fcntl64).
    const r = await check('A', 'pack-check.cjs', { ...process.env, LIBC: 'musl' });
    expect(r).toMatchObject({ native: false, maker: 'net', loadedFrom: null, echoed: 'ping' });
    expect(r.reason).toMatch(/^native addon did not load: .*libc=musl/);
    expect(r.reason).not.toMatch(/[\r\n]/);
  });

  it('C: with prebuilds removed and no compiler, install succeeds and the package runs in fallback mode', async () => {
    if (skip) return;
    const r = await check('C', 'pack-check.cjs', { ...process.env, PATH: noCompilerPath });
    expect(r).toMatchObject({ native: false, maker: 'net', hasPeer: false, echoed: 'ping', socketGone: true, loadedFrom: null });
    expect(typeof r.reason).toBe('string');
    expect(r.reason.length).toBeGreaterThan(10);
    expect(r.reason).not.toMatch(/[\r\n]/);
    console.log(`fallback reason: ${r.reason}`);
  });

  it('D: with prebuilds removed and a compiler, install builds the addon from source', async () => {
    if (skip) return;
    const install = await installs.D;
    expect(install.code, describeRun('install D', install)).toBe(0);
    const r = await check('D', 'pack-check.cjs');
    expect(r, `install output:\n${install.stdout.slice(-2000)}\n${install.stderr.slice(-2000)}`).toMatchObject({
      native: true,
      reason: null,
      maker: 'native',
      hasBuildDir: true,
      loadedFrom: 'build/Release/plugsock.node',
    });
    expect(r.sourceHash).toBe(sourceHash());
  });

  it('import and require give the same classes (instanceof TransportError across them)', async () => {
    if (skip) return;
    const r = await check('A', 'pack-check.mjs');
    expect(r.different).toEqual([]);
    expect(r.esmKeys).toEqual(r.cjsKeys);
    expect(r).toMatchObject({ defaultIsCjs: true, crossInstanceof: true, crossCode: 'ERR_INVALID_PATH', cjsErrorIsEsmError: true });
    expect(r.goplugin).toBe('plugsock/dist/goplugin/index.js');
  });

  it('its TypeScript declarations compile in a strict consumer (nodenext, bundler, node10), and a Terraform provider compiles without @grpc/grpc-js installed', async () => {
    if (skip) return;
    const project = await installed('A');
    const types = join(project, 'types');
    cpSync(join(__dirname, 'types'), types, { recursive: true });
    // @types/node is the consumer's business; lend it the repo's.
    writeFileSync(join(types, 'tsconfig.base.json'), JSON.stringify({ compilerOptions: { typeRoots: [join(root, 'node_modules', '@types')] } }));
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    // Project A installed plugsock alone: no @grpc/grpc-js (an optional peer), as a provider has it.
    expect(existsSync(join(project, 'node_modules', '@grpc', 'grpc-js'))).toBe(false);
    const configs = ['tsconfig.json', 'tsconfig.bundler.json', 'tsconfig.node10.json', 'provider.tsconfig.json'];
    const results = await Promise.all(
      configs.map(async (c) => {
        // Point each config at the lent @types, keep everything else as committed.
        const cfg = JSON.parse(readFileSync(join(types, c), 'utf8').replace(/^\s*\/\/.*$/gm, ''));
        cfg.compilerOptions = { ...cfg.compilerOptions, typeRoots: [join(root, 'node_modules', '@types')] };
        const local = join(types, `ci.${c}`);
        writeFileSync(local, JSON.stringify({ ...cfg, extends: cfg.extends ? `./ci.${cfg.extends.replace('./', '')}` : undefined }));
        return [c, await run(process.execPath, [tsc, '-p', local], { cwd: types })] as const;
      }),
    );
    for (const [c, r] of results) expect(r.code, describeRun(`tsc -p ${c} (installed package)`, r)).toBe(0);
  }, 120_000);
});
