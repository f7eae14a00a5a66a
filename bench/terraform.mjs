#!/usr/bin/env node
// Terraform provider start-up: Terraform starts a provider 3-5 times per command, so what a
// TypeScript provider costs to start is paid again and again. Timed by a Terraform-like Go host
// (test/interop/modern/tfhost: go-plugin v1.8 client, Terraform's cookie, protocols 5 and 6
// offered, AutoMTLS) from just before the launch to the first answered GetProviderSchema.
// Beside each launch, in the same loop, a bare `node -e` from spawn to its first output: the
// floor any Node provider starts from. The Go provider terraform-provider-time is timed the same
// way for reference.
//
//   node bench/terraform.mjs [--quick] [--reps N]
//
// Progress goes to stderr; a human table to stdout; the LAST stdout line is the JSON
// { rows, notes } that bench/run.mjs collects.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fmtNum, ratioFields, summarize } from './lib/stats.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const argValue = (n) => (args.indexOf(n) >= 0 ? args[args.indexOf(n) + 1] : undefined);
// Start-up times spread widely on a shared machine: more repetitions than the other modules.
const REPS = Number(argValue('--reps')) || (quick ? 3 : 15);
const TARGET = 1.6;
const log = (...a) => console.error('[terraform]', ...a);
const notes = [];

function run(cmd, argv, what) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', timeout: 600_000, cwd: ROOT });
  if (r.status !== 0) return { ok: false, reason: `${what}: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').pop()}` };
  return { ok: true, lines: r.stdout.trim().split('\n') };
}

log('building the host, the example provider and terraform-provider-time (cached) ...');
const host = run('bash', [join(ROOT, 'test/interop/build-modern.sh')], 'build-modern.sh');
const example = run(process.execPath, [join(ROOT, 'examples/terraform-provider/build.mjs')], 'examples/terraform-provider/build.mjs');
const time = run('bash', [join(ROOT, 'test/interop/build-tfprovider-time.sh')], 'build-tfprovider-time.sh');
if (!host.ok) throw new Error(host.reason);
if (!example.ok) throw new Error(example.reason);
const tfHost = host.lines[3];
const providerBin = join(ROOT, 'examples/terraform-provider/bin/terraform-provider-localfile');

function timeProvider(bin, extra = [], env = process.env) {
  const r = spawnSync(tfHost, ['-reps', String(REPS), '-node', process.execPath, ...extra, bin], { encoding: 'utf8', timeout: 600_000, cwd: ROOT, env });
  if (r.status !== 0) throw new Error(`tf-host: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').pop()}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

// The floor (lib/terraform-floor.cjs): node:http2 + pinned AutoMTLS answering every call, with a
// certificate made here, ahead of its start.
const floorDir = mkdtempSync(join(tmpdir(), 'plugsock-floor-'));
process.on('exit', () => rmSync(floorDir, { recursive: true, force: true }));
const floorCert = createRequire(import.meta.url)('../dist/goplugin/index.js').generateAutoMtlsCert();
writeFileSync(join(floorDir, 'cert.pem'), floorCert.certPem);
writeFileSync(join(floorDir, 'key.pem'), floorCert.keyPem, { mode: 0o600 });
const floorEnv = (env) => ({ ...env, FLOOR_DIR: floorDir, FLOOR_CERT: join(floorDir, 'cert.pem'), FLOOR_KEY: join(floorDir, 'key.pem') });
const floorBin = join(HERE, 'lib', 'terraform-floor.cjs');

log(`example provider: ${REPS} launches, each beside a bare node -e ...`);
const ts = timeProvider(providerBin);
log(`floor (node:http2 + AutoMTLS, no grpc-js): ${REPS} launches ...`);
const floor = timeProvider(floorBin, [], floorEnv(process.env));
// Node 20 loads NODE_EXTRA_CA_CERTS at the start of every process (~40 ms here; Node 22+ when
// first needed), bare node -e included, which flatters every ratio: where it is set, the rows
// are measured without it too.
const extraCa = Boolean(process.env.NODE_EXTRA_CA_CERTS) && Number(process.versions.node.split('.')[0]) < 22;
const { NODE_EXTRA_CA_CERTS: _unused, ...withoutCa } = process.env;
if (extraCa) log(`the same without NODE_EXTRA_CA_CERTS: ${REPS} launches each ...`);
const tsNoCa = extraCa ? timeProvider(providerBin, [], withoutCa) : null;
const floorNoCa = extraCa ? timeProvider(floorBin, [], floorEnv(withoutCa)) : null;
log(`terraform-provider-time (Go): ${REPS} launches ...`);
const go = time.ok ? timeProvider(time.lines[0], ['-no-bare']) : null;
if (!time.ok) notes.push(`terraform: the Go reference is missing (${time.reason})`);

const cell = (v) => ({ median: summarize(v).median, spread: summarize(v).spread });
const rows = [
  {
    name: `start-up TypeScript provider (example, protocol ${ts.protocol}, AutoMTLS) vs bare node -e (goal <= ${TARGET}x)`,
    unit: 'ms',
    better: 'lower',
    value: summarize(ts.provider).median,
    native: cell(ts.provider),
    net: cell(ts.bare),
    ref: 'node -e',
    target: TARGET,
    // tf-host alternates the two in one loop: entry i of each list is a pair.
    ...ratioFields(ts.provider, ts.bare, { target: TARGET, better: 'lower' }),
  },
];
const versus = (name, t, target = null) => ({
  name,
  unit: 'ms',
  better: 'lower',
  value: summarize(t.provider).median,
  native: cell(t.provider),
  net: cell(t.bare),
  ref: 'node -e',
  target,
  ...ratioFields(t.provider, t.bare, { target, better: 'lower' }),
});
rows.push(versus('  floor: node:http2 + AutoMTLS, one empty answer per call (no grpc-js, no plugsock) vs bare node -e', floor));
if (extraCa) {
  rows.push(versus(`  the TypeScript provider with NODE_EXTRA_CA_CERTS unset (goal <= ${TARGET}x)`, tsNoCa, TARGET));
  rows.push(versus('  the floor with NODE_EXTRA_CA_CERTS unset', floorNoCa));
}
if (go) {
  rows.push({
    name: `start-up Go provider (terraform-provider-time, protocol ${go.protocol}, AutoMTLS), for reference`,
    unit: 'ms',
    better: 'lower',
    value: summarize(go.provider).median,
    native: cell(go.provider),
  });
}
notes.push(
  `terraform: start-up = from just before go-plugin's client launch to the first answered GetProviderSchema (${ts.schemaBytes} bytes), timed by test/interop/modern/tfhost (go-plugin v1.8, AutoMTLS, as Terraform); ${REPS} launches; bare = spawn of \`node -e\` to its first stdout byte, in the same loop.`,
);

console.log('\nTerraform provider start-up (ms, median of %d)', REPS);
console.log(
  `  TypeScript example provider: ${fmtNum(rows[0].value)} ms; bare node -e: ${fmtNum(summarize(ts.bare).median)} ms; ratio ${rows[0].ratio.toFixed(2)}x (goal <= ${TARGET}x)`,
);
for (const r of rows.slice(1)) {
  if (r.ratio !== undefined) console.log(`  ${r.name.trim()}: ${fmtNum(r.value)} ms; ratio ${r.ratio.toFixed(2)}x`);
  else console.log(`  ${r.name.trim()}: ${fmtNum(r.value)} ms`);
}
console.log(JSON.stringify({ rows, notes }));
