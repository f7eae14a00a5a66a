/**
 * terraform-provider-localfile: a Terraform provider written in TypeScript with plugsock.
 *
 *   resource "localfile_file"     path (required, replaces), content (required), id (computed:
 *                                 sha256 of content), delay_ms (optional: wait before writing)
 *   data "localfile_file"         path -> content, id
 *   provider "localfile"          root (optional): every path must be under it; relative paths
 *                                 are taken from it (default: Terraform's working directory)
 *
 * Build: `node examples/terraform-provider/build.mjs`; README.md says how to use it.
 * Environment (for the tests, and for trying things out):
 *   PLUGSOCK_TF_PROTOCOL=5|6    offer only that protocol version (default: 6 and 5)
 *   PLUGSOCK_TF_HOST=ancestors  admit the parent's ancestors too: for a wrapper script that
 *                               starts the provider without `exec`
 * `terraform-provider-localfile -debug` serves in debug mode (see README.md).
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { ProviderError, defineProvider, forProvider, isUnknown, serveProvider } from 'plugsock/terraform';

/** What `configure` returns: every resource's `ctx.provider`. */
interface Settings {
  /** Absolute; paths must be under it. Null: anywhere, relative to the working directory. */
  readonly root: string | null;
}

const { resource, dataSource } = forProvider<Settings>();

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** The absolute path of `path`, refused when it is outside the provider's root. */
function locate(settings: Settings, path: string): string {
  const abs = resolve(settings.root ?? process.cwd(), path);
  if (settings.root !== null) {
    const rel = relative(settings.root, abs);
    if (rel === '..' || rel.startsWith('../') || isAbsolute(rel)) {
      throw new ProviderError('Path outside the provider root', { detail: `${abs} is not under ${settings.root}.`, attribute: 'path' });
    }
  }
  return abs;
}

/** Waits `ms` (if set), giving up when Terraform stops the provider (Ctrl-C). */
function delay(ms: number | null, signal: AbortSignal): Promise<void> {
  if (!ms) return Promise.resolve();
  return new Promise((done, fail) => {
    if (signal.aborted) return fail(signal.reason);
    const timer = setTimeout(done, ms);
    const abort = () => {
      clearTimeout(timer);
      fail(signal.reason);
    };
    signal.addEventListener('abort', abort, { once: true });
  });
}

async function readIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

const file = resource({
  schema: {
    description: 'A file on the local disk, with the given content.',
    attributes: {
      path: { type: 'string', required: true, requiresReplace: true, description: 'Where the file is (relative: to the provider root).' },
      content: { type: 'string', required: true, description: 'What the file holds.' },
      id: { type: 'string', computed: true, description: 'The sha256 of the content, in hex.' },
      delay_ms: { type: 'number', optional: true, description: 'Wait this long before writing (to try interrupting an apply).' },
    },
  },
  async create(planned, ctx) {
    if (planned.delay_ms) ctx.log.info('waiting before writing', { ms: planned.delay_ms });
    await delay(planned.delay_ms, ctx.signal);
    const path = locate(ctx.provider, planned.path);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, planned.content);
    ctx.log.info('wrote file', { path, bytes: Buffer.byteLength(planned.content) });
    return { id: sha256(planned.content) };
  },
  async read(state, ctx) {
    const content = await readIfExists(locate(ctx.provider, state.path));
    // Gone: Terraform plans to create it again. Changed: Terraform plans to write it back.
    return content === null ? null : { content, id: sha256(content) };
  },
  async update(planned, _prior, ctx) {
    await delay(planned.delay_ms, ctx.signal);
    await writeFile(locate(ctx.provider, planned.path), planned.content);
    return { id: sha256(planned.content) };
  },
  async delete(state, ctx) {
    await rm(locate(ctx.provider, state.path), { force: true });
  },
  // `terraform import localfile_file.x <path>`: read() fills in the rest.
  importState(id) {
    return { path: id };
  },
});

const fileData = dataSource({
  schema: {
    description: 'Reads a file on the local disk.',
    attributes: {
      path: { type: 'string', required: true },
      content: { type: 'string', computed: true },
      id: { type: 'string', computed: true },
    },
  },
  async read(config, ctx) {
    const content = await readIfExists(locate(ctx.provider, config.path));
    if (content === null) throw new ProviderError('File not found', { detail: `There is no file at ${config.path}.`, attribute: 'path' });
    return { content, id: sha256(content) };
  },
});

const provider = defineProvider({
  schema: {
    attributes: {
      root: { type: 'string', optional: true, description: 'A directory every path must be under; relative paths are taken from it.' },
    },
  },
  configure(config): Settings {
    if (isUnknown(config.root)) throw new ProviderError('root must be known when the provider is configured', { attribute: 'root' });
    return { root: config.root === null ? null : resolve(config.root) };
  },
  resources: { localfile_file: file },
  dataSources: { localfile_file: fileData },
});

const protocol = process.env.PLUGSOCK_TF_PROTOCOL;
serveProvider(provider, {
  address: 'example.com/plugsock/localfile',
  debug: process.argv.includes('-debug'),
  ...(protocol === '5' || protocol === '6' ? { protocolVersions: [Number(protocol) as 5 | 6] } : {}),
  ...(process.env.PLUGSOCK_TF_HOST === 'ancestors' ? { host: 'ancestors' as const } : {}),
}).catch((err: Error) => {
  process.stderr.write(`terraform-provider-localfile: ${err.message}\n`);
  process.exit(1);
});
