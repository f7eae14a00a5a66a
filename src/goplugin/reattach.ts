/**
 * go-plugin's ReattachConfig: how a host reaches a plugin it did not launch (a plugin served in
 * debug mode, started by hand or under a debugger), in the JSON shape Terraform's
 * TF_REATTACH_PROVIDERS and terraform-plugin-go's debug mode use:
 * `{"Protocol":"grpc","ProtocolVersion":5,"Pid":123,"Test":true,"Addr":{"Network":"unix","String":"/tmp/plugin1"}}`.
 */
import { ErrorCodes, TransportError } from '../errors';
import { checkOptionKeys, optionKeys } from '../options';
import { addressProblem, type RpcProtocol } from './handshake';

/** Where a running plugin serves, and who it is. JSON-ready (go-plugin's field names). */
export interface ReattachConfig {
  /** `grpc` (plugsock speaks no `netrpc`). */
  Protocol: RpcProtocol;
  /** The app protocol version the plugin serves. */
  ProtocolVersion: number;
  /** The plugin's process id: the process that must serve `Addr`. */
  Pid: number;
  /**
   * go-plugin's "test mode": the plugin ends itself, so a host's kill() must neither stop nor
   * signal it (go-plugin's Kill() then does nothing). True for plugins served with `debug: true`.
   */
  Test?: boolean;
  /** The socket: `{ Network: 'unix', String: '/abs/path' }` (go's net.Addr). */
  Addr: {
    /** `unix` (a `tcp` config parses, but attachPlugin refuses it). */
    Network: 'unix' | 'tcp';
    /** The socket path (unix) or host:port (tcp). */
    String: string;
  };
}

const CONFIG_KEYS = optionKeys<ReattachConfig>({ Protocol: true, ProtocolVersion: true, Pid: true, Test: true, Addr: true });
const ADDR_KEYS = optionKeys<ReattachConfig['Addr']>({ Network: true, String: true });

function bad(label: string, message: string): TransportError {
  return new TransportError(ErrorCodes.INVALID_OPTION, `${label}: ${message}.`);
}

/**
 * Checks a reattach config strictly (unknown keys are errors: a misspelt `pid` must not pass as
 * "no pid") and returns a clean copy. Protocol and network are only checked for shape here: a
 * `netrpc` or `tcp` config is valid go-plugin, refused by attachPlugin with its own code.
 */
export function checkReattachConfig(config: unknown, label = 'reattach config'): ReattachConfig {
  checkOptionKeys(config, CONFIG_KEYS, label);
  const c = config as ReattachConfig;
  if (c.Protocol !== 'grpc' && c.Protocol !== 'netrpc') throw bad(label, `Protocol must be "grpc" or "netrpc", got ${JSON.stringify(c.Protocol)}`);
  if (!Number.isSafeInteger(c.ProtocolVersion) || c.ProtocolVersion < 0) {
    throw bad(label, `ProtocolVersion must be a non-negative integer, got ${JSON.stringify(c.ProtocolVersion)}`);
  }
  if (!Number.isSafeInteger(c.Pid) || c.Pid <= 0) throw bad(label, `Pid must be a positive integer (the plugin's process id), got ${JSON.stringify(c.Pid)}`);
  if (c.Test !== undefined && typeof c.Test !== 'boolean') throw bad(label, `Test must be a boolean, got ${JSON.stringify(c.Test)}`);
  checkOptionKeys(c.Addr, ADDR_KEYS, `${label}.Addr`);
  const { Network, String: address } = c.Addr;
  if (Network !== 'unix' && Network !== 'tcp') throw bad(label, `Addr.Network must be "unix" or "tcp", got ${JSON.stringify(Network)}`);
  const problem = typeof address === 'string' ? addressProblem(Network, address) : `Addr.String must be a string, got ${typeof address}`;
  if (problem !== null) throw bad(label, problem);
  return { Protocol: c.Protocol, ProtocolVersion: c.ProtocolVersion, Pid: c.Pid, Test: c.Test ?? false, Addr: { Network, String: address } };
}

/**
 * The value of Terraform's TF_REATTACH_PROVIDERS for the given providers (provider source
 * address, e.g. `registry.terraform.io/example/x`, to the plugin's reattach config), as
 * terraform-plugin-go's debug mode prints it. Throws ERR_INVALID_OPTION for an invalid config or
 * an empty address.
 */
export function reattachEnv(providers: Record<string, ReattachConfig>): string {
  checkRecord(providers, 'reattachEnv');
  const out: Record<string, ReattachConfig> = {};
  for (const [address, config] of Object.entries(providers)) {
    if (address.trim() === '') throw bad('reattachEnv', 'a provider address is empty');
    out[address] = checkReattachConfig(config, `reattachEnv[${JSON.stringify(address)}]`);
  }
  return JSON.stringify(out);
}

/** Parses a TF_REATTACH_PROVIDERS value (see reattachEnv); each config is checked strictly. */
export function parseReattachEnv(value: string): Record<string, ReattachConfig> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    throw bad('TF_REATTACH_PROVIDERS', `not JSON (${(err as Error).message})`);
  }
  checkRecord(parsed, 'TF_REATTACH_PROVIDERS');
  const out: Record<string, ReattachConfig> = {};
  for (const [address, config] of Object.entries(parsed as object))
    out[address] = checkReattachConfig(config, `TF_REATTACH_PROVIDERS[${JSON.stringify(address)}]`);
  return out;
}

function checkRecord(v: unknown, label: string): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(label, 'expected an object of provider address -> reattach config');
}
