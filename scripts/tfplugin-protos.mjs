#!/usr/bin/env node
/**
 * Writes generated/tfplugin5.json and generated/tfplugin6.json: Terraform's plugin protocols as
 * compact, fully resolved descriptors, read at run time by src/terraform/protocol.ts. The .proto
 * files are never copied into the repository: they come from the Go module that defines them
 * (`go mod download` fetches it once, then works offline from Go's module cache), and are parsed
 * here, at build time, so that a provider starting up (3-5 times per terraform command) loads
 * no protobuf runtime and parses no .proto.
 *
 *   node scripts/tfplugin-protos.mjs [--out <dir>] [--force]
 *
 * Needs Go (`go` on PATH, /usr/local/go/bin/go, or GO=/path/to/go) and the devDependency
 * protobufjs. Does nothing when the outputs were made from the same .proto files (sha256).
 *
 * Descriptor format (version 1):
 *   { format: 1, package, source: { module, version, file, sha256 }, license,
 *     messages: { '<full.Name>': { fields: [Field...] } },
 *     enums: { '<full.Name>': { '<VALUE>': number } },
 *     services: { '<full.Name>': { methods: [{ name, requestType, responseType, requestStream, responseStream }] } } }
 *   Field: { name, no, type: <scalar> | 'enum' | 'message', ref?: '<full.Name>' (enum, message),
 *            repeated?: true, packed?: true, key?: <scalar> (a map: type/ref are its value's),
 *            oneof?: '<name>', optional?: true (proto3 `optional`: explicit presence) }
 *   Names are fully qualified without a leading dot (`tfplugin6.Schema.Block`, `google.protobuf.Timestamp`).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const MODULE = 'github.com/hashicorp/terraform-plugin-go';
export const VERSION = 'v0.31.0';
export const FORMAT = 1;
/** What the descriptors are derived from, and under which licence, carried in each file. */
const LICENSE =
  'Derived from tfplugin5.proto/tfplugin6.proto of github.com/hashicorp/terraform-plugin-go, Mozilla Public License 2.0 (https://mozilla.org/MPL/2.0/); their source is that Go module at source.version.';
export const PROTOS = [
  { version: 5, file: 'tfprotov5/internal/tfplugin5/tfplugin5.proto' },
  { version: 6, file: 'tfprotov6/internal/tfplugin6/tfplugin6.proto' },
];
const SCALARS = new Set([
  'double',
  'float',
  'int32',
  'int64',
  'uint32',
  'uint64',
  'sint32',
  'sint64',
  'fixed32',
  'fixed64',
  'sfixed32',
  'sfixed64',
  'bool',
  'string',
  'bytes',
]);

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

class ScriptError extends Error {}

function parseArgs(argv) {
  const args = { out: join(root, 'generated'), force: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out' && i + 1 < argv.length) args.out = resolve(argv[++i]);
    else if (argv[i] === '--force') args.force = true;
    else throw new ScriptError(`unknown argument ${argv[i]}; usage: node scripts/tfplugin-protos.mjs [--out <dir>] [--force]`);
  }
  return args;
}

/** GO=, else `go` on PATH, else Go's default install location. */
export function findGo() {
  const isFile = (p) => statSync(p, { throwIfNoEntry: false })?.isFile() === true;
  if (process.env.GO) {
    if (isFile(process.env.GO)) return process.env.GO;
    throw new ScriptError(`GO=${process.env.GO} is not a file: set GO to the go binary, or unset it to use go from PATH`);
  }
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir && isFile(join(dir, 'go'))) return join(dir, 'go');
  }
  if (isFile('/usr/local/go/bin/go')) return '/usr/local/go/bin/go';
  throw new ScriptError('Go is needed to fetch the Terraform protocol (.proto) files: install golang-go (or Go from go.dev), or set GO=/path/to/go');
}

