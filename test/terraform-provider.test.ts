/**
 * serveProvider as Terraform drives it, without Terraform: the built example provider
 * (examples/terraform-provider) and a fixture provider (written to a temp file, on dist/) are
 * started with startPlugin and called with a real grpc-js client of tfplugin6/tfplugin5 over
 * their sockets: schemas, planning with unknown values, diagnostics from thrown errors, state
 * upgrades from raw JSON, stop, and the RPCs a provider does not implement.
 * Needs a build (dist/, generated/) and Go's module cache for the descriptors.
 */
import * as grpc from '@grpc/grpc-js';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CtyValue, decodeDynamicValue, isUnknown, toDynamicValue, unknown } from '../src/terraform/cty';
import { serveProvider } from '../src/terraform/provider';
import { TERRAFORM_MAGIC_COOKIE_KEY, TERRAFORM_MAGIC_COOKIE_VALUE, terraformProtocol } from '../src/terraform/protocol';
import { type ResourceSchema, impliedType } from '../src/terraform/schema';
import { distPath, goplugin, removeDir, root, run, tempDir } from './kit';

const EXAMPLE = join(root, 'examples', 'terraform-provider');
const PROVIDER = join(EXAMPLE, 'bin', 'terraform-provider-localfile');
const COOKIE = { magicCookieKey: TERRAFORM_MAGIC_COOKIE_KEY, magicCookieValue: TERRAFORM_MAGIC_COOKIE_VALUE };
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** The example's resource and data source (examples/terraform-provider/provider.ts), as types. */
const FILE = impliedType({
  attributes: {
    path: { type: 'string', required: true },
    content: { type: 'string', required: true },
    id: { type: 'string', computed: true },
    delay_ms: { type: 'number', optional: true },
  },
});
const ROOT = impliedType({ attributes: { root: { type: 'string', optional: true } } });

/** The fixture's resource: every kind of attribute, a nested block, nested attributes (so protocol 6 only), version 2. */
const THING: ResourceSchema = {
  version: 2,
  attributes: {
    name: { type: 'string', required: true },
    size: { type: 'number', optional: true, computed: true },
    serial: { type: 'string', computed: true, useStateForUnknown: true },
    stamp: { type: 'string', computed: true },
    tags: { type: ['map', 'string'], optional: true, requiresReplace: true },
    secret: { type: 'string', optional: true, writeOnly: true },
    items: { nested: { nesting: 'list', attributes: { k: { type: 'string', required: true }, v: { type: 'string', computed: true } } }, optional: true },
  },
  blocks: { rule: { nesting: 'list', attributes: { port: { type: 'number', required: true }, proto: { type: 'string', computed: true } } } },
};
const THING_T = impliedType(THING);

const FIXTURE = `
const { serveProvider } = require(${JSON.stringify(distPath('terraform', 'provider.js'))});
const { ProviderError } = require(${JSON.stringify(distPath('terraform', 'diagnostics.js'))});
let stamps = 0;
serveProvider({
  resources: {
    fx_thing: {
      schema: ${JSON.stringify(THING)},
      validate(config, ctx) {
        if (config.name === 'bad') { ctx.error('first problem'); ctx.error('second problem', { attribute: ['rule', 0, 'port'] }); }
        if (config.name === 'warn') ctx.warn('just so you know', { detail: 'details', attribute: 'name' });
      },
      async create(p, ctx) {
        if (p.name === 'slow') await new Promise((_, fail) => ctx.signal.addEventListener('abort', () => fail(ctx.signal.reason), { once: true }));
        if (p.name === 'forget') return {};
        return { serial: 'S-' + p.name + (p.secret ? '+secret' : ''), stamp: 't' + ++stamps, size: typeof p.size === 'number' ? p.size : 1,
          rule: p.rule.map((r) => ({ ...r, proto: 'tcp' })), items: p.items && p.items.map((i) => ({ ...i, v: i.k.toUpperCase() })) };
      },
      read: (s) => (s.name === 'gone' ? null : {}),
      update: (p) => ({ stamp: 't' + ++stamps }),
      delete() {},
      upgradeState(raw, version) {
        if (version === 1) return { name: raw.title, serial: raw.serial, stamp: 'upgraded' };
        throw new ProviderError('No upgrade from version ' + version, { detail: 'only from 1' });
      },
    },
  },
  dataSources: {
    fx_echo: {
      schema: { attributes: { name: { type: 'string', required: true }, note: { type: 'string', computed: true } } },
      read: (c) => (c.name === 'nothing' ? undefined : { note: 'n:' + c.name }),
    },
  },
}).catch((e) => { console.error(e); process.exit(1); });
`;

