// The docs keep their promises: the code blocks of README.md and docs/*.md run against the packed
// package, their tables of contents list their headings, and their links land.
//
// A fenced block's info string says what it is (GitHub highlights by the first word only):
//   ```js runnable      run with node: `.cjs` when it uses require() and no import, else `.mjs`
//   ```ts runnable      type-checked (tsc, strict, nodenext) against the installed package's
//                       declarations, transpiled by esbuild to `.mjs`, then run
//   ```ts typecheck     type-checked only (a Terraform provider waits for Terraform, say)
//   ```<any> file=NAME  not run: written as NAME next to every later runnable block of the same
//                       document (a .proto, a plugin that a host block launches)
//   ```js fragment      a piece of a larger program, deliberately not run
// A js/ts block with none of these fails the test: every example is either checked or says why not.
// Each runnable block runs in a directory of its own inside one project where the tarball is
// installed (`npm install --ignore-scripts`; @grpc/* are the repo's, linked), with TMPDIR of its
// own and a time limit. It must exit 0 and leave behind no file, socket or process.
//
// A table of contents sits between `<!-- toc -->` and `<!-- /toc -->` and lists the ## and ###
// headings in order with GitHub's anchors. PLUGSOCK_DOCS_WRITE=1 rewrites them instead of failing.
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { transformSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cannotRun, removeDir, root, run, start, tempDir } from './kit';

const DOCS = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => `docs/${f}`),
];
/** Long enough that a table of contents is required. */
const NEED_TOC = ['README.md', 'docs/go-plugin.md', 'docs/terraform.md'];
const CODE_LANGS = new Set(['js', 'javascript', 'mjs', 'cjs', 'ts', 'typescript']);
const KINDS = ['runnable', 'typecheck', 'fragment'];
const SNIPPET_TIMEOUT_MS = 20_000;

interface Block {
  doc: string;
  line: number;
  lang: string;
  attrs: string[];
  file: string | undefined;
  code: string;
}

/** Fenced code blocks, list-indented ones included, with their info strings. */
function blocksOf(doc: string, text: string): Block[] {
  const blocks: Block[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*(.*)$/.exec(lines[i]);
    if (!open) continue;
    const [, indent, fence, info] = open;
    const close = new RegExp(`^\\s*${fence[0] === '`' ? '`' : '~'}{${fence.length},}\\s*$`);
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !close.test(lines[j]); j++) body.push(lines[j].startsWith(indent) ? lines[j].slice(indent.length) : lines[j].trimStart());
    const [lang = '', ...attrs] = info.trim().split(/\s+/);
    const file = attrs.find((a) => a.startsWith('file='))?.slice(5);
    blocks.push({ doc, line: i + 1, lang: lang.toLowerCase(), attrs, file, code: `${body.join('\n')}\n` });
    i = j;
  }
  return blocks;
}