/** The module's directory in Go's module cache (downloaded once; offline afterwards). */
export function moduleDir(go) {
  const cwd = mkdtempSync(join(tmpdir(), 'tfplugin-protos-'));
  try {
    const out = execFileSync(go, ['mod', 'download', '-json', `${MODULE}@${VERSION}`], {
      cwd,
      env: { ...process.env, GOFLAGS: '-mod=mod' },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 300_000,
    });
    const info = JSON.parse(out);
    if (info.Error || !info.Dir) throw new ScriptError(`go mod download ${MODULE}@${VERSION} failed: ${info.Error ?? 'no Dir in its answer'}`);
    return info.Dir;
  } catch (err) {
    if (err instanceof ScriptError) throw err;
    const detail =
      (err.stdout && safeJson(err.stdout)?.Error) ||
      String(err.stderr || err.message)
        .trim()
        .split('\n')
        .pop();
    throw new ScriptError(`go mod download ${MODULE}@${VERSION} failed (needs the Go module proxy once, or GOPROXY/GOFLAGS set for your network): ${detail}`);
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}

function safeJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

const fullName = (obj) => obj.fullName.replace(/^\./, '');

/** The descriptor of one parsed .proto (see the format at the top). */
export function describe(protobuf, rootNs, pkg, source) {
  const messages = {};
  const enums = {};
  const services = {};
  const visit = (ns) => {
    for (const obj of ns.nestedArray) {
      if (obj instanceof protobuf.Type) messages[fullName(obj)] = { fields: obj.fieldsArray.map(describeField) };
      else if (obj instanceof protobuf.Enum) enums[fullName(obj)] = { ...obj.values };
      else if (obj instanceof protobuf.Service) services[fullName(obj)] = { methods: obj.methodsArray.map(describeMethod) };
      if (obj.nestedArray) visit(obj);
    }
  };
  const describeField = (f) => {
    const d = { name: f.name, no: f.id };
    if (SCALARS.has(f.type)) d.type = f.type;
    else if (f.resolvedType instanceof protobuf.Enum) Object.assign(d, { type: 'enum', ref: fullName(f.resolvedType) });
    else if (f.resolvedType instanceof protobuf.Type) Object.assign(d, { type: 'message', ref: fullName(f.resolvedType) });
    else throw new ScriptError(`${fullName(f)}: unresolved type ${f.type}`);
    if (f.map) d.key = f.keyType;
    else if (f.repeated) {
      d.repeated = true;
      if (f.packed && d.type !== 'string' && d.type !== 'bytes' && d.type !== 'message') d.packed = true;
    }
    if (f.options?.proto3_optional) d.optional = true;
    else if (f.partOf) d.oneof = f.partOf.name;
    return d;
  };
  const describeMethod = (m) => ({
    name: m.name,
    requestType: fullName(m.resolvedRequestType),
    responseType: fullName(m.resolvedResponseType),
    requestStream: Boolean(m.requestStream),
    responseStream: Boolean(m.responseStream),
  });
  visit(rootNs);
  return { format: FORMAT, package: pkg, source, license: LICENSE, messages, enums, services };
}

/** Whether `file` was made by this script from this module version (and, given a hash, from that .proto). */
function outputIsCurrent(file, sha256) {
  const old = existsSync(file) && safeJson(readFileSync(file, 'utf8'));
  return Boolean(
    old && old.format === FORMAT && old.license === LICENSE && old.source?.version === VERSION && (sha256 === undefined || old.source?.sha256 === sha256),
  );
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  let go;
  try {
    go = findGo();
  } catch (err) {
    // Without Go, descriptors made from this module version (a package as published) are kept as they are.
    const outs = PROTOS.map(({ version }) => join(args.out, `tfplugin${version}.json`));
    if (args.force || !outs.every((f) => outputIsCurrent(f))) throw err;
    console.log(`tfplugin-protos: no Go here; keeping ${outs.join(' and ')} (made from ${MODULE}@${VERSION})`);
    return;
  }
  const dir = moduleDir(go);
  const require = createRequire(join(root, 'package.json'));
  let protobuf;
  for (const { version, file } of PROTOS) {
    const path = join(dir, file);
    if (!existsSync(path)) throw new ScriptError(`${MODULE}@${VERSION} has no ${file} (at ${dir})`);
    const text = readFileSync(path);
    const sha256 = createHash('sha256').update(text).digest('hex');
    const outFile = join(args.out, `tfplugin${version}.json`);
    if (!args.force && outputIsCurrent(outFile, sha256)) {
      console.log(`tfplugin-protos: ${outFile} is up to date`);
      continue;
    }
    try {
      protobuf ??= require('protobufjs');
    } catch {
      throw new ScriptError(
        'protobufjs is needed to parse the .proto files: run `npm install` in plugsock, or `npm install --no-save protobufjs` in your project',
      );
    }
    const parsed = new protobuf.Root().loadSync(path, { keepCase: true });
    parsed.resolveAll();
    const pkg = `tfplugin${version}`;
    const descriptor = describe(protobuf, parsed, pkg, { module: MODULE, version: VERSION, file, sha256 });
    if (!descriptor.services[`${pkg}.Provider`]) throw new ScriptError(`${file} has no service ${pkg}.Provider`);
    mkdirSync(args.out, { recursive: true });
    const tmp = `${outFile}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(descriptor)}\n`);
    renameSync(tmp, outFile); // readers never see half a file
    console.log(`tfplugin-protos: wrote ${outFile} (${Object.keys(descriptor.messages).length} messages)`);
  }
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // run, not imported (the tests import describe())
  try {
    main();
  } catch (err) {
    console.error(`tfplugin-protos: ${err instanceof ScriptError ? err.message : (err?.stack ?? err)}`);
    process.exit(1);
  }
}