type Client = grpc.Client & Record<string, any>;
const clientOf = (p: { client(c: grpc.ServiceClientConstructor): grpc.Client }, v: 5 | 6) =>
  p.client(grpc.makeGenericClientConstructor(terraformProtocol(v).provider, 'Provider')) as Client;

/** One unary call; resolves with the response message. */
function call(client: Client, method: string, request: object = {}): Promise<any> {
  return new Promise((resolve, reject) => client[method](request, (err: Error | null, res: any) => (err ? reject(err) : resolve(res))));
}

const dv = (value: CtyValue, type: Parameters<typeof toDynamicValue>[1]) => toDynamicValue(value, type);
const summaries = (diags: { severity: number; summary: string }[]) => diags.map((d) => `${d.severity === 1 ? 'ERROR' : 'WARNING'}: ${d.summary}`);

let dir = '';
const plugins: { kill(): Promise<void> }[] = [];
let ex6: Client;
let ex5: Client;
let fx: Client;

beforeAll(async () => {
  const built = await run(process.execPath, [join(EXAMPLE, 'build.mjs')], { cwd: root, timeoutMs: 60_000 });
  if (built.code !== 0) throw new Error(`building the example provider failed:\n${built.stdout}${built.stderr}`);
  dir = tempDir('plugsock-tfprov-');
  mkdirSync(join(dir, 'files'));
  writeFileSync(join(dir, 'fixture.cjs'), FIXTURE);
  const [p6, p5, pf] = await Promise.all([
    goplugin.startPlugin({ command: PROVIDER, versions: [6, 5], ...COOKIE }),
    goplugin.startPlugin({ command: PROVIDER, versions: [5], ...COOKIE }),
    goplugin.startPlugin({ command: process.execPath, args: [join(dir, 'fixture.cjs')], versions: [6], ...COOKIE }),
  ]);
  plugins.push(p6, p5, pf);
  expect([p6.appVersion, p5.appVersion, pf.appVersion]).toEqual([6, 5, 6]);
  [ex6, ex5, fx] = [clientOf(p6, 6), clientOf(p5, 5), clientOf(pf, 6)];
}, 90_000);

afterAll(async () => {
  await Promise.all(plugins.splice(0).map((p) => p.kill()));
  if (dir) removeDir(dir);
});

describe('schemas', () => {
  it('GetProviderSchema (protocol 6) describes the provider, resource and data source with cty types', async () => {
    const res = await call(ex6, 'GetProviderSchema');
    expect(res.diagnostics).toEqual([]);
    const attrs = (s: any) => Object.fromEntries(s.block.attributes.map((a: any) => [a.name, a]));
    expect(attrs(res.provider).root).toMatchObject({ optional: true, required: false, type: Buffer.from('"string"') });
    const file = attrs(res.resource_schemas.localfile_file);
    expect(file.path).toMatchObject({ required: true, computed: false });
    expect(file.id).toMatchObject({ computed: true, optional: false, type: Buffer.from('"string"') });
    expect(file.delay_ms.type).toEqual(Buffer.from('"number"'));
    expect(Object.keys(attrs(res.data_source_schemas.localfile_file)).sort()).toEqual(['content', 'id', 'path']);
    expect(res.server_capabilities).toMatchObject({ plan_destroy: false, get_provider_schema_optional: false });
  });

  it('protocol 5 serves the same under its names: GetSchema, PrepareProviderConfig (returning the config)', async () => {
    const res = await call(ex5, 'GetSchema');
    expect(Object.keys(res.resource_schemas)).toEqual(['localfile_file']);
    const config = dv({ root: '/x' }, ROOT);
    const prepared = await call(ex5, 'PrepareProviderConfig', { config });
    expect(prepared.diagnostics).toEqual([]);
    expect(decodeDynamicValue(prepared.prepared_config, ROOT)).toEqual({ root: '/x' });
  });

  it('nested blocks and nested attributes (protocol 6), and GetMetadata', async () => {
    const res = await call(fx, 'GetProviderSchema');
    const block = res.resource_schemas.fx_thing.block;
    expect(res.resource_schemas.fx_thing.version).toBe(2);
    expect(block.block_types[0]).toMatchObject({ type_name: 'rule', nesting: 2 });
    const items = block.attributes.find((a: any) => a.name === 'items');
    expect(items.nested_type.nesting).toBe(2);
    expect(items.nested_type.attributes.map((a: any) => a.name)).toEqual(['k', 'v']);
    expect(block.attributes.find((a: any) => a.name === 'secret').write_only).toBe(true);
    const meta = await call(ex6, 'GetMetadata');
    expect(meta.resources).toEqual([{ type_name: 'localfile_file' }]);
    expect(meta.data_sources).toEqual([{ type_name: 'localfile_file' }]);
  });
});