/** The document without its fenced blocks (headings and links inside code are not headings or links). */
function prose(text: string): string[] {
  let fence: string | null = null;
  return text.split('\n').map((line) => {
    const m = /^\s*(`{3,}|~{3,})/.exec(line);
    if (m && (fence === null || m[1].startsWith(fence))) {
      fence = fence === null ? m[1] : null;
      return '';
    }
    return fence === null ? line : '';
  });
}

/** A heading's anchor as GitHub makes it (github-slugger): text as rendered, lower case, punctuation gone, spaces to hyphens. */
function slug(heading: string): string {
  const rendered = heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/[`*]/g, '');
  return rendered
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

interface Heading {
  level: number;
  text: string;
  anchor: string;
}

function headingsOf(text: string): Heading[] {
  const seen = new Map<string, number>();
  const out: Heading[] = [];
  for (const line of prose(text)) {
    const m = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = slug(m[2]);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.push({ level: m[1].length, text: m[2], anchor: n === 0 ? base : `${base}-${n}` });
  }
  return out;
}

const TOC = /<!-- toc -->\n([\s\S]*?)<!-- \/toc -->\n/;

/** The table of contents a document should have: its ## headings, each with its ### headings under it. */
function tocFor(text: string): string {
  return headingsOf(text)
    .filter((h) => h.level === 2 || h.level === 3)
    .map((h) => `${h.level === 3 ? '  ' : ''}- [${h.text}](#${h.anchor})\n`)
    .join('');
}

const texts = new Map(DOCS.map((d) => [d, readFileSync(join(root, d), 'utf8')]));

describe('docs: tables of contents and links', () => {
  it.each(NEED_TOC)('%s has a table of contents that lists its ## and ### headings, in order, with working anchors', (doc) => {
    const text = texts.get(doc)!;
    const expected = tocFor(text);
    if (process.env.PLUGSOCK_DOCS_WRITE === '1' && TOC.test(text)) {
      writeFileSync(join(root, doc), text.replace(TOC, `<!-- toc -->\n${expected}<!-- /toc -->\n`));
      return;
    }
    const found = TOC.exec(text);
    expect(found, `${doc} has no <!-- toc --> ... <!-- /toc --> block`).not.toBeNull();
    expect(found![1], `${doc}: the table of contents is not its headings (PLUGSOCK_DOCS_WRITE=1 rewrites it)`).toBe(expected);
  });

  it.each(DOCS)('%s: every relative link names a file that exists, and every #anchor a heading there', (doc) => {
    const broken: string[] = [];
    for (const line of prose(texts.get(doc)!)) {
      for (const [, target] of line.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/i.test(target)) continue;
        const [file, anchor] = target.split('#');
        const path = file ? join(root, dirname(doc), file) : join(root, doc);
        if (!existsSync(path)) broken.push(`${target}: no such file`);
        else if (anchor !== undefined && path.endsWith('.md') && !headingsOf(readFileSync(path, 'utf8')).some((h) => h.anchor === anchor))
          broken.push(`${target}: no such heading`);
      }
    }
    expect(broken).toEqual([]);
  });
});

const blocks = DOCS.flatMap((d) => blocksOf(d, texts.get(d)!));
const label = (b: Block) => `${b.doc}:${b.line} (${b.lang}${b.file ? ` ${b.file}` : ''})`;
const runnable = blocks.filter((b) => b.attrs.includes('runnable'));
const typed = blocks.filter((b) => (b.lang === 'ts' || b.lang === 'typescript') && (b.attrs.includes('runnable') || b.attrs.includes('typecheck')));

/** The npm that runs this machine's `npm`, as a script for the node running the tests. */
function npmCli(): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, 'npm');
    if (!existsSync(p)) continue;
    const real = realpathSync(p);
    if (real.endsWith('.js')) return real;
    const cli = join(real, '..', '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js');
    if (existsSync(cli)) return cli;
  }
  return null;
}

let work = '';
let project = '';
let skip = false;

beforeAll(async () => {
  const npm = npmCli();
  if (!npm) return void (skip = cannotRun('npm not found on PATH'));
  if (!existsSync(join(root, 'dist', 'index.js'))) return void (skip = cannotRun('dist/ missing: build the TypeScript first (npx tsc -p tsconfig.build.json)'));
  work = tempDir('plugsock-docs-');
  const pack = await run(process.execPath, [npm, 'pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: root, timeoutMs: 60_000 });
  if (pack.code !== 0) throw new Error(`npm pack failed:\n${pack.stderr}`);
  const tarball = join(work, JSON.parse(pack.stdout.slice(pack.stdout.indexOf('[')))[0].filename);
  project = join(work, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'docs-snippets', version: '1.0.0', private: true }));
  const install = await run(process.execPath, [npm, 'install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', tarball], {
    cwd: project,
    timeoutMs: 60_000,
  });
  if (install.code !== 0) throw new Error(`npm install of the tarball failed:\n${install.stderr}`);
  // What the go-plugin snippets install beside plugsock (`npm install plugsock @grpc/grpc-js @grpc/proto-loader`).
  mkdirSync(join(project, 'node_modules', '@grpc'), { recursive: true });
  for (const dep of ['grpc-js', 'proto-loader']) symlinkSync(join(root, 'node_modules', '@grpc', dep), join(project, 'node_modules', '@grpc', dep));
}, 120_000);

afterAll(() => {
  if (work) removeDir(work);
});

