/**
 * The real terraform-provider-time (HashiCorp's, v0.14.2: terraform-plugin-framework over
 * tfplugin5), launched with plugsock's startPlugin as Terraform launches it (its magic cookie,
 * protocol version 5), called over grpc-js with plugsock/terraform's protocol 5 definition, every
 * value through plugsock's cty codec: the schema, validation, configure, a plan that leaves the
 * timestamp unknown, and an apply that fills it in. With AutoMTLS (as Terraform runs providers)
 * and without; nothing (process, socket, directory, fd) is left behind.
 * The provider: test/interop/build-tfprovider-time.sh (Go and the module proxy the first time).
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect } from 'vitest';
import { startPlugin } from '../../src/goplugin/launch';
import type { PluginProcess } from '../../src/goplugin/plugin-process';
import { type CtyType, type CtyValue, ctyTypeFromJson, decodeDynamicValue, isUnknown, toDynamicValue } from '../../src/terraform/cty';
import { TERRAFORM_MAGIC_COOKIE_KEY, TERRAFORM_MAGIC_COOKIE_VALUE, terraformProtocol } from '../../src/terraform/protocol';
import { fdCountSettles, openFdCount, pidExists as alive, scratchDirs } from '../kit';
import { itWithPeers } from './peers';

const grpc: typeof import('@grpc/grpc-js') = createRequire(__filename)('@grpc/grpc-js');

function build(): { ok: true; exe: string } | { ok: false; reason: string } {
  const r = spawnSync('bash', [join(__dirname, 'build-tfprovider-time.sh')], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) return { ok: false, reason: (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').slice(-3).join(' | ') };
  return { ok: true, exe: r.stdout.trim().split('\n').pop()! };
}
const provider = build();
const scratch = scratchDirs('plugsock-tftime-').make;

const tf5 = terraformProtocol(5);
const Provider = grpc.makeGenericClientConstructor(tf5.provider, 'Provider');

/** One unary call, bounded. */
function call<T = any>(client: any, method: string, request: object): Promise<T> {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + 20_000 }, (err: Error | null, res: T) => (err ? reject(err) : resolve(res)));
  });
}

/** A schema block's cty type, as Terraform derives it (attributes, and nested blocks by nesting mode). */
function blockType(block: any): CtyType {
  const attrs: Record<string, CtyType> = {};
  for (const a of block.attributes) attrs[a.name] = ctyTypeFromJson(a.type);
  for (const b of block.block_types) {
    const inner = blockType(b.block);
    // NestingMode: SINGLE=1, LIST=2, SET=3, MAP=4, GROUP=5
    attrs[b.type_name] = b.nesting === 1 || b.nesting === 5 ? inner : [(['list', 'list', 'set', 'map'] as const)[b.nesting - 1]!, inner];
  }
  return ['object', attrs];
}

