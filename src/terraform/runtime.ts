/**
 * A served provider's state between RPCs: what `configure` returned, and the stop signal
 * (StopProvider aborts the operations running then; later ones get a fresh signal, as
 * terraform-plugin-go does). Also what every RPC handler shares: contexts, diagnostics, the
 * lookup of a type name, and the log line for errors a provider did not mean to throw.
 */
import { type PluginLogger, createPluginLogger } from '../goplugin/log';
import type { CompiledBlock, CompiledProvider } from './compile';
import { type CtyType, type DynamicValue, decodeDynamicValue } from './cty';
import type { Context, ResourceContext } from './definition';
import { type DiagnosticMessage, Diagnostics, ProviderError } from './diagnostics';

/** A tfplugin request or response message (decoded by protocol.ts: .proto field names). */
export type Message = Record<string, any>;
/** One RPC's handler: request message in, response message out. */
export type Handler = (request: Message) => Promise<Message>;

export class ProviderRuntime {
  /** What `configure` returned (undefined until ConfigureProvider). */
  providerData: unknown = undefined;
  /** The provider's log (hclog JSON lines on stderr, which Terraform logs: TF_LOG_PROVIDER). */
  readonly log: PluginLogger = createPluginLogger({ name: 'provider' });
  #stop = new AbortController();

  constructor(readonly compiled: CompiledProvider) {}

  /** StopProvider: aborts what runs now. */
  stop(): void {
    const c = this.#stop;
    this.#stop = new AbortController();
    c.abort(new ProviderError('Terraform asked the provider to stop (interrupted)'));
  }

  context(diags: Diagnostics): Context {
    return {
      signal: this.#stop.signal,
      log: this.log,
      warn: (summary, options) => diags.warn(summary, options),
      error: (summary, options) => diags.error(summary, options),
    };
  }

  resourceContext(diags: Diagnostics, typeName: string): ResourceContext<unknown> {
    return { ...this.context(diags), provider: this.providerData, typeName };
  }

  /**
   * Runs a hook: its thrown error becomes an ERROR diagnostic (and, unless it is a
   * ProviderError, its stack goes to the log). Returns undefined when it threw.
   */
  async run<T>(rpc: string, diags: Diagnostics, hook: () => T | Promise<T>): Promise<T | undefined> {
    try {
      return await hook();
    } catch (err) {
      diags.thrown(err);
      if (!(err instanceof ProviderError)) this.log.error(`${rpc} failed`, { error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
      return undefined;
    }
  }
}

/** A type name's compiled resource or data source, or an ERROR diagnostic naming what exists. */
export function lookup<T extends CompiledBlock>(map: ReadonlyMap<string, T>, typeName: string, kind: string, diags: Diagnostics): T | undefined {
  const found = map.get(typeName);
  if (!found) {
    const known = [...map.keys()];
    diags.error(`${kind} type not found`, {
      detail: `This provider has no ${kind} type ${JSON.stringify(typeName)}` + (known.length ? `; it has ${known.join(', ')}.` : '.'),
    });
  }
  return found;
}

/** The ERROR diagnostic terraform-plugin-go answers RPCs with that a provider does not implement. */
export function notImplemented(rpc: string): DiagnosticMessage[] {
  const d = new Diagnostics();
  d.error(`Provider ${rpc} Not Implemented`, {
    detail: `A ${rpc} call was received by the provider, however the provider does not implement the call. This is a bug in the provider or in Terraform.`,
  });
  return d.list;
}

/**
 * A block's value (configuration, state) for a hook, typed as the hook's schema says (the
 * decoder checked it against the block's type); null only where Terraform sent none.
 */
export function blockValue(dv: DynamicValue | null | undefined, type: CtyType): any {
  return decodeDynamicValue(dv, type);
}