describe('planning', () => {
  const plan = (client: Client, type: string, t: any, prior: CtyValue, config: CtyValue, proposed: CtyValue = config) =>
    call(client, 'PlanResourceChange', { type_name: type, prior_state: dv(prior, t), config: dv(config, t), proposed_new_state: dv(proposed, t) });

  it('a create plans computed attributes the configuration leaves null as unknown, keeps configured ones (also unknown ones)', async () => {
    const res = await plan(ex6, 'localfile_file', FILE, null, { path: 'a', content: unknown, id: null, delay_ms: null });
    expect(res.diagnostics).toEqual([]);
    const planned = decodeDynamicValue(res.planned_state, FILE) as any;
    expect(planned.path).toBe('a');
    expect(isUnknown(planned.content)).toBe(true);
    expect(isUnknown(planned.id)).toBe(true);
    expect(planned.delay_ms).toBeNull();
    expect(res.requires_replace).toEqual([]);
  });

  it('an update: unchanged plans nothing; a changed content makes id unknown; a changed path replaces', async () => {
    const prior = { path: 'a', content: 'x', id: sha256('x'), delay_ms: null };
    const same = await plan(ex6, 'localfile_file', FILE, prior, { ...prior, id: null }, prior);
    expect(decodeDynamicValue(same.planned_state, FILE)).toEqual(prior);
    const changed = await plan(ex6, 'localfile_file', FILE, prior, { ...prior, content: 'y', id: null }, { ...prior, content: 'y' });
    expect(isUnknown((decodeDynamicValue(changed.planned_state, FILE) as any).id)).toBe(true);
    expect(changed.requires_replace).toEqual([]);
    const moved = await plan(ex6, 'localfile_file', FILE, prior, { ...prior, path: 'b', id: null }, { ...prior, path: 'b' });
    expect(moved.requires_replace).toEqual([{ steps: [{ attribute_name: 'path' }] }]);
  });

  it('nested blocks and nested attributes get unknown computed values; useStateForUnknown keeps the prior; write-only is never planned', async () => {
    const config = {
      name: 'n',
      size: null,
      serial: null,
      stamp: null,
      tags: null,
      secret: 's3',
      items: [{ k: 'a', v: null }],
      rule: [{ port: 80, proto: null }],
    };
    const res = await plan(fx, 'fx_thing', THING_T, null, config);
    const p = decodeDynamicValue(res.planned_state, THING_T) as any;
    expect([p.size, p.serial, p.stamp, p.items[0].v, p.rule[0].proto].every(isUnknown)).toBe(true);
    expect(p.secret).toBeNull();
    const prior = { ...config, size: 1, serial: 'S-n', stamp: 't1', secret: null, items: [{ k: 'a', v: 'A' }], rule: [{ port: 80, proto: 'tcp' }] };
    const upd = await plan(fx, 'fx_thing', THING_T, prior, { ...config, name: 'm' }, { ...prior, name: 'm' });
    const u = decodeDynamicValue(upd.planned_state, THING_T) as any;
    expect(u.serial).toBe('S-n');
    expect(isUnknown(u.stamp)).toBe(true);
    const retag = await plan(fx, 'fx_thing', THING_T, prior, { ...config, tags: { a: 'b' } }, { ...prior, tags: { a: 'b' } });
    expect(retag.requires_replace).toEqual([{ steps: [{ attribute_name: 'tags' }] }]);
  });
});