describe('docs: code blocks', () => {
  it('every js/ts block says whether it runs (runnable, typecheck, file=, fragment)', () => {
    const unmarked = blocks.filter((b) => CODE_LANGS.has(b.lang) && !b.file && !b.attrs.some((a) => KINDS.includes(a))).map(label);
    expect(unmarked).toEqual([]);
    expect(runnable.length).toBeGreaterThan(10);
  });

  it('the ts blocks type-check against the installed package (strict, nodenext)', async () => {
    if (skip) return;
    const dir = join(project, 'typecheck');
    mkdirSync(dir);
    const files = typed.map((b, i) => {
      const name = `${b.doc.replace(/\W/g, '_')}_${b.line}.mts`;
      writeFileSync(join(dir, name), b.code);
      return [name, b, i] as const;
    });
    const compilerOptions = {
      strict: true,
      noEmit: true,
      target: 'ES2022',
      module: 'nodenext',
      moduleResolution: 'nodenext',
      lib: ['ES2022', 'esnext.disposable'],
      types: ['node'],
      typeRoots: [join(root, 'node_modules', '@types')],
      skipLibCheck: true,
    };
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions, files: files.map(([n]) => n) }));
    const tsc = await run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { cwd: dir, timeoutMs: 60_000 });
    const named = files.reduce((out, [n, b]) => out.replaceAll(n, label(b)), tsc.stdout + tsc.stderr);
    expect(named).toBe('');
    expect(tsc.code).toBe(0);
  }, 60_000);

  it.each(runnable.map((b) => [label(b), b] as const))(
    '%s runs to exit 0 and leaves nothing behind',
    async (_name, block) => {
      if (skip) return;
      const id = `${block.doc.replace(/\W/g, '_')}_${block.line}`;
      const dir = join(project, 'snippets', id);
      const tmp = join(work, 'tmp', id);
      mkdirSync(dir, { recursive: true });
      mkdirSync(tmp, { recursive: true });
      for (const f of blocks.filter((b) => b.doc === block.doc && b.file && b.line < block.line)) writeFileSync(join(dir, f.file!), f.code);
      const script = scriptFor(block, dir);
      const before = readdirSync(dir).sort();
      const child = start(process.execPath, [script], {
        cwd: dir,
        env: { ...process.env, TMPDIR: tmp, PLUGSOCK_DOCS_SNIPPET: id },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      // On time-out, the snippet and whatever it started (which may hold its output pipes open).
      const timer = setTimeout(() => {
        for (const pid of processesMarked(id)) process.kill(pid, 'SIGKILL');
      }, SNIPPET_TIMEOUT_MS);
      const r = await child.done.finally(() => clearTimeout(timer));
      const leftovers = processesMarked(id);
      for (const pid of leftovers) process.kill(pid, 'SIGKILL');
      const output = `--- stdout\n${r.stdout.slice(-3000)}\n--- stderr\n${r.stderr.slice(-3000)}`;
      expect(r.signal, `killed after ${SNIPPET_TIMEOUT_MS} ms?\n${output}`).toBeNull();
      expect(r.code, output).toBe(0);
      expect(leftovers, `processes still running after the snippet\n${output}`).toEqual([]);
      expect(readdirSync(dir).sort(), 'files left in the working directory').toEqual(before);
      expect(readdirSync(tmp), 'files left in TMPDIR (sockets, private directories)').toEqual([]);
    },
    SNIPPET_TIMEOUT_MS + 10_000,
  );
});

/** Writes the block as the file node runs: .cjs/.mjs as it is, TypeScript transpiled to .mjs. */
function scriptFor(block: Block, dir: string): string {
  if (block.lang === 'ts' || block.lang === 'typescript') {
    const js = transformSync(block.code, { loader: 'ts', format: 'esm', target: 'node20', sourcefile: label(block) }).code;
    writeFileSync(join(dir, 'snippet.mjs'), js);
    return 'snippet.mjs';
  }
  const cjs = block.lang === 'cjs' || (block.lang !== 'mjs' && /\brequire\(/.test(block.code) && !/^import\s/m.test(block.code));
  const name = cjs ? 'snippet.cjs' : 'snippet.mjs';
  writeFileSync(join(dir, name), block.code);
  return name;
}

/** Live processes whose environment carries this snippet's mark (its children, however detached). */
function processesMarked(id: string): number[] {
  const mark = `PLUGSOCK_DOCS_SNIPPET=${id}\0`;
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (`${readFileSync(`/proc/${name}/environ`, 'latin1')}`.includes(mark)) pids.push(Number(name));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}
