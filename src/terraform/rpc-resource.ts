/**
 * The managed resource RPCs: validate, upgrade stored state, read (refresh), plan, apply
 * (create, update, delete) and import. Values cross as cty DynamicValues (cty.ts); a hook's
 * error becomes an ERROR diagnostic, and the state Terraform records after it is what exists:
 * nothing after a failed create, the prior state after a failed update or delete.
 */
import { type CtyValue, decodeDynamicValue, decodeJsonValue, toDynamicValue } from './cty';
import type { CompiledResource } from './compile';
import type { PlanContext } from './definition';
import { Diagnostics, ProviderError } from './diagnostics';
import { completeObject, defaultPlan, firstUnknown, replacedAttributes, withoutWriteOnly } from './planning';
import { type Handler, type Message, type ProviderRuntime, blockValue, lookup } from './runtime';
import { fitToSchema, parseRawState } from './upgrade';

type Obj = { [k: string]: CtyValue };

const asObject = (v: CtyValue): Obj | null => (v === null ? null : (v as Obj));

/** The resource RPC handlers, by their protocol 6 names. */
export function resourceHandlers(rt: ProviderRuntime): Record<string, Handler> {
  const find = (typeName: string, diags: Diagnostics) => lookup(rt.compiled.resources, typeName, 'resource', diags);

  return {
    async ValidateResourceConfig(req: Message) {
      const diags = new Diagnostics();
      const r = find(req.type_name, diags);
      if (r?.def.validate) await rt.run('ValidateResourceConfig', diags, () => r.def.validate!(blockValue(req.config, r.type), rt.context(diags)));
      return { diagnostics: diags.list };
    },

    async UpgradeResourceState(req: Message) {
      const diags = new Diagnostics();
      const r = find(req.type_name, diags);
      if (!r) return { diagnostics: diags.list };
      const value = await rt.run('UpgradeResourceState', diags, () => upgrade(rt, r, Number(req.version), req.raw_state?.json, diags));
      return value === undefined ? { diagnostics: diags.list } : { upgraded_state: toDynamicValue(value, r.type), diagnostics: diags.list };
    },

    async ReadResource(req: Message) {
      const diags = new Diagnostics();
      const r = find(req.type_name, diags);
      if (!r) return { diagnostics: diags.list };
      const current = asObject(decodeDynamicValue(req.current_state, r.type));
      let next: Obj | null = current;
      if (current !== null) {
        const got = await rt.run('ReadResource', diags, () => r.def.read(current, rt.resourceContext(diags, req.type_name)));
        if (got === null) next = null;
        else if (got !== undefined && !diags.hasErrors) next = withoutWriteOnly(r.schema, completeObject(r.schema, got, current));
      }
      return { new_state: toDynamicValue(next, r.type), diagnostics: diags.list, private: req.private };
    },

    async PlanResourceChange(req: Message) {
      const diags = new Diagnostics();
      const r = find(req.type_name, diags);
      if (!r) return { diagnostics: diags.list };
      const planned = await rt.run('PlanResourceChange', diags, () => plan(rt, r, req, diags));
      if (planned === undefined || diags.hasErrors) return { diagnostics: diags.list };
      return {
        planned_state: toDynamicValue(planned.state, r.type),
        requires_replace: planned.replace.map((steps) => ({ steps })),
        planned_private: req.prior_private,
        diagnostics: diags.list,
      };
    },

    async ApplyResourceChange(req: Message) {
      const diags = new Diagnostics();
      const r = find(req.type_name, diags);
      if (!r) return { diagnostics: diags.list };
      const prior = asObject(decodeDynamicValue(req.prior_state, r.type));
      const next = await rt.run('ApplyResourceChange', diags, () => apply(rt, r, req, prior, diags));
      // A failed apply leaves what exists: nothing after a create, the prior state otherwise.
      const state = next === undefined || diags.hasErrors ? prior : next;
      return { new_state: toDynamicValue(state, r.type), private: req.planned_private, diagnostics: diags.list };
    },

    async ImportResourceState(req: Message) {
      const diags = new Diagnostics();
      const r = find(req.type_name, diags);
      if (!r) return { diagnostics: diags.list };
      if (!r.def.importState) {
        diags.error('Resource Import Not Implemented', { detail: `This resource type (${req.type_name}) does not support import.` });
        return { diagnostics: diags.list };
      }
      const got = await rt.run('ImportResourceState', diags, () => r.def.importState!(req.id, rt.resourceContext(diags, req.type_name)));
      if (got === undefined || diags.hasErrors) return { diagnostics: diags.list };
      const state = completeObject(r.schema, got, null);
      return { imported_resources: [{ type_name: req.type_name, state: toDynamicValue(state, r.type), private: Buffer.alloc(0) }], diagnostics: diags.list };
    },
  };
}