describe('apply, read and diagnostics', () => {
  const configure = (client: Client, rootDir: string | null) =>
    call(client, 'ConfigureProvider', { terraform_version: '1.11.4', config: dv({ root: rootDir }, ROOT) });
  const apply = (client: Client, type: string, t: any, prior: CtyValue, planned: CtyValue, config: CtyValue = planned) =>
    call(client, 'ApplyResourceChange', { type_name: type, prior_state: dv(prior, t), planned_state: dv(planned, t), config: dv(config, t) });

  it('create writes the file and returns the computed id; read reports drift and a deleted file as gone', async () => {
    expect((await configure(ex6, join(dir, 'files'))).diagnostics).toEqual([]);
    const res = await apply(ex6, 'localfile_file', FILE, null, { path: 'a.txt', content: 'hi', id: unknown, delay_ms: null });
    expect(res.diagnostics).toEqual([]);
    const state = decodeDynamicValue(res.new_state, FILE) as any;
    expect(state).toEqual({ path: 'a.txt', content: 'hi', id: sha256('hi'), delay_ms: null });
    writeFileSync(join(dir, 'files', 'a.txt'), 'drift');
    const read = await call(ex6, 'ReadResource', { type_name: 'localfile_file', current_state: dv(state, FILE) });
    expect(decodeDynamicValue(read.new_state, FILE)).toEqual({ ...state, content: 'drift', id: sha256('drift') });
    await apply(ex6, 'localfile_file', FILE, state, null);
    const gone = await call(ex6, 'ReadResource', { type_name: 'localfile_file', current_state: dv(state, FILE) });
    expect(decodeDynamicValue(gone.new_state, FILE)).toBeNull();
  });

  it('a ProviderError becomes a diagnostic with its detail and attribute; any other error one with its message; nothing is stored', async () => {
    await configure(ex6, join(dir, 'files'));
    const outside = await apply(ex6, 'localfile_file', FILE, null, { path: '../escape', content: 'x', id: unknown, delay_ms: null });
    expect(outside.diagnostics).toEqual([
      {
        severity: 1,
        summary: 'Path outside the provider root',
        detail: `${join(dir, 'escape')} is not under ${join(dir, 'files')}.`,
        attribute: { steps: [{ attribute_name: 'path' }] },
      },
    ]);
    expect(decodeDynamicValue(outside.new_state, FILE)).toBeNull();
    mkdirSync(join(dir, 'files', 'adir'), { recursive: true });
    const isDir = await apply(ex6, 'localfile_file', FILE, null, { path: 'adir', content: 'x', id: unknown, delay_ms: null });
    expect(summaries(isDir.diagnostics)).toEqual([expect.stringMatching(/^ERROR: EISDIR: illegal operation on a directory/)]);
    const root = await call(ex6, 'ConfigureProvider', { config: dv({ root: unknown }, ROOT) });
    expect(root.diagnostics[0]).toMatchObject({
      severity: 1,
      summary: 'root must be known when the provider is configured',
      attribute: { steps: [{ attribute_name: 'root' }] },
    });
  });

  it('ctx.error and ctx.warn add diagnostics; an unknown type name is an error; a value left unknown after apply is an error', async () => {
    const cfg = (name: string) =>
      dv({ name, size: null, serial: null, stamp: null, tags: null, secret: null, items: null, rule: [{ port: 1, proto: null }] }, THING_T);
    const bad = await call(fx, 'ValidateResourceConfig', { type_name: 'fx_thing', config: cfg('bad') });
    expect(summaries(bad.diagnostics)).toEqual(['ERROR: first problem', 'ERROR: second problem']);
    expect(bad.diagnostics[1].attribute.steps).toEqual([{ attribute_name: 'rule' }, { element_key_int: 0 }, { attribute_name: 'port' }]);
    const warn = await call(fx, 'ValidateResourceConfig', { type_name: 'fx_thing', config: cfg('warn') });
    expect(warn.diagnostics).toEqual([{ severity: 2, summary: 'just so you know', detail: 'details', attribute: { steps: [{ attribute_name: 'name' }] } }]);
    const nope = await call(fx, 'ValidateResourceConfig', { type_name: 'fx_nope', config: cfg('x') });
    expect(nope.diagnostics[0]).toMatchObject({
      severity: 1,
      summary: 'resource type not found',
      detail: 'This provider has no resource type "fx_nope"; it has fx_thing.',
    });
    const planned = { name: 'forget', size: unknown, serial: unknown, stamp: unknown, tags: null, secret: null, items: null, rule: [] };
    const forgot = await apply(fx, 'fx_thing', THING_T, null, planned);
    expect(summaries(forgot.diagnostics)).toEqual(['ERROR: Provider returned an unknown value after apply']);
  });

  it('write-only values reach create from the configuration and are never stored', async () => {
    const planned = {
      name: 'w',
      size: unknown,
      serial: unknown,
      stamp: unknown,
      tags: null,
      secret: null,
      items: [{ k: 'q', v: unknown }],
      rule: [{ port: 2, proto: unknown }],
    };
    const res = await apply(fx, 'fx_thing', THING_T, null, planned, { ...planned, secret: 'pw' });
    expect(res.diagnostics).toEqual([]);
    const s = decodeDynamicValue(res.new_state, THING_T) as any;
    expect(s).toMatchObject({ serial: 'S-w+secret', secret: null, size: 1, items: [{ k: 'q', v: 'Q' }], rule: [{ port: 2, proto: 'tcp' }] });
  });

  it('StopProvider aborts a running create (its signal), which fails with the stop as its error', async () => {
    const planned = { name: 'slow', size: unknown, serial: unknown, stamp: unknown, tags: null, secret: null, items: null, rule: [] };
    const running = apply(fx, 'fx_thing', THING_T, null, planned);
    await new Promise((r) => setTimeout(r, 200));
    expect(await call(fx, 'StopProvider')).toEqual({ Error: '' });
    const res = await running;
    expect(summaries(res.diagnostics)).toEqual(['ERROR: Terraform asked the provider to stop (interrupted)']);
  });
});