/** No ERROR (or any) diagnostics: their summaries, if any, make the failure readable. */
function expectNoDiagnostics(res: { diagnostics: { severity: number; summary: string; detail: string }[] }): void {
  expect(res.diagnostics.map((d) => `${d.severity}: ${d.summary}: ${d.detail}`)).toEqual([]);
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

async function driveTimeStatic(p: PluginProcess): Promise<void> {
  // On the plugin's shared channel: not closed here (that would close the channel), kill() does.
  const client = p.client(Provider);
  // GetSchema (protocol 5's GetProviderSchema): time_static's attributes, their types as cty JSON.
  const schema = await call(client, 'GetSchema', {});
  expectNoDiagnostics(schema);
  const staticSchema = schema.resource_schemas.time_static;
  expect(staticSchema, 'time_static in resource_schemas').toBeDefined();
  const attrs = Object.fromEntries(staticSchema.block.attributes.map((a: any) => [a.name, a]));
  expect(Object.keys(attrs).sort()).toEqual(['day', 'hour', 'id', 'minute', 'month', 'rfc3339', 'second', 'triggers', 'unix', 'year']);
  expect(attrs.rfc3339).toMatchObject({ computed: true, optional: true, required: false });
  expect(ctyTypeFromJson(attrs.rfc3339.type)).toBe('string');
  expect(attrs.id).toMatchObject({ computed: true, optional: false });
  expect(ctyTypeFromJson(attrs.triggers.type)).toEqual(['map', 'string']);
  expect(ctyTypeFromJson(attrs.unix.type)).toBe('number');
  const type = blockType(staticSchema.block);
  const providerType = blockType(schema.provider.block);

  // Provider config: validated (PrepareProviderConfig), then Configure.
  const providerConfig = toDynamicValue({}, providerType);
  expectNoDiagnostics(await call(client, 'PrepareProviderConfig', { config: providerConfig }));
  expectNoDiagnostics(await call(client, 'Configure', { terraform_version: '1.11.4', config: providerConfig }));

  // The configuration `resource "time_static" "t" {}`: every attribute null.
  const config: Record<string, CtyValue> = Object.fromEntries(Object.keys(attrs).map((a) => [a, null]));
  expectNoDiagnostics(await call(client, 'ValidateResourceTypeConfig', { type_name: 'time_static', config: toDynamicValue(config, type) }));
  // And one the provider refuses: the diagnostic names the attribute.
  const bad = await call(client, 'ValidateResourceTypeConfig', { type_name: 'time_static', config: toDynamicValue({ ...config, rfc3339: 'yesterday' }, type) });
  expect(bad.diagnostics.length).toBeGreaterThan(0);
  expect(bad.diagnostics[0]).toMatchObject({ severity: 1 });
  expect(bad.diagnostics[0].attribute.steps).toEqual([{ attribute_name: 'rfc3339' }]);

  // Plan a create: the timestamp is "known after apply".
  const plan = await call(client, 'PlanResourceChange', {
    type_name: 'time_static',
    prior_state: toDynamicValue(null, type),
    proposed_new_state: toDynamicValue(config, type),
    config: toDynamicValue(config, type),
  });
  expectNoDiagnostics(plan);
  const planned = decodeDynamicValue(plan.planned_state, type) as Record<string, CtyValue>;
  for (const a of ['rfc3339', 'id', 'year', 'unix']) expect(isUnknown(planned[a]), `planned ${a} is unknown`).toBe(true);
  expect(planned.triggers).toBeNull();

  // Apply it (the planned state re-encoded by our codec, unknowns and all).
  const before = Date.now();
  const applied = await call(client, 'ApplyResourceChange', {
    type_name: 'time_static',
    prior_state: toDynamicValue(null, type),
    planned_state: toDynamicValue(planned, type),
    config: toDynamicValue(config, type),
    planned_private: plan.planned_private,
  });
  expectNoDiagnostics(applied);
  const state = decodeDynamicValue(applied.new_state, type) as Record<string, any>;
  expect(state.rfc3339).toMatch(RFC3339);
  const at = Date.parse(state.rfc3339);
  expect(at).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 1000);
  expect(at).toBeLessThanOrEqual(Date.now() + 1000);
  expect(state.id).toBe(state.rfc3339);
  expect(state.unix).toBe(at / 1000);
  const d = new Date(at);
  expect([state.year, state.month, state.day, state.hour, state.minute, state.second]).toEqual([
    d.getUTCFullYear(),
    d.getUTCMonth() + 1,
    d.getUTCDate(),
    d.getUTCHours(),
    d.getUTCMinutes(),
    d.getUTCSeconds(),
  ]);

  // Stop (protocol 5's StopProvider): answered, no error.
  expect(await call(client, 'Stop', {})).toEqual({ Error: '' });
}

describe('terraform-provider-time v0.14.2 (the real provider) under startPlugin', () => {
  for (const autoMTLS of [true, false]) {
    const how = autoMTLS ? 'with AutoMTLS (as Terraform runs it)' : 'without AutoMTLS';
    itWithPeers(
      provider,
      'terraform-provider-time (test/interop/build-tfprovider-time.sh)',
      `${how}: schema, validate, configure, plan (rfc3339 unknown), apply (a real timestamp); then nothing is left`,
      async () => {
        const fdsBefore = openFdCount();
        const tmp = scratch(); // the provider's TMPDIR: it must leave nothing there either
        const stderr: Buffer[] = [];
        const p = await startPlugin({
          command: (provider as { exe: string }).exe,
          env: { ...process.env, TMPDIR: tmp, TF_LOG: undefined, TF_LOG_PROVIDER: undefined },
          magicCookieKey: TERRAFORM_MAGIC_COOKIE_KEY,
          magicCookieValue: TERRAFORM_MAGIC_COOKIE_VALUE,
          versions: [5],
          autoMTLS,
          onStderr: (c) => stderr.push(c),
        });
        const socketDir = dirname(p.address);
        try {
          expect(p.appVersion).toBe(5);
          expect(p.tls).toBe(autoMTLS);
          expect(Boolean(p.handshake.serverCert)).toBe(autoMTLS);
          await p.ping();
          await driveTimeStatic(p);
        } catch (err) {
          (err as Error).message += `\nprovider stderr: ${Buffer.concat(stderr).toString().slice(-2000)}`;
          throw err;
        } finally {
          await p.kill();
        }
        expect(await p.exited).toEqual({ code: 0, signal: null }); // go-plugin's Shutdown RPC ended it
        expect(alive(p.pid)).toBe(false);
        expect(existsSync(p.address)).toBe(false);
        expect(existsSync(socketDir)).toBe(false);
        expect(readdirSync(tmp)).toEqual([]);
        expect(await fdCountSettles(fdsBefore)).toBe(fdsBefore);
      },
      60_000,
    );
  }
});