/** A stored state in the current schema: the hook's conversion of an older version, or the JSON read as is. */
async function upgrade(rt: ProviderRuntime, r: CompiledResource, version: number, json: Buffer | undefined, diags: Diagnostics): Promise<CtyValue> {
  const raw = parseRawState(json);
  if (version > r.version) {
    throw new ProviderError('Resource state is newer than the provider', {
      detail: `The state was written under schema version ${version}; this provider knows version ${r.version}. Use the provider version that wrote it, or a newer one.`,
    });
  }
  if (version < r.version && r.def.upgradeState) {
    const got = await r.def.upgradeState(raw, version, rt.context(diags));
    return completeObject(r.schema, got, null);
  }
  return decodeJsonValue(Buffer.from(JSON.stringify(fitToSchema(r.schema, raw))), r.type);
}

/** The plan of a create, update or destroy, with the paths whose change replaces the resource. */
async function plan(rt: ProviderRuntime, r: CompiledResource, req: Message, diags: Diagnostics): Promise<{ state: Obj | null; replace: object[][] }> {
  const proposed = asObject(decodeDynamicValue(req.proposed_new_state, r.type));
  if (proposed === null) return { state: null, replace: [] }; // destroy
  const prior = asObject(decodeDynamicValue(req.prior_state, r.type));
  const config = decodeDynamicValue(req.config, r.type);
  let planned = withoutWriteOnly(r.schema, defaultPlan(r.schema, prior, proposed, config));
  const replace: object[][] = [];
  if (prior !== null) for (const name of replacedAttributes(r.schema, prior, planned, r.def.update !== undefined)) replace.push([{ attribute_name: name }]);
  if (r.def.plan) {
    const ctx: PlanContext<unknown> = {
      ...rt.resourceContext(diags, req.type_name),
      requiresReplace: (path) => {
        const steps = typeof path === 'string' ? [path] : path;
        replace.push(
          steps.map((s) => (typeof s === 'string' ? { attribute_name: s } : typeof s === 'number' ? { element_key_int: s } : { element_key_string: s.key })),
        );
      },
    };
    const got = await r.def.plan({ prior, config: config as any, planned }, ctx);
    if (got) planned = withoutWriteOnly(r.schema, completeObject(r.schema, got, planned));
  }
  return { state: planned, replace };
}

/** Create, update or delete; the new state (null once deleted). */
async function apply(rt: ProviderRuntime, r: CompiledResource, req: Message, prior: Obj | null, diags: Diagnostics): Promise<Obj | null> {
  const planned = asObject(decodeDynamicValue(req.planned_state, r.type));
  const ctx = rt.resourceContext(diags, req.type_name);
  if (planned === null) {
    if (prior !== null) await r.def.delete(prior, ctx);
    return null;
  }
  // Write-only values are never planned or stored: the hooks get them from the configuration.
  const config = asObject(decodeDynamicValue(req.config, r.type)) ?? {};
  const input: Obj = { ...planned };
  for (const [name, a] of Object.entries(r.schema.attributes ?? {})) if (a.writeOnly) input[name] = config[name] ?? null;
  let got: unknown;
  if (prior === null) got = await r.def.create(input, ctx);
  else if (r.def.update) got = await r.def.update(input, prior, ctx);
  else throw new ProviderError('Resource cannot be updated in place', { detail: `${req.type_name} has no update; this plan should have replaced it.` });
  const next = completeObject(r.schema, (got ?? {}) as object, planned);
  const left = firstUnknown(next);
  if (left !== null) {
    throw new ProviderError('Provider returned an unknown value after apply', {
      detail: `${req.type_name}: ${left || 'the state'} is still unknown after ${prior === null ? 'create' : 'update'}; it must return a value for every computed attribute it did not plan.`,
      ...(left && !left.includes('[') && !left.includes('.') ? { attribute: left } : {}),
    });
  }
  return withoutWriteOnly(r.schema, next);
}