describe('stored state, import and what is not implemented', () => {
  const upgrade = (client: Client, type: string, version: number, json: object) =>
    call(client, 'UpgradeResourceState', { type_name: type, version, raw_state: { json: Buffer.from(JSON.stringify(json)), flatmap: {} } });

  it('UpgradeResourceState reads raw JSON into the current schema (dropping attributes it no longer has, new ones null)', async () => {
    const res = await upgrade(ex6, 'localfile_file', 0, { path: 'p', content: 'c', id: 'i', removed_attr: true });
    expect(res.diagnostics).toEqual([]);
    expect(decodeDynamicValue(res.upgraded_state, FILE)).toEqual({ path: 'p', content: 'c', id: 'i', delay_ms: null });
    const newer = await upgrade(ex6, 'localfile_file', 3, { path: 'p' });
    expect(summaries(newer.diagnostics)).toEqual(['ERROR: Resource state is newer than the provider']);
  });

  it('upgradeState converts an older version; its errors are diagnostics', async () => {
    const res = await upgrade(fx, 'fx_thing', 1, { title: 'old', serial: 'S-old' });
    expect(res.diagnostics).toEqual([]);
    expect(decodeDynamicValue(res.upgraded_state, THING_T)).toEqual({
      name: 'old',
      serial: 'S-old',
      stamp: 'upgraded',
      size: null,
      tags: null,
      secret: null,
      items: null,
      rule: [],
    });
    const v0 = await upgrade(fx, 'fx_thing', 0, {});
    expect(v0.diagnostics).toEqual([{ severity: 1, summary: 'No upgrade from version 0', detail: 'only from 1', attribute: null }]);
  });

  it('ReadDataSource: the result completes the configuration; a read that returns nothing gives the configuration, computed attributes null', async () => {
    const ECHO = ['object', { name: 'string', note: 'string' }] as const;
    const read = (name: string) => call(fx, 'ReadDataSource', { type_name: 'fx_echo', config: dv({ name, note: null }, ECHO) });
    const some = await read('x');
    expect(some.diagnostics).toEqual([]);
    expect(decodeDynamicValue(some.state, ECHO)).toEqual({ name: 'x', note: 'n:x' });
    const nothing = await read('nothing');
    expect(nothing.diagnostics).toEqual([]);
    expect(decodeDynamicValue(nothing.state, ECHO)).toEqual({ name: 'nothing', note: null });
  });

  it('ImportResourceState: the example imports by path; a resource without importState says so', async () => {
    const res = await call(ex6, 'ImportResourceState', { type_name: 'localfile_file', id: 'some/path' });
    expect(res.imported_resources).toHaveLength(1);
    expect(decodeDynamicValue(res.imported_resources[0].state, FILE)).toEqual({ path: 'some/path', content: null, id: null, delay_ms: null });
    const none = await call(fx, 'ImportResourceState', { type_name: 'fx_thing', id: 'x' });
    expect(summaries(none.diagnostics)).toEqual(['ERROR: Resource Import Not Implemented']);
  });

  it('unimplemented RPCs answer as terraform-plugin-go does: an ERROR diagnostic, or UNIMPLEMENTED for streams', async () => {
    const moved = await call(ex6, 'MoveResourceState', { target_type_name: 'localfile_file' });
    expect(summaries(moved.diagnostics)).toEqual(['ERROR: Provider MoveResourceState Not Implemented']);
    const eph = await call(ex5, 'OpenEphemeralResource', { type_name: 'x' });
    expect(summaries(eph.diagnostics)).toEqual(['ERROR: Provider OpenEphemeralResource Not Implemented']);
    expect(await call(ex6, 'GetFunctions')).toEqual({ functions: {}, diagnostics: [] });
    expect((await call(ex6, 'CallFunction', { name: 'f' })).error.text).toBe('This provider has no function "f".');
    const stream = ex6.ListResource({ type_name: 'x' });
    const err = await new Promise<any>((resolve) => {
      stream.on('error', resolve);
      stream.on('data', () => {});
    });
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
  });
});

describe('start-up', () => {
  // grpc-js costs a start ~10 ms to load (its client, resolvers and balancers come with its
  // server); a provider answers on plugsock's own HTTP/2 server and must never load it.
  it('a provider serves GetProviderSchema without loading @grpc/grpc-js', async () => {
    const preload = join(dir, 'loaded-grpc.cjs');
    const report = join(dir, 'loaded-grpc.json');
    writeFileSync(
      preload,
      `process.on('exit', () => require('fs').writeFileSync(${JSON.stringify(report)}, JSON.stringify(Object.keys(require.cache).filter((k) => k.includes('@grpc')))));`,
    );
    const p = await goplugin.startPlugin({ command: process.execPath, args: ['--require', preload, join(dir, 'fixture.cjs')], versions: [6], ...COOKIE });
    try {
      const res = await call(clientOf(p, 6), 'GetProviderSchema');
      expect(Object.keys(res.resource_schemas)).toEqual(['fx_thing']);
    } finally {
      await p.kill(); // the host's Shutdown: the provider exits 0, and its exit hook writes the report
    }
    expect(JSON.parse(readFileSync(report, 'utf8'))).toEqual([]);
  });
});

describe('serveProvider checks its definition and options before serving', () => {
  const file = { schema: { attributes: { a: { type: 'string', required: true } } }, create() {}, read: () => null, delete() {} };
  it.each([
    [{ resources: { x_f: { ...file, craete() {} } } }, {}, /unknown option provider\.resources\.x_f\.craete; did you mean create\?/],
    [
      { resources: { x_f: { ...file, schema: { attributes: { a: { type: 'string', required: true, computed: true } } } } } },
      {},
      /x_f\.schema\.a: required excludes/,
    ],
    [{ resources: { x_f: { ...file, schema: { attributes: { a: { type: 'strin', required: true } } } } } }, {}, /strin/],
    [{ resources: { 'X-f': file } }, {}, /not a valid resource type name/],
    [{ resources: { x_f: { ...file, delete: undefined } } }, {}, /x_f\.delete must be a function/],
    [{}, { protocolVersion: 6 }, /unknown option protocolVersion; did you mean protocolVersions\?/],
    [{}, { protocolVersions: [4] }, /protocolVersions must list 5 and\/or 6/],
    [
      { schema: { attributes: { n: { nested: { nesting: 'single', attributes: {} }, optional: true } } } },
      { protocolVersions: [5, 6] },
      /protocol 5 cannot carry/,
    ],
    // The provider's server is plugsock's (no grpc-js): it takes the two message-size keys only.
    [
      {},
      { serverOptions: { 'grpc.keepalive_time_ms': 1000 } },
      /unknown option serverOptions\.grpc\.keepalive_time_ms; the known keys of serverOptions are grpc\.max_receive_message_length, grpc\.max_send_message_length/,
    ],
    [{}, { serverOptions: { 'grpc.max_receive_message_length': 1.5 } }, /whole number of bytes/],
    [{}, { serverOptions: 'big' }, /serverOptions must be an object, got string/],
  ])('%#: refused with ERR_INVALID_OPTION', async (def, options, message) => {
    await expect(serveProvider(def as any, { ownProcess: false, ...options } as any)).rejects.toMatchObject({
      code: 'ERR_INVALID_OPTION',
      message: expect.stringMatching(message),
    });
  });
});
